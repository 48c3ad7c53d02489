// A 2-layer submodel of SmolLM2-135M trained a few steps in the real training worker (headless
// Chromium, WebGPU) with its Q4_1 projections and Q8_0 embedding (the tied LM head) packed on the
// GPU, sent to the worker as packed safetensors, against the CPU engine running the
// same steps on the same dequantized weights.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO_ROOT, withHeadlessPage } from '../src/browser/headlessChromium';
import { fetchPretrained } from '../src/models/fetchPretrained';
import { pretrainedModel } from '../src/models/pretrainedCatalog';

const MODEL = pretrainedModel('smollm2-135m-instruct');
const modelsRoot = join(REPO_ROOT, 'models');

before(async () => {
  await fetchPretrained(MODEL, { modelsRoot });
});

interface Result {
  cpuLosses: number[]; gpuLosses: number[]; peakBytes: number; estimateBytes: number; plannedBytes: number; plannedF32Bytes: number; tokensPerSecond: number;
  vocabFormat: string; baseWireBytes: number;
}

test('a 2-layer SmolLM2 submodel with a packed base (q4_1 projections, q8_0 embedding) trains on WebGPU as on the CPU engine', async () => {
  const r = await withHeadlessPage({ path: '/test-pages/ggufTraining.html', modelDir: join(modelsRoot, MODEL.id) }, async (page) => {
    await page.waitForFunction(() => 'trainGgufPlan' in globalThis);
    return page.evaluate(
      (o) => (globalThis as unknown as { trainGgufPlan(o: unknown): Promise<Result> }).trainGgufPlan(o),
      { layers: [2, 21], batch: 1, seqLen: 16, steps: 5, lr: 2e-3, seed: 3, cpuReference: true, format: 'q4_1', budgetBytes: 2 ** 31 },
    );
  });
  assert.equal(r.gpuLosses.length, 5);
  r.gpuLosses.forEach((g, i) => {
    // float32 on both sides, different summation orders (measured: 2e-5 relative at step 5).
    assert.ok(Math.abs(g - r.cpuLosses[i]) <= 1e-3 * Math.abs(r.cpuLosses[i]), `step ${i + 1}: gpu ${g} vs cpu ${r.cpuLosses[i]}`);
  });
  assert.ok(r.gpuLosses[4] < r.gpuLosses[0] - 1, `the loss falls: ${r.gpuLosses.map((l) => l.toFixed(3)).join(', ')}`);
  // The ledger counts the packed words; the planner predicts it (plus its uniform reserve).
  assert.ok(r.peakBytes <= r.plannedBytes, `peak ${r.peakBytes} within the planned ${r.plannedBytes}`);
  assert.equal(r.vocabFormat, 'q8_0');
  // Packed: 2 layers' projections (2 x 3.4M weights at 24 bytes per 32) + the 28.3M-value table at 36 bytes per 32, about 37 MB;
  // as float32 the table alone is 113 MB.
  assert.ok(r.baseWireBytes < 40e6, `the base travels packed: ${r.baseWireBytes} bytes`);
  assert.ok(r.plannedBytes < r.plannedF32Bytes - 100e6, `4-bit projections and the 8-bit table save memory: ${r.plannedBytes} vs ${r.plannedF32Bytes} as float32`);
});
