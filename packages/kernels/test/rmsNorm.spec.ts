import { test, expect } from '@playwright/test';
import type { KernelHarness } from './harness/index';
import type { RmsNormCase } from './harness/rmsNormHarness';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('rmsNorm forward and backward match the CPU reference for any row width', async ({ page }) => {
  const cases: RmsNormCase[] = [];
  let seed = 1;
  for (const [M, D] of [[1, 1], [1, 3], [3, 5], [2, 255], [7, 257], [16, 1000], [5, 4099], [130, 64], [1, 3000]]) {
    cases.push({ M, D, eps: 1e-5, accumulate: seed % 2 === 0, withDw: seed % 3 !== 0, seed: seed++ });
  }
  // Tiny activations (eps matters), large ones, and eps = 1e-6 as in Llama 2/3.
  cases.push({ M: 9, D: 96, eps: 1e-5, accumulate: true, withDw: true, scale: 1e-3, seed: seed++ });
  cases.push({ M: 4, D: 384, eps: 1e-6, accumulate: false, withDw: true, scale: 50, seed: seed++ });
  // More rows than one grid dimension holds (65535 workgroups): the row grid goes 2-D.
  cases.push({ M: 65600, D: 2, eps: 1e-5, accumulate: true, withDw: true, seed: seed++ });
  const results = await page.evaluate((c) => kernelHarness.rmsNorm(c), cases);
  expect(results).toHaveLength(cases.length * 4);
  let worst = 0;
  for (const r of results) {
    worst = Math.max(worst, r.maxAbsErr / Math.max(1, r.maxAbsRef));
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
  console.log(`rmsNorm: worst maxAbsErr / max(1, |ref|) = ${worst.toExponential(2)}`);
});

test('rmsNorm prepare() rejects undersized and aliased buffers with a clear RangeError', async ({ page }) => {
  const errors = await page.evaluate(() => kernelHarness.rmsNormErrors());
  expect(errors).toEqual([
    'RangeError: rmsNorm: invRms holds 2 floats, needs 3',
    'RangeError: rmsNorm: x holds 14 floats, needs 15',
    'RangeError: rmsNorm: D must be a positive integer, got 0',
    'RangeError: rmsNormBackward: dw holds 4 floats, needs 5',
    'RangeError: rmsNormBackward: w holds 4 floats, needs 5',
    'RangeError: rmsNormBackward: dy and dx are the same buffer; they must not alias',
  ]);
});
