/**
 * Which layers (or sub-blocks) a depth-reduced submodel keeps, for each strategy that differs only
 * in that choice. All return plans in full-model layer indices; how many units fit a budget is
 * decided by the caller (maxLayersForBudget in submodelPlanner.ts), so the strategies compare at equal memory.
 */
import type { SeededRandom } from '../../data/seededRandom';
import type { PlannedLayer, SubmodelPlan } from '../../model/submodelPlan';
import type { LayerImportance } from '../layerImportance';

/**
 * FedPruner's micro level (importance-aware layer selection): one layer per group, drawn with
 * probability ∝ max(importance, 0) + floor, the floor a quarter of the group's mean positive
 * importance (1 when all are 0). The paper samples by a per-layer "selection probability" it does
 * not define; the floor is our choice so every layer is trained over the rounds, while important
 * layers are trained most.
 */
export function sampleOnePerGroup(groups: readonly number[][], score: (layer: number) => number, rng: SeededRandom): number[] {
  return groups.map((g) => {
    const s = g.map((i) => Math.max(0, Number.isFinite(score(i)) ? score(i) : 0));
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    const floor = mean > 0 ? mean / 4 : 1;
    const w = s.map((x) => x + floor);
    let x = rng.next() * w.reduce((a, b) => a + b, 0), k = 0;
    while (k < g.length - 1 && x >= w[k]) x -= w[k++];
    return g[k];
  });
}

/** The most important layer of each group (FedSODA's similarity group pruning keeps the critical layer). */
export function mostImportantPerGroup(groups: readonly number[][], score: (layer: number) => number): number[] {
  return groups.map((g) => g.reduce((best, i) => (score(i) > score(best) ? i : best), g[0]));
}

/** K layers drawn uniformly at random (the "random layer dropping" baseline), redrawn every call. */
export function randomLayers(numLayers: number, k: number, rng: SeededRandom): number[] {
  return rng.shuffle([...Array(numLayers).keys()]).slice(0, k).sort((a, b) => a - b);
}

/** K layers evenly spaced over the depth, first layer included (every (L/K)-th layer: "uniform dropping"). */
export function uniformLayers(numLayers: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor((i * numLayers) / k));
}

/** The K layers with the highest loss-on-skip (static top-k; ties to the lower index). */
export function topKLayers(importance: readonly LayerImportance[], k: number): number[] {
  return [...importance].sort((a, b) => b.layer - a.layer || a.index - b.index).slice(0, k).map((x) => x.index).sort((a, b) => a - b);
}

/** A plan keeping attention sub-blocks of `attention` layers and MLP sub-blocks of `mlp` layers. */
export function planOfSubblocks(attention: readonly number[], mlp: readonly number[]): SubmodelPlan {
  const byIndex = new Map<number, PlannedLayer>();
  const get = (i: number) => byIndex.get(i) ?? (byIndex.set(i, { index: i, attention: false, mlp: false }), byIndex.get(i)!);
  for (const i of attention) get(i).attention = true;
  for (const i of mlp) get(i).mlp = true;
  return { layers: [...byIndex.values()].sort((a, b) => a.index - b.index) };
}
