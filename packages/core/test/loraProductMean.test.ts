import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanOfProductsAtRank, type WeightedLoraPair } from '../src/federated/loraProductMean';
import { orthonormalBasis, smallSvd } from '../src/federated/smallLinalg';
import { tensor, type Tensor } from '../src/model/tensor';
import { rngFrom } from './fixtures/tinyModel';

// ---- Oracles, written independently of the code under test: plain loops in float64. ----

function randomTensor(shape: [number, number], seed: number, scale = 1): Tensor {
  const rng = rngFrom(seed);
  const t = tensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = (2 * rng.next() - 1) * scale;
  return t;
}

/** Dense B·A ([out, in], row-major, float64). */
function product(B: Tensor, A: Tensor): Float64Array {
  const [out, r] = B.shape, inDim = A.shape[1];
  assert.equal(A.shape[0], r);
  const m = new Float64Array(out * inDim);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inDim; i++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += B.data[o * r + j] * A.data[j * inDim + i];
      m[o * inDim + i] = s;
    }
  }
  return m;
}

/** Σ w_k·B_k·A_k, dense. */
function meanProduct(pairs: readonly WeightedLoraPair[]): Float64Array {
  let acc: Float64Array | undefined;
  for (const p of pairs) {
    const m = product(p.B, p.A);
    acc ??= new Float64Array(m.length);
    for (let i = 0; i < m.length; i++) acc[i] += p.weight * m[i];
  }
  return acc!;
}

function frob2(m: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < m.length; i++) s += m[i] * m[i];
  return s;
}

function diff2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

/** Eigenvalues (descending) of a symmetric n×n matrix by the classical two-sided Jacobi method. */
function symmetricEigenvalues(sym: Float64Array, n: number): number[] {
  const a = Float64Array.from(sym);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30 * Math.max(1, frob2(a))) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) { // columns p, q
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) { // rows p, q
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i * n + i]).sort((x, y) => y - x);
}

/** Squared singular values (descending) of a dense rows×cols matrix: eigenvalues of MᵀM. */
function squaredSingularValues(m: Float64Array, rows: number, cols: number): number[] {
  const g = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < rows; k++) s += m[k * cols + i] * m[k * cols + j];
      g[i * cols + j] = s;
    }
  }
  return symmetricEigenvalues(g, cols).map((x) => Math.max(0, x));
}

/** Max |A·Aᵀ − I| over the first `rows` rows of A [*, in]. */
function rowOrthonormalityError(A: Tensor, rows = A.shape[0]): number {
  const inDim = A.shape[1];
  let worst = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < rows; j++) {
      let s = 0;
      for (let k = 0; k < inDim; k++) s += A.data[i * inDim + k] * A.data[j * inDim + k];
      worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

function assertRelClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  const err = Math.sqrt(diff2(got, want)), scale = Math.sqrt(frob2(want));
  assert.ok(scale > 0, `${what}: reference is zero`);
  assert.ok(err <= rel * scale, `${what}: relative error ${err / scale} > ${rel}`);
}

const R = 2, IN = 7, OUT = 6;

// ---- meanOfProductsAtRank ----

test('one client: the product comes back exactly, re-factored with orthonormal A rows', () => {
  const A = randomTensor([R, IN], 1), B = randomTensor([OUT, R], 2, 0.3);
  const res = meanOfProductsAtRank([{ A, B, weight: 1 }], R, randomTensor([R, IN], 3));
  assert.deepEqual(res.A.shape, [R, IN]);
  assert.deepEqual(res.B.shape, [OUT, R]);
  assertRelClose(product(res.B, res.A), product(B, A), 1e-5, 'B·A');
  assert.ok(rowOrthonormalityError(res.A) < 1e-6);
  // Different factors from the input (so the test would notice a pass-through that skips the SVD).
  assert.ok(diff2(res.A.data, A.data) > 1e-3);
});

test('clients sharing A: exactly the weighted mean of the products (rank ≤ r)', () => {
  const A = randomTensor([R, IN], 10);
  const pairs: WeightedLoraPair[] = [
    { A, B: randomTensor([OUT, R], 11), weight: 0.2 },
    { A, B: randomTensor([OUT, R], 12), weight: 0.5 },
    { A, B: randomTensor([OUT, R], 13), weight: 0.3 },
  ];
  const res = meanOfProductsAtRank(pairs, R, randomTensor([R, IN], 14));
  assertRelClose(product(res.B, res.A), meanProduct(pairs), 1e-5, 'B·A vs Σ p_k·B_k·A_k');
  assert.ok(rowOrthonormalityError(res.A) < 1e-6);
  // Weights matter: the unweighted mean of the products is far from the result.
  const unweighted = meanProduct(pairs.map((p) => ({ ...p, weight: 1 / 3 })));
  assert.ok(Math.sqrt(diff2(product(res.B, res.A), unweighted)) > 1e-2 * Math.sqrt(frob2(unweighted)));
});

