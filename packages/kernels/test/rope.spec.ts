import { test, expect } from '@playwright/test';
import type { KernelHarness } from './harness/index';
import type { RopeCase } from './harness/ropeHarness';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('rope forward and inverse match the CPU reference (rotate-half, scaled frequencies, odd shapes)', async ({ page }) => {
  const cases: RopeCase[] = [];
  let seed = 1;
  for (const [B, T, nHeads, headDim, maxPos] of [
    [1, 1, 1, 2, 1], [1, 1, 3, 6, 4], [2, 7, 3, 10, 9], [3, 5, 2, 64, 5], [2, 33, 4, 16, 40], [1, 130, 2, 32, 256],
  ]) {
    for (const inverse of [false, true]) cases.push({ B, T, nHeads, headDim, maxPos, inverse, seed: seed++ });
  }
  cases.push({ B: 2, T: 50, nHeads: 2, headDim: 64, maxPos: 64, inverse: false, ropeTheta: 500000, seed: seed++,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 } });
  cases.push({ B: 1, T: 20, nHeads: 3, headDim: 12, maxPos: 20, inverse: true, ropeTheta: 1e6, ropeScaling: { type: 'linear', factor: 4 }, seed: seed++ });
  const results = await page.evaluate((c) => kernelHarness.rope(c), cases);
  expect(results).toHaveLength(cases.length);
  let worst = 0;
  for (const r of results) {
    worst = Math.max(worst, r.maxAbsErr / Math.max(1, r.maxAbsRef));
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
  console.log(`rope: worst maxAbsErr / max(1, |ref|) = ${worst.toExponential(2)}`);
});

test('rope inverse undoes the forward rotation', async ({ page }) => {
  const r = await page.evaluate(() => kernelHarness.ropeRoundTrip({ B: 2, T: 9, nHeads: 3, headDim: 8, maxPos: 9, inverse: false, seed: 7 }));
  expect(r.maxAbsErr).toBeLessThanOrEqual(1e-6);
});

test('rope prepare() rejects undersized buffers and bad shapes with a clear RangeError', async ({ page }) => {
  const errors = await page.evaluate(() => kernelHarness.ropeErrors());
  expect(errors).toEqual([
    'RangeError: rope: x holds 191 floats, needs 192',
    'RangeError: rope: sequence length 7 exceeds table size 6',
    'RangeError: rope: sin holds 23 floats, needs 24',
    'RangeError: rope: headDim must be a positive even integer, got 7',
  ]);
});
