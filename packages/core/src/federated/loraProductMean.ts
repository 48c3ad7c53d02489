/**
 * The 'svd-product' LoRA aggregation rule (FlexLoRA-style): the exact weighted mean of the clients'
 * low-rank updates, ΔW = Σ_k p_k·B_k·A_k, re-factored to rank r by truncated SVD, which by
 * Eckart-Young is the best rank-r approximation of ΔW in Frobenius and spectral norm.
 *
 * Why not form ΔW: it is [out, in] (e.g. 4864 × 896) per target and layer, while the stacks of
 * factors are only K·r wide. With Bs = [√p_1·B_1 … √p_K·B_K] and As = [√p_1·A_1; …; √p_K·A_K],
 * ΔW = Bs·As. Orthonormal bases Q_B of Bs's columns and Q_A of As's rows give
 * ΔW = Q_B·(Q_Bᵀ·Bs·Asᵀ·Q_A)·Q_Aᵀ, and the core in the middle is at most (K·r) × (K·r): its SVD
 * U·Σ·Vᵀ gives ΔW's, with left vectors Q_B·U and right vectors Q_A·V.
 */
import type { Tensor } from '../model/tensor';
import { tensor } from '../model/tensor';
import { dot, orthogonaliseAgainst, orthonormalBasis, smallSvd } from './smallLinalg';

/** One client's factors for one target: A [rank, in], B [out, rank], and its aggregation weight. */
export interface WeightedLoraPair {
  A: Tensor;
  B: Tensor;
  /** Non-negative weight; the weights of one call sum to 1. */
  weight: number;
}

/** Singular values at most this fraction of the largest count as zero (float32 inputs, float64 maths). */
const RANK_REL_TOL = 1e-10;

/**
 * Rank-r factors (A with orthonormal rows = V_rᵀ, B = U_r·Σ_r) of Σ_k weight_k·B_k·A_k.
 *
 * Rank deficiency (fewer than r nonzero singular values, e.g. every B zero): the missing rows of A
 * are the previous global A's rows, orthogonalised against the rows already chosen (then standard
 * basis vectors if those run out), with zero B columns. ΔW is unchanged by them, and A keeps r
 * independent directions so B's gradient is nonzero next round, as with PEFT's B = 0 start.
 * Where r exceeds A's width no further orthogonal row exists and the rest of A is zero.
 */
export function meanOfProductsAtRank(pairs: readonly WeightedLoraPair[], rank: number, previousA: Tensor): { A: Tensor; B: Tensor } {
  const inDim = previousA.shape[1], outDim = pairs[0].B.shape[0];
  const bCols: Float64Array[] = [], aRows: Float64Array[] = [];
  for (const { A, B, weight } of pairs) {
    const s = Math.sqrt(weight);
    for (let j = 0; j < rank; j++) {
      const b = new Float64Array(outDim), a = new Float64Array(inDim);
      for (let o = 0; o < outDim; o++) b[o] = s * B.data[o * rank + j];
      for (let i = 0; i < inDim; i++) a[i] = s * A.data[j * inDim + i];
      bCols.push(b);
      aRows.push(a);
    }
  }
  const qB = orthonormalBasis(bCols), qA = orthonormalBasis(aRows);
  // core[i][l] = Σ_j <qB_i, bCol_j>·<qA_l, aRow_j>
  const rB = qB.map((q) => bCols.map((b) => dot(q, b)));
  const rA = qA.map((q) => aRows.map((a) => dot(q, a)));
  const core = new Float64Array(qB.length * qA.length);
  for (let i = 0; i < qB.length; i++) {
    for (let l = 0; l < qA.length; l++) core[i * qA.length + l] = dot(rB[i], rA[l]);
  }
  const svd = qB.length > 0 && qA.length > 0 ? smallSvd(core, qB.length, qA.length) : { U: [], S: [], V: [] };
  const sMax = svd.S[0] ?? 0;
  const keep = svd.S.filter((s, i) => i < rank && s > 0 && s > RANK_REL_TOL * sMax).length;

  const A = tensor([rank, inDim]), B = tensor([outDim, rank]);
  const rows: Float64Array[] = [];
  for (let i = 0; i < keep; i++) {
    const v = combine(qA, svd.V[i], inDim), u = combine(qB, svd.U[i], outDim);
    rows.push(v);
    for (let o = 0; o < outDim; o++) B.data[o * rank + i] = svd.S[i] * u[o];
  }
  for (const row of fillRows(rows, rank, previousA)) rows.push(row);
  rows.forEach((row, i) => A.data.set(row, i * inDim));
  return { A, B };
}

/** Σ_i coeffs[i]·basis[i]. */
function combine(basis: readonly Float64Array[], coeffs: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n);
  basis.forEach((q, i) => { for (let k = 0; k < n; k++) out[k] += coeffs[i] * q[k]; });
  return out;
}

/** Unit rows orthogonal to `chosen` (and each other) until there are `rank`: previous A rows first, then e_0, e_1, … */
function fillRows(chosen: readonly Float64Array[], rank: number, previousA: Tensor): Float64Array[] {
  const inDim = previousA.shape[1];
  const basis = [...chosen], added: Float64Array[] = [];
  const candidates = function* () {
    for (let j = 0; j < previousA.shape[0]; j++) yield Float64Array.from(previousA.data.subarray(j * inDim, (j + 1) * inDim));
    for (let i = 0; i < inDim; i++) { const e = new Float64Array(inDim); e[i] = 1; yield e; }
  };
  for (const c of candidates()) {
    if (basis.length >= rank) break;
    const norm0 = Math.sqrt(dot(c, c));
    if (norm0 === 0) continue;
    orthogonaliseAgainst(c, basis);
    const norm = Math.sqrt(dot(c, c));
    // A candidate nearly inside the span would give a direction made of rounding noise.
    if (norm <= 1e-6 * norm0) continue;
    for (let i = 0; i < inDim; i++) c[i] /= norm;
    basis.push(c);
    added.push(c);
  }
  return added;
}