test('clients sharing B (column space) also give the exact mean', () => {
  const B = randomTensor([OUT, R], 20);
  const pairs: WeightedLoraPair[] = [
    { A: randomTensor([R, IN], 21), B, weight: 0.75 },
    { A: randomTensor([R, IN], 22), B, weight: 0.25 },
  ];
  const res = meanOfProductsAtRank(pairs, R, randomTensor([R, IN], 23));
  assertRelClose(product(res.B, res.A), meanProduct(pairs), 1e-5, 'B·A vs Σ p_k·B_k·A_k');
});

test('mean of rank above r: the best rank-r approximation (Eckart–Young residual)', () => {
  const pairs: WeightedLoraPair[] = [
    { A: randomTensor([R, IN], 30), B: randomTensor([OUT, R], 31), weight: 0.5 },
    { A: randomTensor([R, IN], 32), B: randomTensor([OUT, R], 33), weight: 0.3 },
    { A: randomTensor([R, IN], 34), B: randomTensor([OUT, R], 35), weight: 0.2 },
  ];
  const M = meanProduct(pairs);
  const s2 = squaredSingularValues(M, OUT, IN);
  const total = frob2(M);
  assert.ok(Math.abs(s2.reduce((a, b) => a + b, 0) - total) < 1e-9 * total, 'oracle eigenvalues sum to ‖M‖²');
  const discarded = s2.slice(R).reduce((a, b) => a + b, 0);
  assert.ok(discarded > 0.01 * total, 'the case really exceeds rank r');

  const res = meanOfProductsAtRank(pairs, R, randomTensor([R, IN], 36));
  const residual = diff2(product(res.B, res.A), M);
  // Any rank-r matrix has residual ≥ Σ_{i>r} σ_i², with equality only for a best approximation.
  assert.ok(Math.abs(residual - discarded) <= 1e-5 * total, `residual ${residual} vs discarded ${discarded}`);
  assert.ok(rowOrthonormalityError(res.A) < 1e-6);
  // B = U_r·Σ_r: its column norms are the top singular values.
  for (let j = 0; j < R; j++) {
    let n2 = 0;
    for (let o = 0; o < OUT; o++) n2 += res.B.data[o * R + j] ** 2;
    assert.ok(Math.abs(n2 - s2[j]) <= 1e-5 * total, `column ${j}: ${n2} vs σ² ${s2[j]}`);
  }

  // Better than the alternatives: factor averaging, and any one client's own product.
  const fedavgA = tensor([R, IN]), fedavgB = tensor([OUT, R]);
  for (const p of pairs) {
    for (let i = 0; i < fedavgA.data.length; i++) fedavgA.data[i] += p.weight * p.A.data[i];
    for (let i = 0; i < fedavgB.data.length; i++) fedavgB.data[i] += p.weight * p.B.data[i];
  }
  assert.ok(residual < diff2(product(fedavgB, fedavgA), M));
  for (const p of pairs) assert.ok(residual < diff2(product(p.B, p.A), M));
});

test('every B zero (PEFT initialisation): B stays zero, A gets r orthonormal rows spanning the previous A', () => {
  const prev = randomTensor([3, IN], 40);
  const pairs: WeightedLoraPair[] = [
    { A: randomTensor([3, IN], 41), B: tensor([OUT, 3]), weight: 0.4 },
    { A: randomTensor([3, IN], 42), B: tensor([OUT, 3]), weight: 0.6 },
  ];
  const res = meanOfProductsAtRank(pairs, 3, prev);
  assert.ok(res.B.data.every((x) => x === 0));
  assert.ok(rowOrthonormalityError(res.A) < 1e-6);
  // Each previous A row lies in the span of the new rows (projection residual ~ 0).
  for (let j = 0; j < 3; j++) {
    const row = Float64Array.from(prev.data.subarray(j * IN, (j + 1) * IN));
    const proj = new Float64Array(IN);
    for (let i = 0; i < 3; i++) {
      let c = 0;
      for (let k = 0; k < IN; k++) c += row[k] * res.A.data[i * IN + k];
      for (let k = 0; k < IN; k++) proj[k] += c * res.A.data[i * IN + k];
    }
    assert.ok(Math.sqrt(diff2(row, proj)) < 1e-5 * Math.sqrt(frob2(row)));
  }
});

test('rank-1 mean at rank 3: exact product, the two spare A rows orthonormal, their B columns zero', () => {
  const u = randomTensor([OUT, 1], 50), v = randomTensor([1, IN], 51);
  // Two clients whose products are multiples of the same rank-1 matrix u·v, padded to rank 3.
  const pad = (scale: number, seed: number): WeightedLoraPair => {
    const A = randomTensor([3, IN], seed), B = tensor([OUT, 3]);
    A.data.set(v.data, 0);
    for (let o = 0; o < OUT; o++) B.data[o * 3] = scale * u.data[o];
    return { A, B, weight: 0.5 };
  };
  const pairs = [pad(1, 52), pad(-3, 53)];
  const res = meanOfProductsAtRank(pairs, 3, randomTensor([3, IN], 54));
  assertRelClose(product(res.B, res.A), meanProduct(pairs), 1e-5, 'B·A');
  assert.ok(rowOrthonormalityError(res.A) < 1e-6);
  for (let o = 0; o < OUT; o++) {
    assert.equal(res.B.data[o * 3 + 1], 0);
    assert.equal(res.B.data[o * 3 + 2], 0);
  }
});

