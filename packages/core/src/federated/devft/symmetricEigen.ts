/**
 * Eigen-decomposition of a small dense symmetric matrix by the cyclic Jacobi method, in float64.
 * DevFT's layer grouping needs the eigenvectors of an L×L graph Laplacian (L = number of layers, at
 * most ~100), where Jacobi is short, robust for repeated eigenvalues (disconnected graphs give a
 * multiple eigenvalue 0) and accurate to full precision. smallSvd (one-sided Jacobi) would also work
 * on a PSD matrix, but it returns zero left vectors for zero singular values, which are exactly the
 * eigenvectors spectral clustering needs most.
 */

export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: number[];
  /** Unit eigenvectors (length n), vectors[i] belongs to values[i]. */
  vectors: Float64Array[];
}

/** Eigenvalues and eigenvectors of the symmetric n×n matrix `a` (row-major; only read, not changed). */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} values for a ${n}×${n} matrix`);
  const m = Float64Array.from(a);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) {
    const d = Math.abs(m[i * n + j] - m[j * n + i]);
    if (d > 1e-9 * (Math.abs(m[i * n + j]) + Math.abs(m[j * n + i]) + 1e-300)) throw new Error(`symmetricEigen: matrix is not symmetric at (${i}, ${j})`);
  }
  // V accumulates the rotations: its columns become the eigenvectors (stored row-major, V[i*n+k]).
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, total = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const x = m[i * n + j] * m[i * n + j];
      total += x;
      if (i !== j) off += x;
    }
    if (off === 0 || off <= 1e-30 * total) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        // Rotation that zeroes (p, q) (Golub & Van Loan, symmetric Schur decomposition).
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(1 + theta * theta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let k = 0; k < n; k++) { // columns p, q: M <- M·J
          const mkp = m[k * n + p], mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) { // rows p, q: M <- Jᵀ·M
          const mpk = m[p * n + k], mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const diag = Array.from({ length: n }, (_, i) => m[i * n + i]);
  const order = diag.map((_, i) => i).sort((x, y) => diag[x] - diag[y] || x - y);
  return {
    values: order.map((i) => diag[i]),
    vectors: order.map((k) => Float64Array.from({ length: n }, (_, i) => V[i * n + k])),
  };
}
