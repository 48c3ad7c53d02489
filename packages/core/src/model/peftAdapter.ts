import { LORA_MODULE_NAMES, LORA_TARGETS, targetDims, validateLoraConfig, type LoraAdapter, type LoraConfig, type LoraTarget, type LayerLora } from './lora';
import type { PlannedLayer, SubmodelPlan } from './submodelPlan';
import type { ModelConfig } from './modelConfig';
import type { Tensor } from './tensor';

/**
 * LoRA adapters in the PEFT layout, so Python users can `PeftModel.from_pretrained` them:
 * adapter_config.json + adapter_model.safetensors with names like
 * `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` (A: [r, in], B: [out, r]).
 */
export class PeftAdapterError extends Error {
  override name = 'PeftAdapterError';
}

const PREFIX = 'base_model.model.model.layers.';
const BLOCK: Record<LoraTarget, string> = {
  q: 'self_attn', k: 'self_attn', v: 'self_attn', o: 'self_attn', gate: 'mlp', up: 'mlp', down: 'mlp',
};

export function peftTensorName(layer: number, t: LoraTarget, which: 'A' | 'B'): string {
  return `${PREFIX}${layer}.${BLOCK[t]}.${LORA_MODULE_NAMES[t]}.lora_${which}.weight`;
}

const ATTENTION_TARGETS: readonly LoraTarget[] = ['q', 'k', 'v', 'o'];

/** Whether a plan's layer keeps the sub-block a LoRA target lives in. */
export function planKeepsTarget(l: PlannedLayer, t: LoraTarget): boolean {
  return ATTENTION_TARGETS.includes(t) ? l.attention : l.mlp;
}

/** PEFT names of the LoRA tensors a submodel trains: kept layers × targets in kept sub-blocks. */
export function peftTensorNamesForPlan(lora: LoraConfig, plan: SubmodelPlan): string[] {
  return plan.layers.flatMap((l) => lora.targets.filter((t) => planKeepsTarget(l, t)).flatMap((t) => [peftTensorName(l.index, t, 'A'), peftTensorName(l.index, t, 'B')]));
}

/** The part of an adapter a submodel trains (the pairs share the adapter's tensors). */
export function loraForPlan(a: LoraAdapter, plan: SubmodelPlan): LoraAdapter {
  const layers = new Map<number, LayerLora>();
  for (const l of plan.layers) {
    const src = a.layers.get(l.index);
    if (!src) throw new PeftAdapterError(`adapter has no LoRA for layer ${l.index}, which the plan keeps`);
    const dst: LayerLora = {};
    for (const t of a.config.targets) {
      if (!planKeepsTarget(l, t)) continue;
      if (!src[t]) throw new PeftAdapterError(`adapter has no ${LORA_MODULE_NAMES[t]} LoRA in layer ${l.index}`);
      dst[t] = src[t];
    }
    layers.set(l.index, dst);
  }
  return { config: a.config, layers };
}

/** The adapter's tensors under PEFT names. */
export function loraToPeftTensors(a: LoraAdapter): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [layer, l] of [...a.layers].sort((x, y) => x[0] - y[0])) {
    for (const t of a.config.targets) {
      const p = l[t];
      if (!p) continue;
      out.set(peftTensorName(layer, t, 'A'), p.A);
      out.set(peftTensorName(layer, t, 'B'), p.B);
    }
  }
  return out;
}

/** adapter_config.json for the adapter. Layers it does not cover are excluded via layers_to_transform. */
export function peftAdapterConfig(a: LoraAdapter, model: ModelConfig, baseModel: string): Record<string, unknown> {
  const layers = [...a.layers.keys()].sort((x, y) => x - y);
  const all = layers.length === model.numLayers && layers.every((l, i) => l === i);
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: a.config.rank,
    lora_alpha: a.config.alpha,
    lora_dropout: 0,
    target_modules: a.config.targets.map((t) => LORA_MODULE_NAMES[t]),
    layers_to_transform: all ? null : layers,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
  };
}

const MODULE_TO_TARGET = new Map<string, LoraTarget>(LORA_TARGETS.map((t) => [LORA_MODULE_NAMES[t], t]));

/**
 * Reads a PEFT LoRA adapter for `model`, checking the config and every tensor's name and shape.
 * Only what this engine can run is accepted (plain LoRA on the seven Llama projections).
 */