test('rank above the input width: as many orthonormal A rows as fit, the rest zero', () => {
  const inDim = 2, rank = 3;
  const pairs: WeightedLoraPair[] = [{ A: randomTensor([rank, inDim], 60), B: randomTensor([OUT, rank], 61), weight: 1 }];
  const res = meanOfProductsAtRank(pairs, rank, randomTensor([rank, inDim], 62));
  assertRelClose(product(res.B, res.A), meanProduct(pairs), 1e-5, 'B·A');
  assert.ok(rowOrthonormalityError(res.A, inDim) < 1e-6);
  assert.deepEqual(Array.from(res.A.data.subarray(inDim * inDim)), [0, 0]);
});

test('inputs are not mutated', () => {
  const pairs: WeightedLoraPair[] = [
    { A: randomTensor([R, IN], 70), B: randomTensor([OUT, R], 71), weight: 0.5 },
    { A: randomTensor([R, IN], 72), B: randomTensor([OUT, R], 73), weight: 0.5 },
  ];
  const prev = randomTensor([R, IN], 74);
  const before = [...pairs.flatMap((p) => [p.A, p.B]), prev].map((t) => Array.from(t.data));
  meanOfProductsAtRank(pairs, R, prev);
  assert.deepEqual([...pairs.flatMap((p) => [p.A, p.B]), prev].map((t) => Array.from(t.data)), before);
});

// ---- smallLinalg ----

function denseRandom(rows: number, cols: number, seed: number): Float64Array {
  const rng = rngFrom(seed);
  return Float64Array.from({ length: rows * cols }, () => 2 * rng.next() - 1);
}

function checkSvd(m: Float64Array, rows: number, cols: number, expectedRank: number): void {
  const { U, S, V } = smallSvd(m, rows, cols);
  const k = Math.min(rows, cols);
  assert.equal(S.length, k);
  assert.equal(U.length, k);
  assert.equal(V.length, k);
  for (let i = 1; i < k; i++) assert.ok(S[i] <= S[i - 1], 'descending');
  // Reconstruction.
  const back = new Float64Array(rows * cols);
  for (let t = 0; t < k; t++) {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) back[i * cols + j] += U[t][i] * S[t] * V[t][j];
  }
  assert.ok(Math.sqrt(diff2(back, m)) < 1e-12 * Math.sqrt(frob2(m)));
  // Singular values against the oracle's eigenvalues of MᵀM.
  const s2 = squaredSingularValues(m, rows, cols);
  for (let i = 0; i < k; i++) assert.ok(Math.abs(S[i] * S[i] - s2[i]) < 1e-10 * s2[0], `σ_${i}`);
  // Vectors of nonzero singular values are orthonormal.
  const nz = S.filter((s) => s > 1e-10 * S[0]).length;
  assert.equal(nz, expectedRank);
  for (const vecs of [U, V]) {
    for (let a = 0; a < nz; a++) {
      for (let b = 0; b < nz; b++) {
        let d = 0;
        for (let i = 0; i < vecs[a].length; i++) d += vecs[a][i] * vecs[b][i];
        assert.ok(Math.abs(d - (a === b ? 1 : 0)) < 1e-10);
      }
    }
  }
}

test('smallSvd: tall, wide and rank-deficient matrices', () => {
  checkSvd(denseRandom(7, 4, 80), 7, 4, 4);
  checkSvd(denseRandom(3, 6, 81), 3, 6, 3);
  // Rank 2 (5×4) as a product of 5×2 and 2×4.
  const L = denseRandom(5, 2, 82), Rt = denseRandom(2, 4, 83), m = new Float64Array(20);
  for (let i = 0; i < 5; i++) for (let j = 0; j < 4; j++) m[i * 4 + j] = L[i * 2] * Rt[j] + L[i * 2 + 1] * Rt[4 + j];
  checkSvd(m, 5, 4, 2);
  const mt = new Float64Array(20);
  for (let i = 0; i < 5; i++) for (let j = 0; j < 4; j++) mt[j * 5 + i] = m[i * 4 + j];
  checkSvd(mt, 4, 5, 2);
  assert.throws(() => smallSvd(new Float64Array(5), 2, 3), /6|2×3/);
});

test('orthonormalBasis: the basis size is the rank of the set', () => {
  const a = denseRandom(1, 5, 90), b = denseRandom(1, 5, 91);
  const c = a.map((x, i) => 2 * x - 0.5 * b[i]);
  const basis = orthonormalBasis([a, new Float64Array(5), b, c]);
  assert.equal(basis.length, 2);
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      let d = 0;
      for (let k = 0; k < 5; k++) d += basis[i][k] * basis[j][k];
      assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-12);
    }
  }
});
