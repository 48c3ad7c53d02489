/**
 * DGLG, DevFT's deconfliction-guided layer grouping (arXiv 2508.00041, §stage step 1): layers whose
 * parameters point the same way are grouped, layers with opposing parameters are kept apart, by
 * spectral clustering of the layer-similarity graph:
 *   W_ij = cos(θ_i, θ_j),  𝓛 = D − W,  eigenvectors of the k smallest eigenvalues of 𝓛 as rows,
 *   k-means with k clusters on those rows.
 * This relaxes the minimum-cut partition, so strongly similar layers end up together and the cut
 * runs through weak (or, after clipping, absent) edges between conflicting layers.
 */
import { mergeLoraIntoWeights } from '../../model/mergeLora';
import type { LoraAdapter } from '../../model/lora';
import type { LlamaWeights } from '../../model/llamaWeights';
import type { ModelConfig } from '../../model/modelConfig';
import { seededKMeans, type KMeansOptions } from './kMeans';
import { symmetricEigen } from './symmetricEigen';

/** The projection weights flattened into each layer's parameter vector, in this fixed order. */
const PROJECTIONS = ['qProj', 'kProj', 'vProj', 'oProj', 'gateProj', 'upProj', 'downProj'] as const;

/**
 * θ_i of every layer: its seven projection matrices flattened and concatenated; with `adapter`, each
 * adapted projection is W + (alpha/rank)·B·A (the paper builds the similarity "over flattened layer
 * parameters, including LoRA"). Norm gains and biases are left out (our choice): they are a
 * vanishing share of the parameters, and norm gains start as identical all-ones vectors that would
 * only pull every cosine towards the same value. Memory is one float32 copy of the layers, fine for
 * the coordinator-side models this project runs.
 */
export function layerParameterVectors(cfg: ModelConfig, weights: LlamaWeights, adapter?: LoraAdapter): Float32Array[] {
  const w = adapter ? mergeLoraIntoWeights(cfg, weights, adapter) : weights;
  return w.layers.map((l, i) => {
    if (!l) throw new Error(`layerParameterVectors: weights of layer ${i} are not loaded`);
    const n = PROJECTIONS.reduce((s, k) => s + l[k].data.length, 0);
    const v = new Float32Array(n);
    let off = 0;
    for (const k of PROJECTIONS) { v.set(l[k].data, off); off += l[k].data.length; }
    return v;
  });
}

/**
 * The graph's weights W (n×n row-major, float64): W_ij = max(0, cos(θ_i, θ_j)) for i ≠ j, W_ii = 0.
 * Negative cosines are clipped to 0 (our choice; the paper writes plain cos): with negative weights
 * D − W is no longer a graph Laplacian (it can be indefinite, and "smallest eigenvalues" would then
 * reward putting opposed layers together). Clipping keeps 𝓛 positive semi-definite, and opposed
 * layers get no edge at all, so the cheapest cut separates them: the deconfliction the paper wants.
 * The diagonal does not matter (self-loops cancel in D − W); a zero vector has cosine 0 with all.
 */
export function layerSimilarityGraph(vectors: readonly ArrayLike<number>[]): Float64Array {
  const n = vectors.length;
  const len = vectors[0]?.length ?? 0;
  vectors.forEach((v, i) => { if (v.length !== len) throw new Error(`layerSimilarityGraph: vector ${i} has ${v.length} values, vector 0 has ${len}`); });
  const norms = vectors.map((v) => { let s = 0; for (let i = 0; i < len; i++) s += v[i] * v[i]; return Math.sqrt(s); });
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    if (norms[i] === 0 || norms[j] === 0) continue;
    const a = vectors[i], b = vectors[j];
    let s = 0;
    for (let t = 0; t < len; t++) s += a[t] * b[t];
    W[i * n + j] = W[j * n + i] = Math.max(0, s / (norms[i] * norms[j]));
  }
  return W;
}

/**
 * Splits the n layers into exactly k groups by spectral clustering of their parameter vectors
 * (one per layer, e.g. from layerParameterVectors). Each group is sorted, the groups are ordered by
 * their smallest (anchor) index. k = 1 gives one group and k = n singletons without clustering
 * (what clustering would give anyway). Deterministic for a seed (opts.seed, default 0).
 */
export function spectralLayerGrouping(vectors: readonly ArrayLike<number>[], k: number, opts: KMeansOptions = {}): number[][] {
  const n = vectors.length;
  if (n === 0) throw new Error('spectralLayerGrouping: no layers');
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`spectralLayerGrouping: k must be an integer in 1..${n}, got ${k}`);
  if (k === 1) return [Array.from({ length: n }, (_, i) => i)];
  if (k === n) return Array.from({ length: n }, (_, i) => [i]);
  const W = layerSimilarityGraph(vectors);
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let deg = 0;
    for (let j = 0; j < n; j++) { deg += W[i * n + j]; L[i * n + j] = -W[i * n + j]; }
    L[i * n + i] = deg; // W_ii = 0
  }
  // Unnormalised spectral clustering, as the paper (𝓛 = D − W, no normalisation). Eigenvector signs
  // and the basis inside a repeated eigenvalue are arbitrary, but k-means only sees distances between
  // rows, which any orthogonal change of basis leaves unchanged.
  const eig = symmetricEigen(L, n);
  const points = Array.from({ length: n }, (_, i) => Float64Array.from({ length: k }, (_, c) => eig.vectors[c][i]));
  const { assignment } = seededKMeans(points, k, opts);
  const groups: number[][] = Array.from({ length: k }, () => []);
  assignment.forEach((c, i) => groups[c].push(i)); // ascending i, so each group is sorted
  return groups.sort((a, b) => a[0] - b[0]);
}
