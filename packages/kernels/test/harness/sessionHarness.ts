import {
  createLoraAdapter, estimateLoraSessionBytes, fakeQuantizeWeights, initLlamaWeights, planPeakBytes, quantizeWeights, LlamaModel, LoraTrainer, LORA_TARGETS, SeededRandom,
  type LlamaWeights, type LoraAdapter, type ModelConfig, type QuantizedLlamaWeights, type SubmodelPlan, type TokenBatch, type WeightFormat,
} from '@fedllm/core';
import { chooseLogitsChunkRows, createGpuContext, GpuBudgetExceededError, LoraTrainingSession } from '../../src/index';

export interface SessionCase {
  name: string;
  config: ModelConfig;
  plan: SubmodelPlan;
  batch: number;
  seqLen: number;
  steps: number;
  lr: number;
  seed: number;
  /** Global gradient-norm clipping on both engines. */
  clipNorm?: number;
  /** AdamW epsilon on both engines (a large eps makes Adam sensitive to gradient scale). */
  eps?: number;
  /** GPU only: run the LM head and loss in chunks of this many token rows. */
  logitsChunkRows?: number;
  /** GPU only: simulate a device binding at most this many bytes per tensor. */
  maxBindingBytes?: number;
  /** The CPU loss after the last step must be below this fraction of the first (default 0.9). */
  lossRatio?: number;
  /**
   * A quantized base: the GPU gets the weights packed (core's quantizeWeights), the CPU reference
   * runs on fakeQuantizeWeights of the same floats.
   */
  weightFormat?: WeightFormat;
  /** With weightFormat: give the session float32 weights and let it quantize them at upload. */
  quantizeAtUpload?: boolean;
  /** With weightFormat (not quantizeAtUpload): pack the vocabulary tables too, in this format. */
  vocabFormat?: WeightFormat;
}

/** The CPU reference's weights and the session's for a case (see SessionCase.weightFormat). */
function caseWeights(c: SessionCase, std: number): { cpu: LlamaWeights; gpu: LlamaWeights | QuantizedLlamaWeights; floats: LlamaWeights } {
  const floats = initLlamaWeights(c.config, new SeededRandom(c.seed), std);
  if (!c.weightFormat) return { cpu: floats, gpu: floats, floats };
  return {
    floats,
    cpu: fakeQuantizeWeights(c.config, floats, c.weightFormat, c.vocabFormat),
    gpu: c.quantizeAtUpload ? floats : quantizeWeights(c.config, floats, c.weightFormat, c.vocabFormat),
  };
}

export interface SessionResult {
  name: string;
  cpuLosses: number[];
  /** The CPU run again without clipping (only for cases with clipNorm): shows clipping matters. */
  cpuUnclippedLosses?: number[];
  /** The CPU run again on the unquantized weights (only for cases with weightFormat): shows quantization matters. */
  cpuFloatLosses?: number[];
  gpuLosses: number[];
  maxLoraDiff: number;
  maxLoraAbs: number;
  peakBytes: number;
  estimateBytes: number;
  /** Bytes of the per-dispatch uniform buffers (ledger group "uniform"), which the estimate leaves out. */
  uniformBytes: number;
  /** How the session bound its logits and vocabulary table. */
  logitsChunkRows: number;
  vocabSlices: number;
}

function batches(c: SessionCase): TokenBatch[] {
  const rng = new SeededRandom(c.seed + 100);
  // A few fixed batches cycled, with the first 3 positions of each row masked as a prompt.
  return Array.from({ length: 3 }, () => {
    const n = c.batch * c.seqLen;
    const inputIds = Int32Array.from({ length: n }, () => rng.int(c.config.vocabSize));
    const targets = Int32Array.from({ length: n }, (_, i) => (i % c.seqLen < 3 ? -1 : rng.int(c.config.vocabSize)));
    return { B: c.batch, T: c.seqLen, inputIds, targets };
  });
}

function freshAdapter(c: SessionCase): LoraAdapter {
  // B starts non-zero so A trains from the first step too.
  return createLoraAdapter(c.config, { rank: 3, alpha: 6, targets: [...LORA_TARGETS] }, c.plan.layers.map((l) => l.index), new SeededRandom(c.seed + 1), 0.05);
}

