import { test, expect } from '@playwright/test';
import type { KernelHarness } from './harness/index';
import type { ElementwiseCase } from './harness/elementwiseHarness';

declare const kernelHarness: KernelHarness;

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

// Past 65535 workgroups of 64: the grid must go 2-D.
const LARGE = 65535 * 64 + 4099;

test('elementwise kernels match the CPU reference at odd sizes and beyond one grid dimension', async ({ page }) => {
  const cases: ElementwiseCase[] = [];
  let seed = 1;
  for (const n of [1, 3, 63, 65, 1000, 4097]) {
    for (const op of ['add', 'copy', 'fill', 'axpy', 'swigluForward', 'swigluBackward'] as const) {
      cases.push({ op, n, scalar: seed % 2 ? -1.375 : 0.3, scale: op.startsWith('swiglu') ? 12 : 1, seed: seed++ });
    }
  }
  for (const [n, D, vocab] of [[1, 1, 1], [7, 5, 3], [33, 67, 50], [64, 128, 1000]]) cases.push({ op: 'gather', n, D, vocab, seed: seed++ });
  for (const op of ['add', 'copy', 'fill', 'axpy', 'swigluForward', 'swigluBackward'] as const) {
    cases.push({ op, n: LARGE, scalar: 0.5, scale: op.startsWith('swiglu') ? 12 : 1, seed: seed++ });
  }
  cases.push({ op: 'gather', n: 4111, D: 1021, vocab: 97, seed: seed++ }); // 4111·1021 > 65535·64
  const results = await page.evaluate((c) => kernelHarness.elementwise(c), cases);
  expect(results.length).toBeGreaterThanOrEqual(cases.length);
  let worst = 0;
  for (const r of results) {
    worst = Math.max(worst, r.maxAbsErr / Math.max(1, r.maxAbsRef));
    // add/copy/fill/gather are exact; axpy may fuse into one fma; swiglu's exp is float32.
    expect(r.maxAbsErr, r.name).toBeLessThanOrEqual(1e-5 * Math.max(1, r.maxAbsRef));
  }
  console.log(`elementwise: worst maxAbsErr / max(1, |ref|) = ${worst.toExponential(2)}`);
  for (const r of results.filter((x) => /^(add|copy|fill|gather)/.test(x.name))) expect(r.maxAbsErr, r.name).toBe(0);
});

test('elementwise prepare() rejects undersized and aliased buffers with a clear RangeError', async ({ page }) => {
  const errors = await page.evaluate(() => kernelHarness.elementwiseErrors());
  expect(errors).toEqual([
    'RangeError: add: out holds 99 floats, needs 100',
    'RangeError: copy: src holds 9 floats, needs 10',
    'RangeError: fill: n must be a positive integer, got 0',
    'RangeError: scaleAccumulate: y holds 7 floats, needs 8',
    'RangeError: embeddingGather: ids holds 5 int32 values, needs 6',
    'RangeError: embeddingGather: table holds 11 floats, needs 12',
    'RangeError: swigluBackward: dUp holds 15 floats, needs 16',
    'RangeError: add: a and out are the same buffer; they must not alias',
    'RangeError: swigluBackward: up and dGate are the same buffer; they must not alias',
    'RangeError: token id 3 at position 2 outside vocabulary [0, 3)',
  ]);
});
