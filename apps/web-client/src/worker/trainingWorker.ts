// The training worker: owns a GPUDevice and runs LoRA training sessions on it, off the page's
// main thread. Exposed with comlink; its API type lives in @fedllm/core (TrainingWorkerApi).
import * as Comlink from 'comlink';
import {
  estimateLoraSessionBytes, loraFromPeft, loraToPeftTensors, parsePackedSafetensors, parseSafetensors, peftAdapterConfig, quantizedWeightsFromHfTensors,
  serializeSafetensors, vocabFormatOf, weightsFromHfTensors, type QuantizedMatrix, type Tensor, type TrainingWorkerApi, type WorkerTrainRequest,
  type WorkerTrainResult,
} from '@fedllm/core';
import { createGpuContext, KernelSet, LoraTrainingSession, type GpuContext } from '@fedllm/kernels';

let ctxPromise: Promise<GpuContext> | undefined;

/**
 * The worker's device. A lost device is gone for good: work in flight when it is lost rejects
 * with DeviceLostError (the session races every GPU wait against device.lost), and the next call
 * gets a fresh device.
 */
async function gpu(): Promise<GpuContext> {
  const current = ctxPromise;
  if (current) {
    const ctx = await current.catch(() => undefined);
    if (ctx && !ctx.lostError) return ctx;
    if (ctxPromise === current) ctxPromise = undefined; // lost, or creation failed: start over
  }
  // One creation at a time: concurrent callers share it; a failed creation is not cached.
  ctxPromise ??= createGpuContext().catch((e: unknown) => {
    ctxPromise = undefined;
    throw e;
  });
  return ctxPromise;
}

/** Compiled pipelines are per device: keep one KernelSet for the current device. */
let kernels: { device: GPUDevice; set: KernelSet } | undefined;
function kernelSet(ctx: GpuContext): KernelSet {
  if (kernels?.device !== ctx.device) kernels = { device: ctx.device, set: new KernelSet(ctx.device) };
  return kernels.set;
}

/** Job ids asked to stop (checked between steps); bounded, oldest dropped first. */
const cancelledJobs = new Set<string>();

class TrainingCancelledError extends Error {
  override name = 'TrainingCancelledError';
}

function checkCancelled(req: WorkerTrainRequest, step: number): void {
  if (req.jobId !== undefined && cancelledJobs.delete(req.jobId)) throw new TrainingCancelledError(`training run ${req.jobId} cancelled after ${step} step(s)`);
}

async function train(req: WorkerTrainRequest): Promise<WorkerTrainResult> {
  const ctx = await gpu();
  const { config, plan, batches } = req;
  const n = batches.batch * batches.seqLen;
  if (!Number.isInteger(req.steps) || req.steps < 1 || batches.inputIds.length < n || batches.inputIds.length % n !== 0 || batches.targets.length !== batches.inputIds.length) {
    throw new RangeError(`train: need ${req.steps} step(s) of ${batches.batch}x${batches.seqLen} tokens; got ${batches.inputIds.length} ids and ${batches.targets.length} targets`);
  }
  const tensors = new Map<string, Tensor>(), packed = new Map<string, QuantizedMatrix>();
  for (const part of req.baseTensors) {
    const file = parsePackedSafetensors(new Uint8Array(part));
    for (const [name, x] of [...file.floats, ...file.packed]) {
      if (tensors.has(name) || packed.has(name)) throw new RangeError(`train: tensor "${name}" appears in two base-tensor files`);
      if ('words' in x) packed.set(name, x);
      else tensors.set(name, x);
    }
  }
  const weightFormat = req.weightFormat ?? 'f32';
  if (weightFormat === 'f32' && packed.size) throw new RangeError(`train: the base parts hold packed tensors (${[...packed.keys()][0]}, ...) but weightFormat is f32`);
  const weights = weightFormat === 'f32' ? weightsFromHfTensors(config, tensors, { plan }) : quantizedWeightsFromHfTensors(config, tensors, packed, weightFormat, plan);
  const lora = loraFromPeft(peftAdapterConfig({ config: req.loraConfig, layers: new Map() }, config, 'worker'), parseSafetensors(new Uint8Array(req.lora)), config, { plan });
  const t0 = performance.now();
  const session = await LoraTrainingSession.create(ctx, {
    config, plan, weights, weightFormat, lora, batch: batches.batch, seqLen: batches.seqLen, budgetBytes: req.budgetBytes, optimizer: { lr: req.lr, clipNorm: req.clipNorm },
    logitsChunkRows: req.logitsChunkRows,
  }, kernelSet(ctx));
  try {
    const buildMs = performance.now() - t0;
    const available = batches.inputIds.length / n;
    const losses: number[] = [], stepMs: number[] = [];
    for (let s = 0; s < req.steps; s++) {
      checkCancelled(req, s);
      const k = (s % available) * n;
      const t = performance.now();
      const r = await session.step({ B: batches.batch, T: batches.seqLen, inputIds: batches.inputIds.subarray(k, k + n), targets: batches.targets.subarray(k, k + n) });
      stepMs.push(performance.now() - t);
      losses.push(r.loss);
    }
    const trained = await session.readLora();
    const bytes = serializeSafetensors(loraToPeftTensors(trained));
    const totalMs = stepMs.reduce((a, b) => a + b, 0);
    const result: WorkerTrainResult = {
      lora: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      losses,
      peakBytes: session.peakBytes,
      estimateBytes: estimateLoraSessionBytes({
        config, plan, lora: req.loraConfig, batch: batches.batch, seqLen: batches.seqLen, clipNorm: req.clipNorm, weightFormat, logitsChunkRows: session.logitsChunkRows,
        vocabFormat: vocabFormatOf(weights),
      }).totalBytes,
      tokensPerSecond: (req.steps * n) / (totalMs / 1000),
      buildMs,
      stepMs,
    };
    return Comlink.transfer(result, [result.lora]);
  } finally {
    session.destroy();
  }
}

const api: TrainingWorkerApi = {
  async init() {
    const ctx = await gpu();
    return {
      vendor: ctx.adapterInfo.vendor, architecture: ctx.adapterInfo.architecture, description: ctx.adapterInfo.description,
      maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize, maxBufferSize: ctx.limits.maxBufferSize,
    };
  },
  train,
  async cancel(jobId: string) {
    cancelledJobs.add(jobId);
    if (cancelledJobs.size > 64) cancelledJobs.delete(cancelledJobs.values().next().value!);
  },
  async loseDeviceForTesting() {
    const ctx = await gpu();
    ctx.device.destroy();
    await ctx.lost;
  },
};

Comlink.expose(api);