/** Trains the same LoRA on the CPU engine and on the GPU session and returns both loss curves. */
export async function trainingCurves(cases: SessionCase[]): Promise<SessionResult[]> {
  const ctx = await createGpuContext();
  const out: SessionResult[] = [];
  for (const c of cases) {
    const { cpu: weights, gpu: gpuWeights, floats } = caseWeights(c, 0.1);
    const data = batches(c);
    const cpuLora = freshAdapter(c);
    const cpu = new LoraTrainer(new LlamaModel(c.config, weights), cpuLora, { lr: c.lr, plan: c.plan, clipNorm: c.clipNorm, eps: c.eps });
    const cpuLosses = Array.from({ length: c.steps }, (_, s) => cpu.step(data[s % data.length]));
    let cpuUnclippedLosses: number[] | undefined;
    if (c.clipNorm) {
      const unclipped = new LoraTrainer(new LlamaModel(c.config, weights), freshAdapter(c), { lr: c.lr, plan: c.plan, eps: c.eps });
      cpuUnclippedLosses = Array.from({ length: c.steps }, (_, s) => unclipped.step(data[s % data.length]));
    }
    let cpuFloatLosses: number[] | undefined;
    if (c.weightFormat) {
      const float = new LoraTrainer(new LlamaModel(c.config, floats), freshAdapter(c), { lr: c.lr, plan: c.plan, clipNorm: c.clipNorm, eps: c.eps });
      cpuFloatLosses = Array.from({ length: c.steps }, (_, s) => float.step(data[s % data.length]));
    }
    const session = await LoraTrainingSession.create(ctx, {
      config: c.config, plan: c.plan, weights: gpuWeights, weightFormat: c.weightFormat, lora: freshAdapter(c), batch: c.batch, seqLen: c.seqLen,
      optimizer: { lr: c.lr, clipNorm: c.clipNorm, eps: c.eps }, logitsChunkRows: c.logitsChunkRows, maxBindingBytes: c.maxBindingBytes,
    });
    const uniformBytes = session.ledger.breakdown().find((g) => g.group === 'uniform')?.bytes ?? 0;
    const gpuLosses: number[] = [];
    const logitsChunkRows = session.logitsChunkRows, vocabSlices = session.vocabSlices.length;
    for (let s = 0; s < c.steps; s++) gpuLosses.push((await session.step(data[s % data.length])).loss);
    const gpuLora = await session.readLora();
    let maxLoraDiff = 0, maxLoraAbs = 0;
    for (const [l, layer] of cpuLora.layers) {
      for (const [t, p] of Object.entries(layer)) {
        const gpuPair = gpuLora.layers.get(l)?.[t as 'q'];
        if (!gpuPair) continue; // a skipped sub-block's LoRA is not on the GPU (and never trains)
        for (const w of ['A', 'B'] as const) {
          const a = p![w].data, b = gpuPair[w].data;
          for (let i = 0; i < a.length; i++) {
            maxLoraDiff = Math.max(maxLoraDiff, Math.abs(a[i] - b[i]));
            maxLoraAbs = Math.max(maxLoraAbs, Math.abs(a[i]));
          }
        }
      }
    }
    const estimateBytes = estimateLoraSessionBytes({
      config: c.config, plan: c.plan, lora: cpuLora.config, batch: c.batch, seqLen: c.seqLen, clipNorm: c.clipNorm, logitsChunkRows, weightFormat: c.weightFormat, vocabFormat: c.vocabFormat,
    }).totalBytes;
    out.push({ name: c.name, cpuLosses, cpuUnclippedLosses, cpuFloatLosses, gpuLosses, maxLoraDiff, maxLoraAbs, peakBytes: session.peakBytes, estimateBytes, uniformBytes, logitsChunkRows, vocabSlices });
    session.destroy();
  }
  ctx.device.destroy();
  return out;
}

/** Building a session under a budget: too small fails with the typed error, enough fits. */
export async function sessionBudget(c: SessionCase): Promise<{ tooSmall: string; fitsPeak: number; budget: number; estimate: number }> {
  const ctx = await createGpuContext();
  const weights = initLlamaWeights(c.config, new SeededRandom(c.seed), 0.1);
  const estimate = estimateLoraSessionBytes({ config: c.config, plan: c.plan, lora: freshAdapter(c).config, batch: c.batch, seqLen: c.seqLen }).totalBytes;
  const spec = { config: c.config, plan: c.plan, weights, lora: freshAdapter(c), batch: c.batch, seqLen: c.seqLen, optimizer: { lr: c.lr } };
  let tooSmall = '';
  try {
    await LoraTrainingSession.create(ctx, { ...spec, budgetBytes: Math.floor(estimate * 0.8) });
  } catch (e) {
    tooSmall = e instanceof GpuBudgetExceededError ? `GpuBudgetExceededError: ${e.message}` : `other: ${(e as Error).message}`;
  }
  // The planner's prediction (buffers + its reserve for the per-dispatch uniform buffers) must fit.
  const budget = planPeakBytes({ config: c.config, lora: freshAdapter(c).config, batch: c.batch, seqLen: c.seqLen }, c.plan);
  const s = await LoraTrainingSession.create(ctx, { ...spec, budgetBytes: budget });
  await s.step(batches(c)[0]);
  const fitsPeak = s.peakBytes;
  s.destroy();
  ctx.device.destroy();
  return { tooSmall, fitsPeak, budget, estimate };
}

