import { test, expect } from '@playwright/test';
import type { KernelHarness, SessionCase } from './harness/index';

declare const kernelHarness: KernelHarness;

const base = {
  architecture: 'LlamaForCausalLM' as const, vocabSize: 37, hiddenSize: 16, intermediateSize: 22, numLayers: 4, numHeads: 4,
  numKvHeads: 2, headDim: 4, maxPositionEmbeddings: 32, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: true,
  attentionBias: false, oProjBias: false, mlpBias: false,
};

// Wide enough that the vocabulary table outgrows a small binding limit before anything else does.
const big = { ...base, vocabSize: 300, hiddenSize: 128, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 32, maxPositionEmbeddings: 64 };

const cases: SessionCase[] = [
  {
    name: 'GQA, layer 1 dropped, attention of layer 2 and MLP of layer 3 skipped',
    config: base,
    plan: { layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: false, mlp: true }, { index: 3, attention: true, mlp: false }] },
    batch: 2, seqLen: 9, steps: 20, lr: 1e-2, seed: 1,
  },
  {
    name: 'full depth, untied head, Qwen2-style q/k/v bias',
    config: { ...base, architecture: 'Qwen2ForCausalLM', tieWordEmbeddings: false, attentionBias: true, numKvHeads: 1 },
    plan: { layers: [0, 1, 2, 3].map((index) => ({ index, attention: true, mlp: true })) },
    batch: 3, seqLen: 7, steps: 20, lr: 5e-3, seed: 2,
  },
  {
    name: 'global gradient-norm clipping (large AdamW eps, so the gradient scale matters)',
    config: base,
    plan: { layers: [0, 1, 2, 3].map((index) => ({ index, attention: index !== 1, mlp: true })) },
    batch: 2, seqLen: 9, steps: 12, lr: 5, seed: 3, clipNorm: 0.05, eps: 1,
  },
  {
    // 2 x 72 = 144 token rows in chunks of 64, 64 and 16: the LM head, loss and its input
    // gradient run per chunk on slices of the activations, over a [64, vocab] logits buffer.
    name: 'logits in 64-row chunks (LM head + loss chunked), layer 2 dropped',
    config: { ...base, maxPositionEmbeddings: 80 },
    plan: { layers: [0, 1, 3].map((index) => ({ index, attention: true, mlp: true })) },
    batch: 2, seqLen: 72, steps: 20, lr: 2e-2, seed: 4, logitsChunkRows: 64, lossRatio: 0.95,
  },
  {
    // A device binding at most 80000 bytes: the 300 x 128 embedding (153600 bytes) is bound in
    // row slices of 128, 128 and 44 rows (gather per slice, LM head columns per slice), and the
    // 80 x 300 logits in chunks of 64 and 16 rows.
    name: 'tied vocabulary table in row slices and logits in chunks, under an 80000-byte binding limit',
    config: { ...big, tieWordEmbeddings: true },
    plan: { layers: [0, 1].map((index) => ({ index, attention: true, mlp: true })) },
    batch: 2, seqLen: 40, steps: 20, lr: 2e-2, seed: 5, maxBindingBytes: 80_000, lossRatio: 0.95,
  },
  {
    name: 'untied LM head and embedding in row slices, under an 80000-byte binding limit',
    config: { ...big, tieWordEmbeddings: false },
    plan: { layers: [{ index: 0, attention: true, mlp: false }, { index: 1, attention: true, mlp: true }] },
    batch: 2, seqLen: 40, steps: 20, lr: 2e-2, seed: 6, maxBindingBytes: 80_000, lossRatio: 0.95,
  },
];

test.beforeEach(async ({ page }) => {
  await page.goto('/test-pages/kernels.html');
  await page.waitForFunction(() => 'kernelHarness' in globalThis);
});

