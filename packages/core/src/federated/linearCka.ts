/**
 * Linear centred kernel alignment (Kornblith et al., 2019) between two sets of activations of the
 * same n tokens: CKA(X, Y) = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F) with X, Y column-centred.
 * It is 1 for identical representations and invariant to orthogonal transforms and isotropic
 * scaling of either input, which is why FedPruner groups layers by it: two layers whose outputs
 * differ by a rotation and scale carry the same information.
 */
import type { FloatArray } from '../engine/floatArray';

/**
 * Column-centred copy, in float64, of an [n, d] row-major matrix. A constant column becomes exactly
 * zero: its float mean need not equal the value (0.1 + 0.1 + 0.1 ≠ 0.3), and the rounding residue
 * would otherwise pass for variance.
 */
function centred(x: ArrayLike<number>, n: number, d: number): Float64Array {
  if (x.length !== n * d) throw new Error(`linearCka: ${x.length} values for ${n} tokens × ${d} features`);
  const out = Float64Array.from(x as ArrayLike<number>);
  for (let j = 0; j < d; j++) {
    let mean = 0, constant = true;
    for (let i = 0; i < n; i++) {
      mean += out[i * d + j];
      if (out[i * d + j] !== out[j]) constant = false;
    }
    mean = constant ? out[j] : mean / n;
    for (let i = 0; i < n; i++) out[i * d + j] -= mean;
  }
  return out;
}

/** ‖YᵀX‖² / (‖XᵀX‖·‖YᵀY‖), which Cauchy-Schwarz bounds by 1; clamped there against rounding. NaN without variance. */
function ckaRatio(xy: number, xx: number, yy: number): number {
  return xx > 0 && yy > 0 ? Math.min(1, xy / (xx * yy)) : NaN;
}

/** ‖Yᵀ X‖²_F for centred X [n, dx] and Y [n, dy] (cost n·dx·dy). */
function crossFrobeniusSq(x: Float64Array, y: Float64Array, n: number, dx: number, dy: number): number {
  const c = new Float64Array(dy * dx);
  for (let t = 0; t < n; t++) {
    for (let a = 0; a < dy; a++) {
      const ya = y[t * dy + a];
      if (ya === 0) continue;
      const row = a * dx;
      for (let b = 0; b < dx; b++) c[row + b] += ya * x[t * dx + b];
    }
  }
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i] * c[i];
  return s;
}

/**
 * Linear CKA of X [n, dx] and Y [n, dy] (row-major, one row per token). NaN when either input has
 * no variance (every token the same), where CKA is undefined.
 */
export function linearCka(x: ArrayLike<number>, y: ArrayLike<number>, n: number, dx: number, dy: number): number {
  const xc = centred(x, n, dx), yc = centred(y, n, dy);
  const xy = crossFrobeniusSq(xc, yc, n, dx, dy);
  const xx = Math.sqrt(crossFrobeniusSq(xc, xc, n, dx, dx)), yy = Math.sqrt(crossFrobeniusSq(yc, yc, n, dy, dy));
  return ckaRatio(xy, xx, yy);
}

/** The symmetric matrix of linear CKA between every pair of [n, d] activation sets (centred once each). */
export function linearCkaMatrix(sets: readonly FloatArray[], n: number, d: number): number[][] {
  const c = sets.map((s) => centred(s, n, d));
  const self = c.map((x) => Math.sqrt(crossFrobeniusSq(x, x, n, d, d)));
  const out = sets.map(() => new Array<number>(sets.length).fill(NaN));
  for (let i = 0; i < c.length; i++) {
    for (let j = i; j < c.length; j++) {
      const v = self[i] > 0 && self[j] > 0 ? ckaRatio(crossFrobeniusSq(c[i], c[j], n, d, d), self[i], self[j]) : NaN;
      out[i][j] = v;
      out[j][i] = v;
    }
  }
  return out;
}