/** Forward-only session: logits of a frozen model against the CPU engine's. */
export async function forwardLogits(c: SessionCase): Promise<{ maxAbsErr: number; maxAbsRef: number; n: number; vocabSlices: number }> {
  const ctx = await createGpuContext();
  const { cpu: weights, gpu: gpuWeights } = caseWeights(c, 0.3);
  const data = batches(c)[0];
  const ref = new LlamaModel(c.config, weights).logits(data, { plan: c.plan });
  // Logits read back are bound whole, so a simulated binding limit must at least hold them.
  const maxBindingBytes = c.maxBindingBytes && Math.max(c.maxBindingBytes, c.batch * c.seqLen * c.config.vocabSize * 4);
  const s = await LoraTrainingSession.create(ctx, { config: c.config, plan: c.plan, weights: gpuWeights, weightFormat: c.weightFormat, batch: c.batch, seqLen: c.seqLen, readLogits: true, maxBindingBytes });
  const got = await s.logits(data.inputIds);
  const vocabSlices = s.vocabSlices.length;
  s.destroy();
  ctx.device.destroy();
  let maxAbsErr = 0, maxAbsRef = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbsErr = Math.max(maxAbsErr, Math.abs(got[i] - ref[i]));
    maxAbsRef = Math.max(maxAbsRef, Math.abs(ref[i]));
  }
  return { maxAbsErr, maxAbsRef, n: got.length, vocabSlices };
}

/** Overlapping calls on one session are refused (they share staging buffers), not corrupted. */
export async function sessionBusy(c: SessionCase): Promise<{ second: string; afterwards: number; badLr: string; stepAfterBadLr: number }> {
  const ctx = await createGpuContext();
  const weights = initLlamaWeights(c.config, new SeededRandom(c.seed), 0.1);
  const s = await LoraTrainingSession.create(ctx, { config: c.config, plan: c.plan, weights, lora: freshAdapter(c), batch: c.batch, seqLen: c.seqLen, optimizer: { lr: c.lr } });
  const data = batches(c)[0];
  const first = s.step(data);
  const second = await s.step(data).then(() => 'no error', (e: Error) => e.message);
  await first;
  const afterwards = (await s.step(data)).loss;
  const badLr = await s.step(data, Number.NaN).then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
  const stepAfterBadLr = (await s.step(data)).loss;
  s.destroy();
  ctx.device.destroy();
  return { second, afterwards, badLr, stepAfterBadLr };
}

/**
 * How a session picks its logits chunk: asked-for chunks are checked, and a model whose full
 * logits would not fit one binding is chunked by itself (shown with a vocabulary so large that
 * B·T rows of it exceed this device's real maxStorageBufferBindingSize).
 */
export async function logitsChunking(c: SessionCase): Promise<{ align: number; maxBinding: number; auto: number; autoM: number; errors: string[]; fits: number }> {
  const ctx = await createGpuContext();
  const align = ctx.device.limits.minStorageBufferOffsetAlignment, maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const lora = freshAdapter(c);
  const huge = { ...c.config, vocabSize: Math.ceil(maxBinding / 4 / 256) + 1 }; // 256 rows of logits > one binding
  const auto = chooseLogitsChunkRows({ config: huge, batch: 2, seqLen: 128, lora }, maxBinding, align);
  const errors: string[] = [];
  for (const rows of [0, 1.5, align / 4 + 1]) {
    try {
      chooseLogitsChunkRows({ config: c.config, batch: 4, seqLen: 64, lora, logitsChunkRows: rows }, maxBinding, align);
      errors.push('no error');
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  try {
    chooseLogitsChunkRows({ config: c.config, batch: 4, seqLen: 64, readLogits: true, logitsChunkRows: align / 4 }, maxBinding, align);
    errors.push('no error');
  } catch (e) {
    errors.push((e as Error).message);
  }
  const fits = chooseLogitsChunkRows({ config: c.config, batch: 1, seqLen: 8, lora, logitsChunkRows: 64 }, maxBinding, align);
  return { align, maxBinding, auto, autoM: 256, errors, fits };
}
