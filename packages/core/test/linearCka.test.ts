import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linearCka, linearCkaMatrix } from '../src/federated/linearCka';
import { rngFrom } from './fixtures/tinyModel';

function randomMatrix(n: number, d: number, seed: number): Float64Array {
  const rng = rngFrom(seed);
  return Float64Array.from({ length: n * d }, () => 2 * rng.next() - 1);
}

/** X [n, d] · M [d, e]. */
function matmul(x: ArrayLike<number>, m: ArrayLike<number>, n: number, d: number, e: number): Float64Array {
  const out = new Float64Array(n * e);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) for (let j = 0; j < e; j++) out[i * e + j] += x[i * d + k] * m[k * e + j];
  return out;
}

/** A random d×d orthogonal matrix: Gram–Schmidt on random columns (written here, not the library's). */
function randomOrthogonal(d: number, seed: number): Float64Array {
  const cols: number[][] = [];
  const raw = randomMatrix(d, d, seed);
  for (let j = 0; j < d; j++) {
    const v = Array.from({ length: d }, (_, i) => raw[i * d + j]);
    for (const q of cols) {
      const c = v.reduce((s, x, i) => s + x * q[i], 0);
      for (let i = 0; i < d; i++) v[i] -= c * q[i];
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    cols.push(v.map((x) => x / norm));
  }
  const q = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) q[i * d + j] = cols[j][i];
  return q;
}

/**
 * The Gram-matrix (HSIC) form, independent of the feature-space form the code uses:
 * CKA = tr(K·H·L·H) / √(tr(K·H·K·H)·tr(L·H·L·H)), K = X·Xᵀ, L = Y·Yᵀ, H = I − 11ᵀ/n.
 */
function denseCka(x: ArrayLike<number>, y: ArrayLike<number>, n: number, dx: number, dy: number): number {
  const gram = (m: ArrayLike<number>, d: number) => {
    const g = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < d; k++) s += m[i * d + k] * m[j * d + k]; g[i * n + j] = s; }
    return g;
  };
  const H = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H[i * n + j] = (i === j ? 1 : 0) - 1 / n;
  const mm = (a: Float64Array, b: Float64Array) => matmul(a, b, n, n, n);
  const tr = (a: Float64Array) => { let s = 0; for (let i = 0; i < n; i++) s += a[i * n + i]; return s; };
  const Kc = mm(mm(H, gram(x, dx)), H), Lc = mm(mm(H, gram(y, dy)), H);
  return tr(mm(Kc, Lc)) / Math.sqrt(tr(mm(Kc, Kc)) * tr(mm(Lc, Lc)));
}

test('identical inputs give 1', () => {
  const x = randomMatrix(9, 5, 1);
  assert.ok(Math.abs(linearCka(x, x, 9, 5, 5) - 1) < 1e-12);
  assert.ok(linearCka(x, x, 9, 5, 5) <= 1);
  // Float32 input works the same.
  const x32 = Float32Array.from(x);
  assert.ok(Math.abs(linearCka(x32, x32, 9, 5, 5) - 1) < 1e-12);
});

test('invariant to an orthogonal rotation plus isotropic scaling (and a shift) of either input', () => {
  const n = 11, d = 6;
  const x = randomMatrix(n, d, 2), y = randomMatrix(n, 4, 3);
  const Q = randomOrthogonal(d, 4);
  const xr = matmul(x, Q, n, d, d).map((v, i) => -3.7 * v + (i % d) * 0.25); // rotate, scale, shift each column
  assert.ok(Math.abs(linearCka(x, xr, n, d, d) - 1) < 1e-10);
  assert.ok(Math.abs(linearCka(xr, y, n, d, 4) - linearCka(x, y, n, d, 4)) < 1e-10);
  // Anisotropic scaling is not an invariance: the test can tell.
  const xs = x.map((v, i) => (i % d === 0 ? 10 * v : v));
  assert.ok(linearCka(x, xs, n, d, d) < 0.99);
});

test('symmetric, within [0, 1], and equal to the dense Gram-matrix formula', () => {
  const n = 8;
  for (let seed = 0; seed < 20; seed++) {
    const dx = 1 + (seed % 5), dy = 1 + ((seed * 3) % 7);
    const x = randomMatrix(n, dx, 100 + seed), y = randomMatrix(n, dy, 200 + seed);
    const xy = linearCka(x, y, n, dx, dy), yx = linearCka(y, x, n, dy, dx);
    assert.ok(Math.abs(xy - yx) < 1e-14, 'symmetric');
    assert.ok(xy >= 0 && xy <= 1, `in [0, 1]: ${xy}`);
    const want = denseCka(x, y, n, dx, dy);
    assert.ok(Math.abs(xy - want) < 1e-12, `seed ${seed}: ${xy} vs dense ${want}`);
  }
  // Correlated inputs score higher than independent ones.
  const x = randomMatrix(30, 4, 7), noise = randomMatrix(30, 4, 8);
  const near = x.map((v, i) => v + 0.1 * noise[i]);
  assert.ok(linearCka(x, near, 30, 4, 4) > 0.9);
  assert.ok(linearCka(x, noise, 30, 4, 4) < 0.5);
});

test('no variance: NaN, even when the constant does not average exactly in floating point', () => {
  const n = 3, d = 2;
  const x = randomMatrix(n, d, 9);
  assert.ok(Number.isNaN(linearCka(new Float64Array(n * d).fill(0.1), x, n, d, d)));
  assert.ok(Number.isNaN(linearCka(x, new Float32Array(n * d).fill(0.7), n, d, d)));
  // A constant column inside an otherwise varying input is just ignored (it contributes nothing).
  const withConst = new Float64Array(n * (d + 1));
  for (let i = 0; i < n; i++) { withConst[i * (d + 1)] = x[i * d]; withConst[i * (d + 1) + 1] = x[i * d + 1]; withConst[i * (d + 1) + 2] = 0.1; }
  assert.equal(linearCka(x, withConst, n, d, d + 1), linearCka(x, x, n, d, d));
  assert.throws(() => linearCka(x, x, n, d + 1, d), /linearCka/);
});

test('linearCkaMatrix: symmetric, ones on the diagonal, entries equal to pairwise linearCka', () => {
  const n = 10, d = 3;
  const sets = [0, 1, 2].map((s) => Float32Array.from(randomMatrix(n, d, 50 + s)));
  sets.push(Float32Array.from(matmul(sets[0], randomOrthogonal(d, 60), n, d, d).map((v) => 2 * v)));
  sets.push(new Float32Array(n * d).fill(0.3));
  const m = linearCkaMatrix(sets, n, d);
  for (let i = 0; i < sets.length; i++) {
    for (let j = 0; j < sets.length; j++) {
      assert.equal(m[i][j], m[j][i]);
      if (i === 4 || j === 4) { assert.ok(Number.isNaN(m[i][j])); continue; }
      assert.ok(Math.abs(m[i][j] - linearCka(sets[i], sets[j], n, d, d)) < 1e-14);
      if (i === j) assert.ok(Math.abs(m[i][j] - 1) < 1e-12 && m[i][j] <= 1);
    }
  }
  assert.ok(Math.abs(m[0][3] - 1) < 1e-6, 'rotated copy (float32 rounding only)');
});
