/**
 * Mapping between Hugging Face Llama-family tensor names (model.layers.{i}.self_attn.q_proj.weight,
 * ...) and LlamaWeights, with every shape checked against the ModelConfig.
 */
import type { LayerWeights, LlamaWeights } from './llamaWeights';
import type { ModelConfig } from './modelConfig';
import type { Tensor } from './tensor';
import { numel } from './tensor';
import type { SubmodelPlan } from './submodelPlan';

/** Thrown when a checkpoint's tensors do not match the config (missing, extra or mis-shaped). */
export class HfWeightsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfWeightsError';
  }
}

export const HF_EMBED = 'model.embed_tokens.weight';
const EMBED = HF_EMBED;
const FINAL_NORM = 'model.norm.weight';
export const HF_LM_HEAD = 'lm_head.weight';
const LM_HEAD = HF_LM_HEAD;
const MAX_LISTED = 10;

interface LayerTensorSpec {
  field: keyof LayerWeights;
  /** Name after "model.layers.{i}.". */
  suffix: string;
  shape: (c: ModelConfig) => number[];
  /** Present only for some configs (biases). */
  when?: (c: ModelConfig) => boolean;
  /** The sub-block the tensor belongs to (a submodel plan may skip either). */
  block: 'attention' | 'mlp';
}

const q = (c: ModelConfig) => c.numHeads * c.headDim;
const kv = (c: ModelConfig) => c.numKvHeads * c.headDim;

const LAYER_TENSORS: LayerTensorSpec[] = [
  { field: 'inputNorm', suffix: 'input_layernorm.weight', shape: (c) => [c.hiddenSize], block: 'attention' },
  { field: 'qProj', suffix: 'self_attn.q_proj.weight', shape: (c) => [q(c), c.hiddenSize], block: 'attention' },
  { field: 'kProj', suffix: 'self_attn.k_proj.weight', shape: (c) => [kv(c), c.hiddenSize], block: 'attention' },
  { field: 'vProj', suffix: 'self_attn.v_proj.weight', shape: (c) => [kv(c), c.hiddenSize], block: 'attention' },
  { field: 'oProj', suffix: 'self_attn.o_proj.weight', shape: (c) => [c.hiddenSize, q(c)], block: 'attention' },
  { field: 'qBias', suffix: 'self_attn.q_proj.bias', shape: (c) => [q(c)], when: (c) => c.attentionBias, block: 'attention' },
  { field: 'kBias', suffix: 'self_attn.k_proj.bias', shape: (c) => [kv(c)], when: (c) => c.attentionBias, block: 'attention' },
  { field: 'vBias', suffix: 'self_attn.v_proj.bias', shape: (c) => [kv(c)], when: (c) => c.attentionBias, block: 'attention' },
  { field: 'oBias', suffix: 'self_attn.o_proj.bias', shape: (c) => [c.hiddenSize], when: (c) => c.oProjBias, block: 'attention' },
  { field: 'postNorm', suffix: 'post_attention_layernorm.weight', shape: (c) => [c.hiddenSize], block: 'mlp' },
  { field: 'gateProj', suffix: 'mlp.gate_proj.weight', shape: (c) => [c.intermediateSize, c.hiddenSize], block: 'mlp' },
  { field: 'upProj', suffix: 'mlp.up_proj.weight', shape: (c) => [c.intermediateSize, c.hiddenSize], block: 'mlp' },
  { field: 'downProj', suffix: 'mlp.down_proj.weight', shape: (c) => [c.hiddenSize, c.intermediateSize], block: 'mlp' },
  { field: 'gateBias', suffix: 'mlp.gate_proj.bias', shape: (c) => [c.intermediateSize], when: (c) => c.mlpBias, block: 'mlp' },
  { field: 'upBias', suffix: 'mlp.up_proj.bias', shape: (c) => [c.intermediateSize], when: (c) => c.mlpBias, block: 'mlp' },
  { field: 'downBias', suffix: 'mlp.down_proj.bias', shape: (c) => [c.hiddenSize], when: (c) => c.mlpBias, block: 'mlp' },
];

