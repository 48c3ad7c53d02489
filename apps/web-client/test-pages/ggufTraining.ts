// Trains a plan of the GGUF model directory served at /model/ (model.gguf + config.json) in the real
// training worker, its Q4_1 projections and Q8_0 embedding kept packed on the GPU (or uploaded as
// float32 for comparison), and optionally the same steps on the CPU engine with the same dequantized weights.
import * as Comlink from 'comlink';
import {
  createLoraAdapter, dequantizeWeights, ggufQuantizedWeights, HF_EMBED, hfProjectionName, isPackedTable, LlamaModel, LORA_TARGETS, loraToPeftTensors, LoraTrainer,
  parseGgufBytes, parseHfConfig, planPeakBytes, PROJECTION_WEIGHTS, SeededRandom, serializePackedSafetensors, serializeSafetensors, TextTokenizer, vocabFormatOf,
  weightsToHfTensors, type QuantizedMatrix,
  type SubmodelPlan, type Tensor, type TrainingWorkerApi,
} from '@fedllm/core';

export interface GgufTrainingOptions {
  layers: number[];
  batch: number;
  seqLen: number;
  steps: number;
  lr: number;
  seed: number;
  /** Run the same steps on the CPU engine (slow for big plans). */
  cpuReference: boolean;
  /** q4_1: projections (and the Q8_0 embedding) packed on the GPU; f32: uploaded dequantized. */
  format: 'q4_1' | 'f32';
  budgetBytes: number;
}

const TEXT = 'The volunteers opened the page in their browsers, and each tab trained a small part of the model on its own data. ' +
  'At the end of every round the coordinator averaged the adapters, measured the accuracy on held-out examples and saved a checkpoint. ';

async function fetchBytes(name: string): Promise<Uint8Array> {
  const r = await fetch(`/model/${name}`);
  if (!r.ok) throw new Error(`/model/${name}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function toBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

async function trainGgufPlan(o: GgufTrainingOptions) {
  const config = parseHfConfig(JSON.parse(new TextDecoder().decode(await fetchBytes('config.json'))));
  const file = await parseGgufBytes(await fetchBytes('model.gguf'), '/model/model.gguf');
  const plan: SubmodelPlan = { layers: o.layers.map((index) => ({ index, attention: true, mlp: true })) };
  const packed = ggufQuantizedWeights(file, config, plan);
  const floats = dequantizeWeights(packed);
  // What travels (packed safetensors, as the coordinator's q4_1 parts): for q4_1 the packed
  // projections and Q8_0 embedding as packed words, the rest as floats; for f32 all floats.
  const base = new Map<string, Tensor>([...weightsToHfTensors(config, floats)]);
  const packedTensors = new Map<string, QuantizedMatrix>();
  if (o.format === 'q4_1') {
    for (const l of o.layers) for (const name of PROJECTION_WEIGHTS) packedTensors.set(hfProjectionName(l, name), packed.layers[l]![name]);
    if (isPackedTable(packed.embed)) packedTensors.set(HF_EMBED, packed.embed);
    for (const n of packedTensors.keys()) base.delete(n);
  }
  const wire = serializePackedSafetensors(base, packedTensors);
  const rng = new SeededRandom(o.seed);
  const loraConfig = { rank: 8, alpha: 16, targets: [...LORA_TARGETS] };
  const lora = createLoraAdapter(config, loraConfig, o.layers, rng, 0.01);
  // One fixed batch of English text repeated each step, so the loss has something to learn.
  const tok = new TextTokenizer(JSON.parse(new TextDecoder().decode(await fetchBytes('tokenizer.json'))));
  const n = o.batch * o.seqLen;
  let ids: number[] = [];
  while (ids.length < n + 1) ids = ids.concat(tok.encode(TEXT));
  const inputIds = Int32Array.from(ids.slice(0, n)), targets = Int32Array.from(ids.slice(1, n + 1));
  let cpuLosses: number[] = [];
  if (o.cpuReference) {
    const cpu = new LoraTrainer(new LlamaModel(config, floats, o.seqLen), lora, { lr: o.lr, plan });
    cpuLosses = Array.from({ length: o.steps }, () => cpu.step({ B: o.batch, T: o.seqLen, inputIds, targets }));
  }
  const worker = Comlink.wrap<TrainingWorkerApi>(new Worker(new URL('../src/worker/trainingWorker.ts', import.meta.url), { type: 'module' }));
  await worker.init();
  const freshLora = createLoraAdapter(config, loraConfig, o.layers, new SeededRandom(o.seed), 0.01);
  const r = await worker.train({
    config, plan, baseTensors: [toBuffer(wire)], weightFormat: o.format,
    lora: toBuffer(serializeSafetensors(loraToPeftTensors(freshLora))), loraConfig,
    batches: { batch: o.batch, seqLen: o.seqLen, inputIds, targets }, steps: o.steps, lr: o.lr, budgetBytes: o.budgetBytes,
  });
  const shape = { config, lora: loraConfig, batch: o.batch, seqLen: o.seqLen };
  const vocabFormat = o.format === 'q4_1' ? vocabFormatOf(packed) : 'f32';
  return {
    vocabFormat,
    cpuLosses, gpuLosses: r.losses, peakBytes: r.peakBytes, estimateBytes: r.estimateBytes, tokensPerSecond: r.tokensPerSecond, baseWireBytes: wire.byteLength,
    plannedBytes: planPeakBytes({ ...shape, weightFormat: o.format, vocabFormat }, plan),
    plannedF32Bytes: planPeakBytes({ ...shape, weightFormat: 'f32' }, plan),
  };
}

(globalThis as unknown as { trainGgufPlan: typeof trainGgufPlan }).trainGgufPlan = trainGgufPlan;
