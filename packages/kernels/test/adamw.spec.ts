import { test, expect } from '@playwright/test';
import type { KernelHarness } from './harness/index';
import type { AdamWCase } from './harness/adamwHarness';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('AdamW steps match core AdamW (per-step lr and bias corrections rewritten in the uniform)', async ({ page }) => {
  const cases: AdamWCase[] = [
    { n: 1, lrs: [1e-3], seed: 1 },
    { n: 3, lrs: [1e-2, 5e-3, 2e-3], weightDecay: 0.1, seed: 2 },
    { n: 65, lrs: [1e-3, 1e-3, 1e-3, 1e-3, 1e-3], weightDecay: 0.01, seed: 3 },
    { n: 1000, lrs: [3e-4, 2e-4, 1e-4], beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.05, seed: 4 },
    { n: 4097, lrs: [0, 1e-1], eps: 1e-8, seed: 5 },
    // Past 65535 workgroups of 64: the grid goes 2-D.
    { n: 65535 * 64 + 77, lrs: [1e-3, 5e-4], weightDecay: 0.1, seed: 6 },
  ];
  const results = await page.evaluate((c) => kernelHarness.adamw(c), cases);
  expect(results).toHaveLength(cases.length * 3);
  let worst = 0;
  for (const r of results) {
    worst = Math.max(worst, r.maxAbsErr / Math.max(1, r.maxAbsRef));
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
    // Tighter than the generic bound, which an lr-sized (1e-3) update error could hide under:
    // params to a few float32 ulps, m and v (far below 1) relative to their own scale.
    if (r.name.endsWith('param')) expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-6 * Math.max(1, r.maxAbsRef));
    else expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * r.maxAbsRef);
  }
  console.log(`adamw: worst maxAbsErr / max(1, |ref|) = ${worst.toExponential(2)}`);
});

test('AdamW prepare() rejects undersized buffers and bad hyper-parameters with a clear RangeError', async ({ page }) => {
  const errors = await page.evaluate(() => kernelHarness.adamwErrors());
  expect(errors).toEqual([
    'RangeError: adamw: v holds 9 floats, needs 10',
    'RangeError: adamw: param holds 9 floats, needs 10',
    'RangeError: adamw: step must be an integer >= 1, got 0',
    'RangeError: adamw: beta2 must be in [0, 1), got 1',
    'RangeError: adamw: v and m are the same buffer; they must not alias',
    'RangeError: adamw: learning rate must be a finite number >= 0, got -1',
  ]);
});