export function loraFromPeft(configJson: unknown, tensors: Map<string, Tensor>, model: ModelConfig, opts: { plan?: SubmodelPlan } = {}): LoraAdapter {
  if (typeof configJson !== 'object' || configJson === null) throw new PeftAdapterError('adapter_config.json must be a JSON object');
  const c = configJson as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw new PeftAdapterError(`unsupported peft_type ${JSON.stringify(c.peft_type)}; only LORA is supported`);
  if (c.use_dora === true) throw new PeftAdapterError('DoRA adapters (use_dora: true) are not supported');
  if (c.use_rslora === true) throw new PeftAdapterError('rsLoRA adapters (use_rslora: true) are not supported');
  if (c.bias !== undefined && c.bias !== 'none') throw new PeftAdapterError(`adapter bias ${JSON.stringify(c.bias)} is not supported; only "none"`);
  const rank = c.r, alpha = c.lora_alpha;
  if (typeof rank !== 'number' || typeof alpha !== 'number') throw new PeftAdapterError('adapter_config.json needs numeric "r" and "lora_alpha"');
  let modules = c.target_modules;
  if (typeof modules === 'string') modules = [modules];
  if (!Array.isArray(modules)) throw new PeftAdapterError('adapter_config.json "target_modules" must be a list of module names');
  const targets: LoraTarget[] = [];
  for (const m of modules) {
    const t = MODULE_TO_TARGET.get(String(m));
    if (!t) throw new PeftAdapterError(`unsupported target module ${JSON.stringify(m)}; supported: ${[...MODULE_TO_TARGET.keys()].join(', ')}`);
    targets.push(t);
  }
  targets.sort((a, b) => LORA_TARGETS.indexOf(a) - LORA_TARGETS.indexOf(b));
  const config = { rank, alpha, targets };
  validateLoraConfig(config);
  const adapter: LoraAdapter = { config, layers: new Map() };
  const re = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_(A|B)(?:\.default)?\.weight$/;
  for (const [name, t] of tensors) {
    const m = re.exec(name);
    if (!m) throw new PeftAdapterError(`unexpected tensor "${name}" in adapter (expected PEFT LoRA names like ${peftTensorName(0, 'q', 'A')})`);
    const layer = Number(m[1]);
    const target = MODULE_TO_TARGET.get(m[3]);
    if (!target || !targets.includes(target)) throw new PeftAdapterError(`tensor "${name}" is for a module not in target_modules`);
    if (layer >= model.numLayers) throw new PeftAdapterError(`tensor "${name}" is for layer ${layer}, but the model has ${model.numLayers} layers`);
    const [fin, fout] = targetDims(model, target);
    const want = m[4] === 'A' ? [rank, fin] : [fout, rank];
    if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
      throw new PeftAdapterError(`tensor "${name}" has shape [${t.shape.join(', ')}], expected [${want.join(', ')}]`);
    }
    const l: LayerLora = adapter.layers.get(layer) ?? {};
    const pair = l[target] ?? ({} as { A: Tensor; B: Tensor });
    pair[m[4] as 'A' | 'B'] = t;
    l[target] = pair;
    adapter.layers.set(layer, l);
  }
  if (opts.plan) {
    // A submodel's adapter: exactly the targets of the sub-blocks the plan keeps, nothing else.
    const want = new Set(peftTensorNamesForPlan(config, opts.plan));
    const missing = [...want].filter((n) => !tensors.has(n));
    const extra = [...tensors.keys()].filter((n) => !want.has(n.replace('.default.weight', '.weight')));
    if (missing.length > 0) throw new PeftAdapterError(`adapter is missing ${missing.length} tensor(s) the plan trains, e.g. ${missing[0]}`);
    if (extra.length > 0) throw new PeftAdapterError(`adapter has ${extra.length} tensor(s) outside the plan's kept parts, e.g. ${extra[0]}`);
    return adapter;
  }
  for (const [layer, l] of adapter.layers) {
    for (const t of targets) {
      if (!l[t]?.A || !l[t]?.B) throw new PeftAdapterError(`layer ${layer} is missing lora_A or lora_B for ${LORA_MODULE_NAMES[t]}`);
    }
  }
  if (adapter.layers.size === 0) throw new PeftAdapterError('adapter has no LoRA tensors');
  return adapter;
}
