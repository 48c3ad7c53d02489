import type { ModelConfig } from './modelConfig';
import { tensor, type Tensor } from './tensor';
import type { SeededRandomLike } from './randomSource';

/** Linear layers a LoRA adapter can attach to, in HF module order. */
export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** HF / PEFT module name of each target. */
export const LORA_MODULE_NAMES: Record<LoraTarget, string> = {
  q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'o_proj', gate: 'gate_proj', up: 'up_proj', down: 'down_proj',
};

/** The base weight and bias of each target in LayerWeights (HF q_proj -> qProj, ...). */
export const LORA_TARGET_WEIGHTS = {
  q: ['qProj', 'qBias'], k: ['kProj', 'kBias'], v: ['vProj', 'vBias'], o: ['oProj', 'oBias'],
  gate: ['gateProj', 'gateBias'], up: ['upProj', 'upBias'], down: ['downProj', 'downBias'],
} as const satisfies Record<LoraTarget, readonly [string, string]>;

export interface LoraConfig {
  rank: number;
  alpha: number;
  targets: LoraTarget[];
}

/** A [rank, in] and B [out, rank]: the layer computes y = x·Wᵀ + (alpha/rank)·(x·Aᵀ)·Bᵀ. */
export interface LoraPair<T extends { shape: number[] } = Tensor> {
  A: T;
  B: T;
}

export type LayerLora<T extends { shape: number[] } = Tensor> = Partial<Record<LoraTarget, LoraPair<T>>>;

/** LoRA weights for some decoder layers (a submodel's adapter holds only its kept layers). */
export interface LoraAdapter<T extends { shape: number[] } = Tensor> {
  config: LoraConfig;
  layers: Map<number, LayerLora<T>>;
}

export function loraScale(cfg: LoraConfig): number {
  return cfg.alpha / cfg.rank;
}

/** [in, out] features of a target's base linear layer. */
export function targetDims(cfg: ModelConfig, t: LoraTarget): [number, number] {
  const h = cfg.hiddenSize, q = cfg.numHeads * cfg.headDim, kv = cfg.numKvHeads * cfg.headDim, f = cfg.intermediateSize;
  switch (t) {
    case 'q': return [h, q];
    case 'k': return [h, kv];
    case 'v': return [h, kv];
    case 'o': return [q, h];
    case 'gate': return [h, f];
    case 'up': return [h, f];
    case 'down': return [f, h];
  }
}

export function validateLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.rank) || c.rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${c.rank}`);
  if (!(c.alpha > 0)) throw new Error(`LoRA alpha must be positive, got ${c.alpha}`);
  if (c.targets.length === 0) throw new Error(`LoRA needs at least one target of ${LORA_TARGETS.join(', ')}`);
  for (const t of c.targets) {
    if (!LORA_TARGETS.includes(t)) throw new Error(`unknown LoRA target "${t}"; valid targets: ${LORA_TARGETS.join(', ')}`);
  }
}

/**
 * A fresh adapter for the given layers, initialised like PEFT: A ~ U(−1/√in, 1/√in)
 * (kaiming-uniform with a=√5), B = 0, so the adapted model starts equal to the base.
 * `initB` (tests only) fills B with small noise so gradients reach A.
 */
export function createLoraAdapter(
  model: ModelConfig, cfg: LoraConfig, layers: number[], rng: SeededRandomLike, initBScale = 0,
): LoraAdapter {
  validateLoraConfig(cfg);
  const out: LoraAdapter = { config: { ...cfg, targets: [...cfg.targets] }, layers: new Map() };
  for (const l of layers) {
    const layer: LayerLora = {};
    for (const t of cfg.targets) {
      const [fin, fout] = targetDims(model, t);
      const bound = 1 / Math.sqrt(fin);
      const A = tensor([cfg.rank, fin]);
      for (let i = 0; i < A.data.length; i++) A.data[i] = (2 * rng.next() - 1) * bound;
      const B = tensor([fout, cfg.rank]);
      if (initBScale) for (let i = 0; i < B.data.length; i++) B.data[i] = (2 * rng.next() - 1) * initBScale;
      layer[t] = { A, B };
    }
    out.layers.set(l, layer);
  }
  return out;
}

/** A deep float32 copy of one layer's LoRA pairs (callers train or transfer it without touching the source). */
export function cloneLayerLora(l: LayerLora): LayerLora {
  const out: LayerLora = {};
  for (const [t, p] of Object.entries(l) as [LoraTarget, LoraPair | undefined][]) {
    if (p) out[t] = { A: { shape: [...p.A.shape], data: Float32Array.from(p.A.data) }, B: { shape: [...p.B.shape], data: Float32Array.from(p.B.data) } };
  }
  return out;
}

/** A deep float32 copy of an adapter. */
export function cloneLoraAdapter(a: LoraAdapter): LoraAdapter {
  return { config: { ...a.config, targets: [...a.config.targets] }, layers: new Map([...a.layers].map(([i, l]) => [i, cloneLayerLora(l)])) };
}