test('a 20-step WebGPU LoRA training run follows the CPU reference loss curve', async ({ page }) => {
  const results = await page.evaluate((c) => kernelHarness.trainingCurves(c), cases);
  for (const [i, r] of results.entries()) {
    expect(r.gpuLosses).toHaveLength(r.cpuLosses.length);
    r.cpuLosses.forEach((cpu, s) => {
      expect(Math.abs(r.gpuLosses[s] - cpu) / cpu, `${r.name}, step ${s}: gpu ${r.gpuLosses[s]} vs cpu ${cpu}`).toBeLessThan(1e-3);
    });
    // Random targets over 80-144 rows (the chunked cases) are slower to fit than over 18-21.
    expect(r.cpuLosses[r.cpuLosses.length - 1], `${r.name}: training must reduce the loss`).toBeLessThan(r.cpuLosses[0] * (cases[i].lossRatio ?? 0.9));
    if (r.cpuUnclippedLosses) {
      const gap = Math.max(...r.cpuUnclippedLosses.map((u, s) => Math.abs(u - r.cpuLosses[s]) / r.cpuLosses[s]));
      expect(gap, `${r.name}: clipping must change this run for the comparison to mean anything`).toBeGreaterThan(1e-2);
    }
    expect(r.maxLoraDiff, `${r.name}: trained LoRA weights`).toBeLessThan(1e-3 * Math.max(1, r.maxLoraAbs));
    if (cases[i].logitsChunkRows) expect(r.logitsChunkRows).toBe(cases[i].logitsChunkRows);
    if (cases[i].maxBindingBytes) {
      expect(r.vocabSlices, `${r.name}: the vocabulary table is sliced`).toBe(3);
      expect(r.logitsChunkRows, `${r.name}: logits are chunked`).toBe(64);
    }
    expect(r.peakBytes, `${r.name}: peak vs estimate`).toBeGreaterThanOrEqual(r.estimateBytes);
    // The estimate leaves out the uniform buffers (16-48 bytes per dispatch, ~11 KB for the default model):
    // allow them as an absolute 16 KiB, which is large next to these toy models and negligible for real ones.
    expect(r.peakBytes, `${r.name}: peak vs estimate`).toBeLessThanOrEqual(r.estimateBytes + 16384);
  }
});

test('a session that cannot fit its budget fails with the typed error; one that fits peaks within it', async ({ page }) => {
  const r = await page.evaluate((c) => kernelHarness.sessionBudget(c), cases[0]);
  expect(r.tooSmall).toMatch(/^GpuBudgetExceededError: GPU memory budget exceeded/);
  expect(r.fitsPeak).toBeLessThanOrEqual(r.budget);
  expect(r.fitsPeak).toBeGreaterThanOrEqual(r.estimate);
});

test('a forward-only session gives the CPU engine\'s logits (plans with skipped parts, biases, untied head)', async ({ page }) => {
  for (const c of cases) {
    const r = await page.evaluate((x) => kernelHarness.forwardLogits(x), c);
    expect(r.n).toBe(c.batch * c.seqLen * c.config.vocabSize);
    if (c.maxBindingBytes) expect(r.vocabSlices, `${c.name}: vocabulary table sliced`).toBeGreaterThan(1);
    expect(r.maxAbsErr, c.name).toBeLessThanOrEqual(1e-4 * Math.max(1, r.maxAbsRef));
  }
});

test('overlapping calls and a bad learning rate are refused without corrupting the session', async ({ page }) => {
  const r = await page.evaluate((c) => kernelHarness.sessionBusy(c), cases[0]);
  expect(r.second).toMatch(/session is busy/);
  expect(Number.isFinite(r.afterwards)).toBe(true);
  expect(r.badLr).toMatch(/^RangeError: step: learning rate must be a finite number/);
  expect(Number.isFinite(r.stepAfterBadLr)).toBe(true);
});

test('logits are chunked by themselves when B·T rows exceed one binding; bad chunk sizes are refused', async ({ page }) => {
  const r = await page.evaluate((c) => kernelHarness.logitsChunking(c), cases[3]);
  const step = r.align / 4;
  expect(r.auto).toBeGreaterThanOrEqual(step);
  expect(r.auto % step).toBe(0);
  expect(r.auto).toBeLessThan(r.autoM);
  expect(r.errors[0]).toMatch(/positive integer/);
  expect(r.errors[1]).toMatch(/positive integer/);
  expect(r.errors[2]).toMatch(new RegExp(`multiple of ${step}`));
  expect(r.errors[3]).toMatch(/reads logits back/);
  expect(r.fits).toBe(8); // a chunk larger than B·T is just B·T
});
