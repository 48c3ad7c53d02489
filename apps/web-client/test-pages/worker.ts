// Drives the real training worker (Dedicated Worker + comlink + WebGPU) from a page and compares
// its training run with the CPU reference engine running on the same data in the page.
import * as Comlink from 'comlink';
import {
  createLoraAdapter, fakeQuantizeWeights, hfProjectionName, initLlamaWeights, LlamaModel, LORA_TARGETS, loraForPlan, loraToPeftTensors, LoraTrainer,
  planPeakBytes, PROJECTION_WEIGHTS, quantizeWeights, SeededRandom, serializePackedSafetensors, serializeSafetensors, weightsToHfTensors, type ModelConfig, type QuantizedMatrix,
  type SubmodelPlan, type TrainingWorkerApi,
} from '@fedllm/core';

const config: ModelConfig = {
  architecture: 'LlamaForCausalLM', vocabSize: 41, hiddenSize: 16, intermediateSize: 20, numLayers: 3, numHeads: 4,
  numKvHeads: 2, headDim: 4, maxPositionEmbeddings: 32, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: true,
  attentionBias: false, oProjBias: false, mlpBias: false,
};
const plan: SubmodelPlan = { layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: true, mlp: false }] };
const B = 2, T = 8, STEPS = 12, LR = 1e-2;

function toBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

function request(budgetBytes: number) {
  const rng = new SeededRandom(7);
  const weights = initLlamaWeights(config, rng, 0.1);
  const loraConfig = { rank: 2, alpha: 4, targets: [...LORA_TARGETS] };
  const lora = createLoraAdapter(config, loraConfig, plan.layers.map((l) => l.index), new SeededRandom(8), 0.05);
  const inputIds = Int32Array.from({ length: 3 * B * T }, () => rng.int(config.vocabSize));
  const targets = Int32Array.from({ length: 3 * B * T }, (_, i) => (i % T < 2 ? -1 : rng.int(config.vocabSize)));
  // Only the kept layers' base tensors travel, as the coordinator will send them.
  const kept = new Set(plan.layers.map((l) => l.index));
  const base = new Map([...weightsToHfTensors(config, weights)].filter(([n]) => !/^model\.layers\.(\d+)\./.test(n) || kept.has(Number(/^model\.layers\.(\d+)\./.exec(n)![1]))));
  return {
    weights, lora,
    req: {
      config, plan, baseTensors: [toBuffer(serializeSafetensors(base))], lora: toBuffer(serializeSafetensors(loraToPeftTensors(loraForPlan(lora, plan)))), // what the coordinator sends: the plan's pairs only
      loraConfig, batches: { batch: B, seqLen: T, inputIds, targets }, steps: STEPS, lr: LR, budgetBytes,
    },
  };
}

function startWorker() {
  return Comlink.wrap<TrainingWorkerApi>(new Worker(new URL('../src/worker/trainingWorker.ts', import.meta.url), { type: 'module' }));
}

async function trainAndCompare() {
  const worker = startWorker();
  const info = await worker.init();
  const { weights, lora, req } = request(64 * 1024 * 1024);
  const cpu = new LoraTrainer(new LlamaModel(config, weights), lora, { lr: LR, plan });
  const n = B * T;
  const cpuLosses = Array.from({ length: STEPS }, (_, s) => {
    const k = (s % 3) * n;
    return cpu.step({ B, T, inputIds: req.batches.inputIds.slice(k, k + n), targets: req.batches.targets.slice(k, k + n) });
  });
  const r = await worker.train(req);
  // What the coordinator's planner predicts for this plan (buffers + its uniform reserve).
  const plannedBytes = planPeakBytes({ config, lora: req.loraConfig, batch: B, seqLen: T }, plan);
  return { info, cpuLosses, gpuLosses: r.losses, peakBytes: r.peakBytes, estimateBytes: r.estimateBytes, plannedBytes, loraBytes: r.lora.byteLength, tokensPerSecond: r.tokensPerSecond };
}

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

async function failureModes() {
  const worker = startWorker();
  await worker.init();
  const overBudget = await errorName(worker.train(request(4096).req));
  // A cancelled job stops between steps with a typed error; another job's id does not stop it.
  const job = worker.train({ ...request(64 * 1024 * 1024).req, steps: 2000, jobId: 'job-1' });
  await worker.cancel('job-2');
  await new Promise((r) => setTimeout(r, 300));
  await worker.cancel('job-1');
  const cancelled = await errorName(job);
  // Lose the device while a training run is in flight.
  const inFlight = worker.train({ ...request(64 * 1024 * 1024).req, steps: 2000 });
  await new Promise((r) => setTimeout(r, 300));
  await worker.loseDeviceForTesting();
  const afterLoss = await errorName(inFlight);
  // The next call builds a fresh device and trains again.
  const recovered = (await worker.train(request(64 * 1024 * 1024).req)).losses.length;
  return { overBudget, cancelled, afterLoss, recovered };
}

/**
 * A quantized base through the worker: the kept projections travel packed (packed words in one
 * safetensors file, as the coordinator's parts), the rest as floats; the CPU reference trains on
 * the fake-quantized weights.
 */
async function trainQuantized(format: 'int8' | 'int4') {
  const worker = startWorker();
  await worker.init();
  const { weights, lora, req } = request(64 * 1024 * 1024);
  const packedAll = quantizeWeights(config, weights, format);
  const packed = new Map<string, QuantizedMatrix>();
  const kept = new Map(plan.layers.map((l) => [l.index, l]));
  const floats = new Map([...weightsToHfTensors(config, weights)].filter(([n]) => !/^model\.layers\.(\d+)\./.test(n) || kept.has(Number(/^model\.layers\.(\d+)\./.exec(n)![1]))));
  for (const [i, l] of kept) {
    for (const name of PROJECTION_WEIGHTS) {
      const hf = hfProjectionName(i, name);
      floats.delete(hf);
      if (['qProj', 'kProj', 'vProj', 'oProj'].includes(name) ? l.attention : l.mlp) packed.set(hf, packedAll.layers[i]![name]);
    }
  }
  const cpu = new LoraTrainer(new LlamaModel(config, fakeQuantizeWeights(config, weights, format)), lora, { lr: LR, plan });
  const n = B * T;
  const cpuLosses = Array.from({ length: STEPS }, (_, s) => {
    const k = (s % 3) * n;
    return cpu.step({ B, T, inputIds: req.batches.inputIds.slice(k, k + n), targets: req.batches.targets.slice(k, k + n) });
  });
  const wire = () => [toBuffer(serializePackedSafetensors(floats, packed))];
  const r = await worker.train({ ...req, baseTensors: wire(), weightFormat: format });
  const f32Planned = planPeakBytes({ config, lora: req.loraConfig, batch: B, seqLen: T }, plan);
  const mismatch = await errorName(worker.train({ ...req, weightFormat: format === 'int8' ? 'int4' : 'int8', baseTensors: wire() }));
  return { cpuLosses, gpuLosses: r.losses, peakBytes: r.peakBytes, estimateBytes: r.estimateBytes, f32Planned, mismatch };
}

(globalThis as unknown as { workerHarness: unknown }).workerHarness = { trainAndCompare, failureModes, trainQuantized };
