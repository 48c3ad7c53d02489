import { test, expect } from '@playwright/test';
import type { KernelHarness, MatmulCase } from './harness/index';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('matmul kernel matches the CPU reference for every layout, odd sizes and accumulation', async ({ page }) => {
  const cases: MatmulCase[] = [];
  let seed = 1;
  for (const [M, N, R] of [[1, 1, 1], [5, 7, 3], [33, 17, 29], [64, 64, 64], [130, 67, 45]]) {
    for (const transA of [false, true]) for (const transB of [false, true]) {
      cases.push({ M, N, R, transA, transB, accumulate: seed % 3 === 0, alpha: seed % 2 ? 1 : 0.37, seed: seed++ });
    }
  }
  const results = await page.evaluate((c) => kernelHarness.matmul(c), cases);
  expect(results).toHaveLength(cases.length);
  for (const r of results) {
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
});

test('matmul with row strides: A inside a wider matrix, C as the first columns of a wider one (the rest untouched)', async ({ page }) => {
  const cases: (MatmulCase & { lda: number; ldc: number })[] = [];
  let seed = 100;
  for (const [M, N, R] of [[5, 7, 3], [33, 17, 29], [70, 9, 66]]) {
    for (const transA of [false, true]) for (const transB of [false, true]) {
      cases.push({ M, N, R, transA, transB, accumulate: seed % 2 === 0, alpha: 1, seed: seed++, lda: (transA ? M : R) + 3 + (seed % 5), ldc: N + 1 + (seed % 7) });
    }
  }
  const results = await page.evaluate((c) => kernelHarness.matmulStrided(c), cases);
  expect(results).toHaveLength(cases.length);
  for (const r of results) expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
});

test('memory ledger refuses over-budget allocations before they reach the GPU and tracks the peak', async ({ page }) => {
  const r = await page.evaluate(() => kernelHarness.ledger());
  expect(r.budgetError).toMatch(/^GpuBudgetExceededError: GPU memory budget exceeded allocating "c.z": 400 bytes requested with 800 live, budget 1000 bytes/);
  expect(r.peak).toBe(800);
  expect(r.sealedError).toBe('LedgerSealedError');
  expect(r.live).toBe(0);
});
