/**
 * The little dense linear algebra the federated math needs, in float64: an orthonormal basis of a
 * set of vectors (modified Gram-Schmidt) and the SVD of a small matrix (one-sided Jacobi).
 * Sizes here are at most (clients × rank) on the small side, so clarity and accuracy win over speed;
 * Jacobi is chosen because it is short, needs no bidiagonalisation, and is accurate to full precision.
 */

/** Dot product of two equal-length vectors. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Subtracts from v its projection onto each (unit) vector of basis, twice: "twice is enough" for MGS. */
export function orthogonaliseAgainst(v: Float64Array, basis: readonly Float64Array[]): void {
  for (let pass = 0; pass < 2; pass++) {
    for (const q of basis) {
      const c = dot(v, q);
      for (let i = 0; i < v.length; i++) v[i] -= c * q[i];
    }
  }
}

/**
 * An orthonormal basis of span(vectors): modified Gram-Schmidt with re-orthogonalisation.
 * A vector whose residual is at most `relTol` times its own norm (or that is zero) adds nothing
 * and is dropped, so the basis size is the numerical rank of the set.
 */
export function orthonormalBasis(vectors: readonly Float64Array[], relTol = 1e-12): Float64Array[] {
  const basis: Float64Array[] = [];
  for (const v of vectors) {
    const norm0 = Math.sqrt(dot(v, v));
    if (norm0 === 0) continue;
    const r = Float64Array.from(v);
    orthogonaliseAgainst(r, basis);
    const norm = Math.sqrt(dot(r, r));
    if (norm <= relTol * norm0) continue;
    for (let i = 0; i < r.length; i++) r[i] /= norm;
    basis.push(r);
  }
  return basis;
}

/**
 * Thin SVD M = U·diag(S)·Vᵀ, singular values descending; U and V given as lists of column vectors.
 * The vectors of nonzero singular values are orthonormal. For a zero singular value, the vector on
 * the matrix's long side (U when rows ≥ cols, V when rows < cols) is the zero vector; the other is
 * still a unit vector orthogonal to the rest.
 */
export interface SmallSvd {
  /** min(rows, cols) left singular vectors (length rows). */
  U: Float64Array[];
  S: number[];
  /** min(rows, cols) right singular vectors (length cols). */
  V: Float64Array[];
}

/**
 * SVD of a small dense matrix given row-major (rows × cols), by one-sided Jacobi (Hestenes):
 * rotate pairs of columns until all are mutually orthogonal; their norms are then the singular values.
 */
export function smallSvd(m: Float64Array, rows: number, cols: number): SmallSvd {
  if (m.length !== rows * cols) throw new Error(`smallSvd: ${m.length} values for a ${rows}×${cols} matrix`);
  if (rows < cols) {
    // Work on the tall transpose: Mᵀ = V·S·Uᵀ.
    const t = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
    const s = smallSvd(t, cols, rows);
    return { U: s.V, S: s.S, V: s.U };
  }
  // Columns of the working matrix W (starts as M) and of V (starts as the identity).
  const W = Array.from({ length: cols }, (_, j) => Float64Array.from({ length: rows }, (_, i) => m[i * cols + j]));
  const V = Array.from({ length: cols }, (_, j) => { const e = new Float64Array(cols); e[j] = 1; return e; });
  const eps = 1e-15;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < cols - 1; p++) {
      for (let q = p + 1; q < cols; q++) {
        const a = dot(W[p], W[p]), b = dot(W[q], W[q]), c = dot(W[p], W[q]);
        if (c === 0 || Math.abs(c) <= eps * Math.sqrt(a * b)) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) entry of WᵀW (Golub & Van Loan, symmetric Schur).
        const zeta = (b - a) / (2 * c);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t), sn = cs * t;
        rotateColumns(W[p], W[q], cs, sn);
        rotateColumns(V[p], V[q], cs, sn);
      }
    }
    if (!rotated) break;
  }
  const S = W.map((w) => Math.sqrt(dot(w, w)));
  const order = S.map((_, j) => j).sort((x, y) => S[y] - S[x] || x - y);
  return {
    S: order.map((j) => S[j]),
    V: order.map((j) => V[j]),
    U: order.map((j) => (S[j] > 0 ? W[j].map((x) => x / S[j]) : new Float64Array(rows))),
  };
}

function rotateColumns(x: Float64Array, y: Float64Array, cs: number, sn: number): void {
  for (let i = 0; i < x.length; i++) {
    const xi = x[i], yi = y[i];
    x[i] = cs * xi - sn * yi;
    y[i] = sn * xi + cs * yi;
  }
}
