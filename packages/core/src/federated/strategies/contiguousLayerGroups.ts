/**
 * FedPruner's macro level (functionality-driven layer orchestration): cut the chain of decoder
 * layers into K contiguous groups of functionally similar layers, from a layer-similarity matrix
 * (linear CKA between layer outputs on calibration data, see layerSimilarity.ts).
 *
 * The paper partitions the similarity graph; it does not publish the objective. Ours: minimise the
 * total within-group dissimilarity Σ_g Σ_{i<j∈g} (1 − sim_ij) / |g| (the normalised-cut-like
 * "spread" of each group), exactly, by dynamic programming over the chain (O(K·L²) segments).
 * Contiguity keeps each group a stretch of the residual stream that one kept layer can stand in for.
 */

export class LayerGroupingError extends Error {
  override name = 'LayerGroupingError';
}

/** K contiguous groups of layer indices 0..L−1 (each ascending, groups in order). */
export function contiguousLayerGroups(similarity: readonly (readonly number[])[], k: number): number[][] {
  const L = similarity.length;
  if (L === 0) throw new LayerGroupingError('layer grouping needs at least one layer');
  for (const row of similarity) if (row.length !== L) throw new LayerGroupingError(`layer similarity must be ${L}×${L}`);
  if (!Number.isInteger(k) || k < 1 || k > L) throw new LayerGroupingError(`layer grouping: K must be an integer in 1..${L}, got ${k}`);
  // NaN similarity (a layer with no variance) counts as fully dissimilar.
  const d = (i: number, j: number) => 1 - (Number.isFinite(similarity[i][j]) ? similarity[i][j] : 0);
  // cost[a][b]: spread of segment a..b inclusive.
  const cost: number[][] = Array.from({ length: L }, () => new Array<number>(L).fill(0));
  for (let a = 0; a < L; a++) {
    let sum = 0;
    for (let b = a; b < L; b++) {
      for (let i = a; i < b; i++) sum += d(i, b);
      cost[a][b] = sum / (b - a + 1);
    }
  }
  // best[g][e]: min cost of cutting layers 0..e−1 into g groups; from[g][e]: start of the last group.
  const best = Array.from({ length: k + 1 }, () => new Array<number>(L + 1).fill(Infinity));
  const from = Array.from({ length: k + 1 }, () => new Array<number>(L + 1).fill(-1));
  best[0][0] = 0;
  for (let g = 1; g <= k; g++) {
    for (let e = g; e <= L - (k - g); e++) {
      for (let s = g - 1; s < e; s++) {
        const v = best[g - 1][s] + cost[s][e - 1];
        // Ties go to the earlier cut, so the result is deterministic.
        if (v < best[g][e] - 1e-12) {
          best[g][e] = v;
          from[g][e] = s;
        }
      }
    }
  }
  const groups: number[][] = [];
  for (let g = k, e = L; g > 0; g--) {
    const s = from[g][e];
    groups.unshift(Array.from({ length: e - s }, (_, i) => s + i));
    e = s;
  }
  return groups;
}
