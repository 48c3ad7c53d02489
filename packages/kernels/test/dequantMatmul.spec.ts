import { test, expect } from '@playwright/test';
import type { DequantGatherCase, DequantMatmulCase, KernelHarness } from './harness/index';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('dequantizing matmuls (int8, int4, q8_0, q4_1; forward and input gradient, dense and strided) match dequantize + matmul on the CPU', async ({ page }) => {
  const cases: DequantMatmulCase[] = [];
  let seed = 1;
  // K = 70: not a multiple of 4, 8 or 32 (int4's last group has 6 columns, rows end mid-word);
  // K = 64: whole groups; K = 1 and N = 1: degenerate rows; M = 37, N = 45: partial 4x4 tiles.
  // Each size alternates overwrite / accumulate between the formats, and the other way round next size.
  for (const [s, [M, K, N]] of [[37, 70, 45], [1, 1, 1], [5, 33, 3], [16, 64, 8], [9, 100, 40], [3, 257, 6]].entries()) {
    for (const [f, format] of (['int8', 'int4'] as const).entries()) for (const product of ['forward', 'inputGrad'] as const) {
      cases.push({ M, N, K, format, product, accumulate: (s + f) % 2 === 1, seed: seed++ });
    }
  }
  // q4_1 (affine, GGUF's Q4_1): rows are whole groups of 32.
  for (const [s, [M, K, N]] of [[37, 160, 45], [1, 32, 1], [16, 64, 8], [9, 96, 40]].entries()) {
    for (const product of ['forward', 'inputGrad'] as const) cases.push({ M, N, K, format: 'q4_1', product, accumulate: s % 2 === 1, seed: seed++ });
  }
  // q8_0 (GGUF's Q8_0: int8 in groups of 32).
  for (const [s, [M, K, N]] of [[37, 160, 45], [1, 32, 1], [9, 96, 40]].entries()) {
    for (const product of ['forward', 'inputGrad'] as const) cases.push({ M, N, K, format: 'q8_0', product, accumulate: s % 2 === 0, seed: seed++ });
  }
  // The LM head over a vocabulary slice: C's rows (forward) or A's rows (inputGrad) are vocab-wide.
  for (const format of ['q8_0', 'q4_1', 'int4'] as const) {
    cases.push({ M: 13, N: 40, K: 64, format, product: 'forward', accumulate: false, ldc: 150, seed: seed++ });
    cases.push({ M: 13, N: 40, K: 64, format, product: 'inputGrad', accumulate: true, lda: 150, seed: seed++ });
  }
  const results = await page.evaluate((c) => kernelHarness.dequantMatmul(c), cases);
  expect(results).toHaveLength(cases.length);
  let worst = 0;
  for (const r of results) {
    worst = Math.max(worst, r.maxAbsErr / Math.max(1, r.maxAbsRef));
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
  console.log(`dequantMatmul: ${results.length} cases, worst error ${worst.toExponential(2)} relative to max(1, |ref|)`);
});

test('the packed embedding gather (q8_0, q4_1, int8, int4; whole table and vocabulary slices) copies rows of the dequantized table', async ({ page }) => {
  const cases: DequantGatherCase[] = [
    { M: 37, D: 64, vocab: 50, first: 0, rows: 50, format: 'q8_0', seed: 1 },
    { M: 37, D: 64, vocab: 50, first: 0, rows: 50, format: 'q4_1', seed: 2 },
    { M: 20, D: 70, vocab: 30, first: 0, rows: 30, format: 'int4', seed: 3 },
    { M: 20, D: 70, vocab: 30, first: 0, rows: 30, format: 'int8', seed: 4 },
    // Slices: only ids in [first, first + rows) are written by this dispatch.
    { M: 64, D: 96, vocab: 300, first: 192, rows: 108, format: 'q8_0', seed: 5 },
    { M: 64, D: 32, vocab: 200, first: 64, rows: 64, format: 'q4_1', seed: 6 },
  ];
  const results = await page.evaluate((c) => kernelHarness.dequantGather(c), cases);
  expect(results).toHaveLength(cases.length);
  // One float32 rounding per value, as the CPU's dequantization; q4_1's d·q + m may round twice
  // where the backend does not fuse fma (GGUF's f16 scales make d·q exact, so not for real files).
  for (const r of results) expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-6 * Math.max(1, r.maxAbsRef));
});
