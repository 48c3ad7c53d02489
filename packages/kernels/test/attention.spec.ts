import { test, expect } from '@playwright/test';
import type { KernelHarness } from './harness/index';
import type { AttentionCase } from './harness/attentionHarness';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('attention forward and backward match the CPU engine (GQA, sliding window, odd sizes)', async ({ page }) => {
  const shapes: Omit<AttentionCase, 'seed'>[] = [
    { B: 1, T: 1, nHeads: 3, nKvHeads: 1, headDim: 4 },
    { B: 2, T: 7, nHeads: 3, nKvHeads: 3, headDim: 6 },
    { B: 3, T: 7, nHeads: 4, nKvHeads: 2, headDim: 4 },
    { B: 1, T: 33, nHeads: 3, nKvHeads: 1, headDim: 32 },
    { B: 2, T: 33, nHeads: 4, nKvHeads: 2, headDim: 6 },
    { B: 1, T: 33, nHeads: 3, nKvHeads: 3, headDim: 4 },
    // T > 64: the rows of one head span two workgroups.
    { B: 1, T: 70, nHeads: 4, nKvHeads: 2, headDim: 32 },
    // Sliding windows: shorter than T (also across a workgroup boundary), and >= T (masks nothing).
    { B: 2, T: 33, nHeads: 4, nKvHeads: 2, headDim: 32, window: 5 },
    { B: 1, T: 70, nHeads: 3, nKvHeads: 1, headDim: 6, window: 20 },
    { B: 1, T: 7, nHeads: 4, nKvHeads: 2, headDim: 4, window: 7 },
  ];
  const cases: AttentionCase[] = shapes.map((s, i) => ({ ...s, seed: 100 + i }));
  const results = await page.evaluate((c) => kernelHarness.attention(c), cases);
  expect(results).toHaveLength(cases.length * 5);
  for (const r of results) {
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
  // Worst error per output over all cases, for the record.
  const worst = new Map<string, number>();
  for (const r of results) {
    const key = r.name.split(' ').pop()!;
    worst.set(key, Math.max(worst.get(key) ?? 0, r.maxAbsErr / Math.max(1, r.maxAbsRef)));
  }
  console.log(`attention max error / max(1, |ref|): ${[...worst].map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
});

test('attention prepare calls reject bad shapes and buffers with clear RangeErrors, allocating nothing', async ({ page }) => {
  const e = await page.evaluate(() => kernelHarness.attentionErrors());
  expect(e.undersizedK).toBe('RangeError: attention: k holds 159 floats, needs 160');
  expect(e.undersizedProbs).toBe('RangeError: attention: probs holds 159 floats, needs 200');
  expect(e.undersizedScratch).toBe('RangeError: attention: scratch holds 39 floats, needs 40');
  expect(e.indivisibleHeads).toBe('RangeError: attention: nHeads (4) must be divisible by nKvHeads (3)');
  expect(e.indivisibleHeadsBackward).toBe('RangeError: attention: nHeads (3) must be divisible by nKvHeads (2)');
  expect(e.headDimTooLarge).toBe('RangeError: attention: headDim 257 exceeds the supported maximum 256');
  expect(e.aliasedOutput).toMatch(/^RangeError: attention: dk and dv must be different buffers/);
  expect(e.uniformAllocated).toBeUndefined();
});

// Opt-in benchmark: ATTENTION_BENCH=1 PW_PORT=... npx playwright test packages/kernels/test/attention.spec.ts
test('attention timing (B=8, T=128, nHeads=4, nKvHeads=2, headDim=32)', async ({ page }) => {
  test.skip(!process.env.ATTENTION_BENCH, 'set ATTENTION_BENCH=1 to run');
  const t = await page.evaluate(() => kernelHarness.attentionTiming({ B: 8, T: 128, nHeads: 4, nKvHeads: 2, headDim: 32 }, 5));
  for (const [pass, r] of Object.entries(t)) console.log(`attention ${pass}: mean ${r.meanMs.toFixed(1)} ms, best ${r.minMs.toFixed(1)} ms`);
});