function layerSpecs(cfg: ModelConfig): LayerTensorSpec[] {
  return LAYER_TENSORS.filter((s) => !s.when || s.when(cfg));
}

function layerName(i: number, suffix: string): string {
  return `model.layers.${i}.${suffix}`;
}

function allLayers(cfg: ModelConfig): number[] {
  return Array.from({ length: cfg.numLayers }, (_, i) => i);
}

function checkLayers(cfg: ModelConfig, layers: number[]): void {
  for (const i of layers) {
    if (!Number.isInteger(i) || i < 0 || i >= cfg.numLayers) {
      throw new HfWeightsError(`layer index ${i} is out of range: the model has layers 0..${cfg.numLayers - 1}`);
    }
  }
}

function listed(names: string[]): string {
  const more = names.length > MAX_LISTED ? ` (and ${names.length - MAX_LISTED} more)` : '';
  return names.slice(0, MAX_LISTED).join(', ') + more;
}

/**
 * The HF tensor names a (sub)model with the given decoder layers needs: embeddings, those layers,
 * the final norm and, unless tied, lm_head.
 */
export function hfTensorNamesForLayers(cfg: ModelConfig, layers: number[]): string[] {
  checkLayers(cfg, layers);
  const specs = layerSpecs(cfg);
  const names = [EMBED, ...layers.flatMap((i) => specs.map((s) => layerName(i, s.suffix))), FINAL_NORM];
  if (!cfg.tieWordEmbeddings) names.push(LM_HEAD);
  return names;
}

/**
 * The HF tensor names of one sub-block of layer i (its norm, projections and biases): the unit
 * in which a coordinator serves base weights, so a tab downloads only the parts its plan keeps.
 */
export function hfTensorNamesForBlock(cfg: ModelConfig, i: number, block: 'attention' | 'mlp'): string[] {
  checkLayers(cfg, [i]);
  return layerSpecs(cfg).filter((s) => s.block === block).map((s) => layerName(i, s.suffix));
}

/** The HF tensor names a submodel plan needs: embeddings, final norm, lm_head, and only the kept sub-blocks. */
export function hfTensorNamesForPlan(cfg: ModelConfig, plan: SubmodelPlan): string[] {
  const names = [EMBED];
  for (const l of plan.layers) {
    if (l.attention) names.push(...hfTensorNamesForBlock(cfg, l.index, 'attention'));
    if (l.mlp) names.push(...hfTensorNamesForBlock(cfg, l.index, 'mlp'));
  }
  names.push(FINAL_NORM);
  if (!cfg.tieWordEmbeddings) names.push(LM_HEAD);
  return names;
}

/** Names a checkpoint may carry that we deliberately skip. */
function isIgnorable(cfg: ModelConfig, name: string): boolean {
  // Old Llama checkpoints saved RoPE's inv_freq buffer; tied checkpoints may still store lm_head.
  return name.endsWith('.rotary_emb.inv_freq') || (cfg.tieWordEmbeddings && name === LM_HEAD);
}

/**
 * Builds LlamaWeights from HF-named tensors. Reports all missing tensors in one error, rejects
 * unknown tensors (the checkpoint does not match the config) and checks every shape.
 * With `opts.layers`, only those decoder layers are required and loaded; other entries of
 * `layers` are undefined and their tensors, if present, are ignored. With `opts.plan`, only the
 * plan's kept sub-blocks are required and loaded: a kept layer whose attention (or MLP) the plan
 * skips has no attention (MLP) fields, which engines running that plan never read.
 * With `opts.suppliedElsewhere`, those tensors (e.g. projections or an embedding that come packed,
 * see quantizedWeightsFromHfTensors) are neither required nor loaded: their fields stay unset.
 */
