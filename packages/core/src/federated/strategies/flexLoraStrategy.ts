/**
 * FlexLoRA (Bai et al., NeurIPS'24) as the heterogeneous-rank baseline: every tab trains the full
 * depth, at the largest LoRA rank (r_max, r_max/2, ..., 1) its budget holds; the coordinator averages
 * the products B_k·A_k exactly and re-factors them at r_max by SVD ('svd-product'), and a tab of rank
 * r_k starts from the top r_k singular directions of the global update (A's rows come out of the SVD
 * sorted by singular value, so truncation is the best rank-r_k approximation).
 * α/r scaling: a tab of rank r_k uses α·r_k/r_max, so its scale α/r equals the global one and the
 * products of different ranks are comparable (the FLoRA users' zero-padding confusion).
 * At this project's model scale activations and frozen weights, not LoRA, dominate a session's
 * memory, so lowering the rank barely shrinks it: tabs that cannot hold the full depth at rank 1
 * cannot take part (reported, not hidden).
 */
import { type LayerLora, type LoraAdapter, type LoraTarget } from '../../model/lora';
import { fullPlan } from '../../model/submodelPlan';
import { tensor } from '../../model/tensor';
import { aggregateLayerwise } from '../aggregateLayerwise';
import {
  seededGlobalAdapter, type ClientOffer, type FederatedStrategy, type StrategyAssignment, type StrategyEnv, type StrategyState,
  type StrategyUpdate,
} from './federatedStrategy';
import { planPeakBytes } from '../submodelPlanner';

export class FlexLoraStrategy implements FederatedStrategy {
  readonly name = 'flexlora' as const;

  constructor(private readonly env: StrategyEnv) {}

  initialGlobal(): LoraAdapter {
    return seededGlobalAdapter(this.env);
  }

  /** The ranks tried, largest first. */
  ranks(): number[] {
    const out: number[] = [];
    for (let r = this.env.lora.rank; r >= 1; r = Math.floor(r / 2)) out.push(r);
    return out;
  }

  configureRound(_round: number, global: LoraAdapter, clients: readonly ClientOffer[]): StrategyAssignment[] {
    const plan = fullPlan(this.env.config);
    const base = { key: 'base', config: this.env.config, weights: this.env.weights, weightFormat: this.env.weightFormat ?? 'f32' };
    return clients.map((client): StrategyAssignment => {
      for (const r of this.ranks()) {
        const lora = { ...this.env.lora, rank: r, alpha: (this.env.lora.alpha * r) / this.env.lora.rank };
        const need = planPeakBytes({ ...this.env, lora }, plan);
        if (need <= client.budgetBytes) return { ...client, model: base, plan, adapter: truncateRank(global, r, lora.alpha), estimateBytes: need };
      }
      const min = planPeakBytes({ ...this.env, lora: { ...this.env.lora, rank: 1 } }, plan);
      return { ...client, excluded: `the full depth at rank 1 needs ${min} B`, minBytes: min };
    });
  }

  /** FlexLoRA's rule is the SVD of the mean product unless the run names another. */
  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter {
    if (updates.length === 0) return global;
    const R = this.env.lora.rank;
    return aggregateLayerwise(global, updates.map((u) => ({
      clientId: u.task.clientId, adapter: padRank(u.adapter, R, this.env.lora.alpha), plan: u.task.plan, numSamples: u.numSamples,
    })), { rule: this.env.aggregation ?? 'svd-product', model: this.env.config });
  }

  snapshot(): StrategyState {
    return null;
  }

  restore(): void {}

  describe(): string {
    return `flexlora ranks ${this.ranks().join('/')}`;
  }
}

/** The first r rows of A and columns of B of every pair, with the given α. */
export function truncateRank(a: LoraAdapter, r: number, alpha: number): LoraAdapter {
  return mapPairs(a, r, alpha, (src, dst, R) => {
    for (let i = 0; i < src.A.shape[1] * r; i++) dst.A.data[i] = src.A.data[i];
    const out = src.B.shape[0];
    for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) dst.B.data[o * r + j] = src.B.data[o * R + j];
  });
}

/** Zero-padded to rank R with α: B·A and the scale α/r are unchanged (α was scaled with r). */
export function padRank(a: LoraAdapter, R: number, alpha: number): LoraAdapter {
  const r = a.config.rank;
  return mapPairs(a, R, alpha, (src, dst) => {
    dst.A.data.set(src.A.data);
    const out = src.B.shape[0];
    for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) dst.B.data[o * R + j] = src.B.data[o * r + j];
  });
}

function mapPairs(
  a: LoraAdapter, rank: number, alpha: number,
  fill: (src: { A: { shape: number[]; data: Float32Array }; B: { shape: number[]; data: Float32Array } }, dst: { A: { data: Float32Array }; B: { data: Float32Array } }, srcRank: number) => void,
): LoraAdapter {
  const layers = new Map<number, LayerLora>();
  for (const [i, l] of a.layers) {
    const out: LayerLora = {};
    for (const [t, p] of Object.entries(l) as [LoraTarget, NonNullable<LayerLora[LoraTarget]>][]) {
      const A = tensor([rank, p.A.shape[1]]), B = tensor([p.B.shape[0], rank]);
      fill(p, { A, B }, a.config.rank);
      out[t] = { A, B };
    }
    layers.set(i, out);
  }
  return { config: { ...a.config, rank, alpha, targets: [...a.config.targets] }, layers };
}
