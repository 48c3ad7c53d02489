import { test, expect } from '@playwright/test';

declare const workerHarness: {
  trainAndCompare(): Promise<{ info: { vendor: string }; cpuLosses: number[]; gpuLosses: number[]; peakBytes: number; estimateBytes: number; plannedBytes: number; loraBytes: number; tokensPerSecond: number }>;
  failureModes(): Promise<{ overBudget: string; cancelled: string; afterLoss: string; recovered: number }>;
};

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/worker.html');
  await page.waitForFunction(() => 'workerHarness' in globalThis);
});

test('the training worker trains a submodel on WebGPU and follows the CPU loss curve', async ({ page }) => {
  const r = await page.evaluate(() => workerHarness.trainAndCompare());
  expect(r.gpuLosses).toHaveLength(r.cpuLosses.length);
  r.cpuLosses.forEach((cpu, s) => expect(Math.abs(r.gpuLosses[s] - cpu) / cpu, `step ${s}`).toBeLessThan(1e-3));
  expect(r.peakBytes).toBeGreaterThanOrEqual(r.estimateBytes);
  // The buffers are the estimate; the per-dispatch uniform buffers come on top, within the planner's reserve.
  expect(r.peakBytes).toBeLessThanOrEqual(r.plannedBytes);
  expect(r.loraBytes).toBeGreaterThan(8);
  expect(r.tokensPerSecond).toBeGreaterThan(0);
});

test('the worker refuses an impossible budget, stops a cancelled job and survives a lost device, with typed errors', async ({ page }) => {
  const r = await page.evaluate(() => workerHarness.failureModes());
  expect(r.overBudget).toMatch(/^GpuBudgetExceededError: GPU memory budget exceeded/);
  expect(r.cancelled).toMatch(/^TrainingCancelledError: training run job-1 cancelled after \d+ step\(s\)/);
  expect(r.afterLoss).toMatch(/^DeviceLostError: GPU device lost \(destroyed\)/);
  expect(r.recovered).toBe(12);
});
