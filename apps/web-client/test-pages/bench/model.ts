// The model, the token batches and the LoRA adapters both implementations start from.
import {
  createLoraAdapter, parseHfConfig, parseSafetensors, SeededRandom, weightsFromHfTensors,
  type LlamaWeights, type LoraAdapter, type LoraConfig, type ModelConfig, type SubmodelPlan, type TokenBatch,
} from '@fedllm/core';
import type { GpuContext, KernelSet } from '@fedllm/kernels';
import type { BenchBatch, BenchModelFiles, BenchOptions } from '@fedllm/core';

/** What the training and memory sections run on. */
export interface BenchSetup {
  ctx: GpuContext;
  kernels: KernelSet;
  config: ModelConfig;
  weights: LlamaWeights;
  /** The full plan. */
  plan: SubmodelPlan;
  loraCfg: LoraConfig;
  batches: TokenBatch[];
  o: BenchOptions;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`fetch ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

export async function loadModel(files: BenchModelFiles): Promise<{ config: ModelConfig; weights: LlamaWeights }> {
  const config = parseHfConfig(JSON.parse(new TextDecoder().decode(await fetchBytes(files.config))));
  const weights = weightsFromHfTensors(config, parseSafetensors(await fetchBytes(files.weights)));
  return { config, weights };
}

export function countParams(w: LlamaWeights): number {
  let n = w.embed.data.length + w.finalNorm.data.length + (w.lmHead === w.embed ? 0 : w.lmHead.data.length);
  for (const l of w.layers) if (l) for (const t of Object.values(l)) n += (t as { data: Float32Array }).data.length;
  return n;
}

export function toBatch(b: BenchBatch, B: number, T: number): TokenBatch {
  if (b.inputIds.length !== B * T || b.targets.length !== B * T) {
    throw new Error(`bench: a batch holds ${b.inputIds.length} ids / ${b.targets.length} targets, expected ${B * T}`);
  }
  return { B, T, inputIds: Int32Array.from(b.inputIds), targets: Int32Array.from(b.targets) };
}

export function adapterFor(c: ModelConfig, plan: SubmodelPlan, cfg: LoraConfig, seed: number): LoraAdapter {
  // B starts small but non-zero (not PEFT's zeros) so the LoRA path changes the loss and A gets
  // gradients from step 1 in both implementations.
  return createLoraAdapter(c, cfg, plan.layers.map((l) => l.index), new SeededRandom(seed), 0.01);
}
