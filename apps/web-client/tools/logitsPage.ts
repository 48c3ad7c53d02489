// Next-token logits of the model at /model/ on the WGSL engine, for the logits CLI's --engine webgpu.
import { fullPlan, parseHfConfig, parseSafetensors, weightsFromHfTensors, type Tensor } from '@fedllm/core';
import { createGpuContext, LoraTrainingSession } from '@fedllm/kernels';

async function fetchBytes(name: string): Promise<Uint8Array> {
  const r = await fetch(`/model/${name}`);
  if (!r.ok) throw new Error(`model file ${name}: HTTP ${r.status} ${await r.text()}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadTensors(): Promise<Map<string, Tensor>> {
  const single = await fetch('/model/model.safetensors');
  if (single.ok) return parseSafetensors(new Uint8Array(await single.arrayBuffer()));
  const index = JSON.parse(new TextDecoder().decode(await fetchBytes('model.safetensors.index.json'))) as { weight_map: Record<string, string> };
  const out = new Map<string, Tensor>();
  for (const shard of new Set(Object.values(index.weight_map))) for (const [k, v] of parseSafetensors(await fetchBytes(shard))) out.set(k, v);
  return out;
}

async function webgpuLogits(tokens: number[]): Promise<number[][]> {
  const config = parseHfConfig(JSON.parse(new TextDecoder().decode(await fetchBytes('config.json'))));
  const weights = weightsFromHfTensors(config, await loadTensors());
  const ctx = await createGpuContext();
  const T = tokens.length;
  const session = await LoraTrainingSession.create(ctx, { config, plan: fullPlan(config), weights, batch: 1, seqLen: T, readLogits: true });
  try {
    const flat = await session.logits(Int32Array.from(tokens));
    const V = config.vocabSize;
    return Array.from({ length: T }, (_, t) => Array.from(flat.subarray(t * V, (t + 1) * V)));
  } finally {
    session.destroy();
    ctx.device.destroy();
  }
}

(globalThis as unknown as { webgpuLogits: typeof webgpuLogits }).webgpuLogits = webgpuLogits;