export function weightsFromHfTensors(
  cfg: ModelConfig,
  tensors: ReadonlyMap<string, Tensor>,
  opts: { layers?: number[]; plan?: SubmodelPlan; suppliedElsewhere?: ReadonlySet<string> } = {},
): LlamaWeights {
  const layers = opts.plan ? opts.plan.layers.map((l) => l.index) : opts.layers ?? allLayers(cfg);
  const elsewhere = opts.suppliedElsewhere ?? new Set<string>();
  const needed = (opts.plan ? hfTensorNamesForPlan(cfg, opts.plan) : hfTensorNamesForLayers(cfg, layers)).filter((n) => !elsewhere.has(n));
  const missing = needed.filter((n) => !tensors.has(n));
  if (missing.length > 0) {
    throw new HfWeightsError(`checkpoint is missing ${missing.length} tensor(s) required by config.json: ${listed(missing)}`);
  }
  const known = new Set(hfTensorNamesForLayers(cfg, allLayers(cfg)));
  const unknown = [...tensors.keys()].filter((n) => !known.has(n) && !isIgnorable(cfg, n));
  if (unknown.length > 0) {
    throw new HfWeightsError(
      `checkpoint has ${unknown.length} unexpected tensor(s): ${listed(unknown)}. It does not look like a supported ` +
        `${cfg.architecture} checkpoint, or config.json does not match the weights (e.g. its bias settings).`,
    );
  }

  const mismatches: string[] = [];
  const take = (name: string, shape: number[]): Tensor => {
    const t = tensors.get(name)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      mismatches.push(`${name}: expected [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
    } else if (t.data.length !== numel(shape)) {
      mismatches.push(`${name}: shape [${shape.join(', ')}] needs ${numel(shape)} values, data has ${t.data.length}`);
    }
    return { shape: t.shape, data: t.data }; // drop extras such as a stored dtype
  };

  // A table supplied elsewhere is left unset for the caller to fill (see quantizedWeightsFromHfTensors).
  const table = (name: string) => (elsewhere.has(name) ? (undefined as unknown as Tensor) : take(name, [cfg.vocabSize, cfg.hiddenSize]));
  const embed = table(EMBED);
  const finalNorm = take(FINAL_NORM, [cfg.hiddenSize]);
  const lmHead = cfg.tieWordEmbeddings ? embed : table(LM_HEAD);
  const specs = layerSpecs(cfg);
  const out: (LayerWeights | undefined)[] = Array.from({ length: cfg.numLayers }, () => undefined);
  const kept = new Map(opts.plan?.layers.map((l) => [l.index, l]));
  for (const i of layers) {
    const layer: Partial<Record<keyof LayerWeights, Tensor>> = {};
    const k = kept.get(i);
    for (const s of specs) {
      if (k && !(s.block === 'attention' ? k.attention : k.mlp)) continue;
      if (elsewhere.has(layerName(i, s.suffix))) continue;
      layer[s.field] = take(layerName(i, s.suffix), s.shape(cfg));
    }
    out[i] = layer as LayerWeights; // every field the layers (or the plan's kept sub-blocks) need is set
  }
  if (mismatches.length > 0) {
    throw new HfWeightsError(`checkpoint tensor shapes do not match config.json: ${listed(mismatches)}`);
  }
  return { embed, layers: out, finalNorm, lmHead };
}

/**
 * Inverse of weightsFromHfTensors: HF-named tensors for the layers present in `w` (the map
 * shares the tensors' data). lm_head is omitted when embeddings are tied.
 */
export function weightsToHfTensors(cfg: ModelConfig, w: LlamaWeights): Map<string, Tensor> {
  if (w.layers.length !== cfg.numLayers) {
    throw new HfWeightsError(`weights have ${w.layers.length} layer slots but the config has ${cfg.numLayers} layers`);
  }
  const out = new Map<string, Tensor>([[EMBED, w.embed]]);
  const specs = layerSpecs(cfg);
  w.layers.forEach((layer, i) => {
    if (!layer) return;
    for (const s of specs) {
      const t = layer[s.field];
      if (!t) throw new HfWeightsError(`layer ${i} has no ${s.field}, which the config requires (${layerName(i, s.suffix)})`);
      out.set(layerName(i, s.suffix), t);
    }
  });
  out.set(FINAL_NORM, w.finalNorm);
  if (!cfg.tieWordEmbeddings) out.set(LM_HEAD, w.lmHead);
  return out;
}
