import { test, expect } from '@playwright/test';
import type { DequantMatmulCase, KernelHarness } from './harness/index';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('dequantizing matmuls (int8, int4, q4_1; forward and input gradient) match dequantize + matmul on the CPU', async ({ page }) => {
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
  const results = await page.evaluate((c) => kernelHarness.dequantMatmul(c), cases);
  expect(results).toHaveLength(cases.length);
  let worst = 0;
  for (const r of results) {
    worst = Math.max(worst, r.maxAbsErr / Math.max(1, r.maxAbsRef));
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
  console.log(`dequantMatmul: ${results.length} cases, worst error ${worst.toExponential(2)} relative to max(1, |ref|)`);
});
