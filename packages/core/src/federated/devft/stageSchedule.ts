/**
 * DevFT's developmental schedule (Wu et al., arXiv 2508.00041): training runs in stages whose
 * submodel depth doubles, ending at the full model (the paper: 4 stages of {4, 8, 16, 32} layers for
 * 7B/8B models, and reports that growing faster than 2x per stage hurts).
 */

/**
 * Stage depths for a model of `numLayers` layers and `stages` stages:
 * depth_s = ceil(numLayers / 2^(stages-1-s)) for s = 0..stages-1, so the last stage is the full model
 * and each stage at most doubles the previous one (32, 4 -> [4, 8, 16, 32]; 6, 3 -> [2, 3, 6]).
 * The paper only states the power-of-two case; ceil is our extension to other depths (it never
 * grows faster than 2x, which the paper found harmful). When there are more stages than doublings
 * (2 layers, 4 stages gives 1, 1, 1, 2) repeated depths are dropped, so the result is strictly
 * increasing, every depth >= 1, and it may hold fewer than `stages` entries.
 */
export function devftStageDepths(numLayers: number, stages: number): number[] {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`devftStageDepths: numLayers must be a positive integer, got ${numLayers}`);
  if (!Number.isInteger(stages) || stages < 1) throw new Error(`devftStageDepths: stages must be a positive integer, got ${stages}`);
  const out: number[] = [];
  for (let s = 0; s < stages; s++) {
    const d = Math.max(1, Math.ceil(numLayers / 2 ** (stages - 1 - s)));
    if (out.length === 0 || d > out[out.length - 1]) out.push(d);
  }
  return out;
}

/**
 * Federated rounds per stage: an equal split, the remainder going to the last (full-depth) stage.
 * The paper does not publish its per-stage round counts; equal split is the simplest choice, and the
 * leftovers go last because the full model is the one that is finally evaluated. Every stage gets at
 * least one round, so totalRounds must be at least the number of stages (depths.length).
 */
export function roundsPerStage(totalRounds: number, depths: readonly number[]): number[] {
  const S = depths.length;
  if (S === 0) throw new Error('roundsPerStage: no stages');
  if (!Number.isInteger(totalRounds) || totalRounds < S) {
    throw new Error(`roundsPerStage: ${totalRounds} rounds cannot give each of ${S} stages at least one round`);
  }
  const base = Math.floor(totalRounds / S);
  const out = new Array<number>(S).fill(base);
  out[S - 1] += totalRounds - base * S;
  return out;
}
