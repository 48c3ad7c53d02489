import { test, expect } from '@playwright/test';
import type { KernelHarness } from './harness/index';
import type { CrossEntropyCase } from './harness/crossEntropyHarness';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('cross-entropy losses and in-place gradient match the CPU reference, ignored rows included', async ({ page }) => {
  const cases: CrossEntropyCase[] = [];
  let seed = 1;
  for (const [N, V, ignoreFrac, scale] of [
    [1, 1, 0, 3], [1, 3, 0, 3], [3, 3, 0.3, 3], [5, 3, 1, 3], [6, 2, 0.5, 4], [7, 1000, 0.3, 5], [4, 5003, 0.25, 5],
    [37, 257, 0.2, 8], [16, 64, 0.5, 100], [2, 33, 0, 1e-3],
  ]) {
    cases.push({ N, V, ignoreFrac, scale, gradScale: seed % 2 ? 1 / Math.max(1, N) : 0.37, seed: seed++ });
  }
  // More rows than one grid dimension holds (65535 workgroups): the row grid goes 2-D.
  cases.push({ N: 65600, V: 3, ignoreFrac: 0.2, scale: 3, gradScale: 1 / 65600, seed: seed++ });
  const results = await page.evaluate((c) => kernelHarness.crossEntropy(c), cases);
  expect(results).toHaveLength(cases.length * 5);
  let worst = 0;
  for (const r of results) {
    worst = Math.max(worst, r.maxAbsErr / Math.max(1, r.maxAbsRef));
    // exp/log in float32: the 1e-5 relative bound still holds.
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
  for (const r of results.filter((x) => x.name.includes('leaves logits'))) expect(r.maxAbsErr, r.name).toBe(0);
  for (const r of results.filter((x) => x.name.includes('ignored1 '))) expect(r.maxAbsErr, r.name).toBe(0);
  console.log(`crossEntropy: worst maxAbsErr / max(1, |ref|) = ${worst.toExponential(2)}`);
});

test('cross-entropy prepare() rejects undersized and aliased buffers with a clear RangeError', async ({ page }) => {
  const errors = await page.evaluate(() => kernelHarness.crossEntropyErrors());
  expect(errors).toEqual([
    'RangeError: crossEntropy: logits holds 11 floats, needs 12',
    'RangeError: crossEntropy: targets holds 3 int32 values, needs 4',
    'RangeError: crossEntropyGrad: lossRows holds 3 floats, needs 4',
    'RangeError: crossEntropyGrad: V must be a positive integer, got 0',
    'RangeError: crossEntropyGrad: lossRows and logits are the same buffer; they must not alias',
    'RangeError: crossEntropy: target 3 at position 2 outside vocabulary [0, 3)',
  ]);
});
