import { test, expect } from '@playwright/test';

declare const workerHarness: {
  trainAndCompare(): Promise<{ info: { vendor: string }; cpuLosses: number[]; gpuLosses: number[]; peakBytes: number; estimateBytes: number; plannedBytes: number; loraBytes: number; tokensPerSecond: number }>;
  failureModes(): Promise<{ overBudget: string; cancelled: string; afterLoss: string; recovered: number }>;
  trainQuantized(format: 'int8' | 'int4'): Promise<{ cpuLosses: number[]; gpuLosses: number[]; peakBytes: number; estimateBytes: number; f32Planned: number; mismatch: string }>;
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

test('the worker trains on a quantized base sent as packed projections (int8, int4) and follows the CPU on the fake-quantized model', async ({ page }) => {
  for (const format of ['int8', 'int4'] as const) {
    const r = await page.evaluate((f) => workerHarness.trainQuantized(f), format);
    const worst = Math.max(...r.cpuLosses.map((cpu, s) => Math.abs(r.gpuLosses[s] - cpu) / cpu));
    console.log(`worker ${format}: worst loss error ${worst.toExponential(2)}, peak ${r.peakBytes}, estimate ${r.estimateBytes}, f32 planned ${r.f32Planned}`);
    expect(r.gpuLosses).toHaveLength(r.cpuLosses.length);
    r.cpuLosses.forEach((cpu, s) => expect(Math.abs(r.gpuLosses[s] - cpu) / cpu, `${format} step ${s}`).toBeLessThan(1e-3));
    // Buffers exactly as estimated for the format, plus the per-dispatch uniforms (under 16 KiB).
    expect(r.peakBytes).toBeGreaterThanOrEqual(r.estimateBytes);
    expect(r.peakBytes).toBeLessThanOrEqual(r.estimateBytes + 16384);
    expect(r.peakBytes, `${format}: smaller than the f32 session's planned peak`).toBeLessThan(r.f32Planned);
    expect(r.mismatch).toMatch(/^HfWeightsError: quantized base: .* is packed as int[48], not int[48]/);
  }
});
