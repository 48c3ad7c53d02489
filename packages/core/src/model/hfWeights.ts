/**
 * Mapping between Hugging Face Llama-family tensor names (model.layers.{i}.self_attn.q_proj.weight,
 * ...) and LlamaWeights, with every shape checked against the ModelConfig.
 */
import type { LayerWeights, LlamaWeights } from './llamaWeights';
import type { ModelConfig } from './modelConfig';
import type { Tensor } from './tensor';
import { numel } from './tensor';

/** Thrown when a checkpoint's tensors do not match the config (missing, extra or mis-shaped). */
export class HfWeightsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HfWeightsError';
  }
}

const EMBED = 'model.embed_tokens.weight';
const FINAL_NORM = 'model.norm.weight';
const LM_HEAD = 'lm_head.weight';
const MAX_LISTED = 10;

interface LayerTensorSpec {
  field: keyof LayerWeights;
  /** Name after "model.layers.{i}.". */
  suffix: string;
  shape: (c: ModelConfig) => number[];
  /** Present only for some configs (biases). */
  when?: (c: ModelConfig) => boolean;
}

const q = (c: ModelConfig) => c.numHeads * c.headDim;
const kv = (c: ModelConfig) => c.numKvHeads * c.headDim;

const LAYER_TENSORS: LayerTensorSpec[] = [
  { field: 'inputNorm', suffix: 'input_layernorm.weight', shape: (c) => [c.hiddenSize] },
  { field: 'qProj', suffix: 'self_attn.q_proj.weight', shape: (c) => [q(c), c.hiddenSize] },
  { field: 'kProj', suffix: 'self_attn.k_proj.weight', shape: (c) => [kv(c), c.hiddenSize] },
  { field: 'vProj', suffix: 'self_attn.v_proj.weight', shape: (c) => [kv(c), c.hiddenSize] },
  { field: 'oProj', suffix: 'self_attn.o_proj.weight', shape: (c) => [c.hiddenSize, q(c)] },
  { field: 'qBias', suffix: 'self_attn.q_proj.bias', shape: (c) => [q(c)], when: (c) => c.attentionBias },
  { field: 'kBias', suffix: 'self_attn.k_proj.bias', shape: (c) => [kv(c)], when: (c) => c.attentionBias },
  { field: 'vBias', suffix: 'self_attn.v_proj.bias', shape: (c) => [kv(c)], when: (c) => c.attentionBias },
  { field: 'oBias', suffix: 'self_attn.o_proj.bias', shape: (c) => [c.hiddenSize], when: (c) => c.oProjBias },
  { field: 'postNorm', suffix: 'post_attention_layernorm.weight', shape: (c) => [c.hiddenSize] },
  { field: 'gateProj', suffix: 'mlp.gate_proj.weight', shape: (c) => [c.intermediateSize, c.hiddenSize] },
  { field: 'upProj', suffix: 'mlp.up_proj.weight', shape: (c) => [c.intermediateSize, c.hiddenSize] },
  { field: 'downProj', suffix: 'mlp.down_proj.weight', shape: (c) => [c.hiddenSize, c.intermediateSize] },
  { field: 'gateBias', suffix: 'mlp.gate_proj.bias', shape: (c) => [c.intermediateSize], when: (c) => c.mlpBias },
  { field: 'upBias', suffix: 'mlp.up_proj.bias', shape: (c) => [c.intermediateSize], when: (c) => c.mlpBias },
  { field: 'downBias', suffix: 'mlp.down_proj.bias', shape: (c) => [c.hiddenSize], when: (c) => c.mlpBias },
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

/** Names a checkpoint may carry that we deliberately skip. */
function isIgnorable(cfg: ModelConfig, name: string): boolean {
  // Old Llama checkpoints saved RoPE's inv_freq buffer; tied checkpoints may still store lm_head.
  return name.endsWith('.rotary_emb.inv_freq') || (cfg.tieWordEmbeddings && name === LM_HEAD);
}

/**
 * Builds LlamaWeights from HF-named tensors. Reports all missing tensors in one error, rejects
 * unknown tensors (the checkpoint does not match the config) and checks every shape.
 * With `opts.layers`, only those decoder layers are required and loaded; other entries of
 * `layers` are undefined and their tensors, if present, are ignored.
 */
export function weightsFromHfTensors(
  cfg: ModelConfig,
  tensors: ReadonlyMap<string, Tensor>,
  opts: { layers?: number[] } = {},
): LlamaWeights {
  const layers = opts.layers ?? allLayers(cfg);
  const needed = hfTensorNamesForLayers(cfg, layers);
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

  const embed = take(EMBED, [cfg.vocabSize, cfg.hiddenSize]);
  const finalNorm = take(FINAL_NORM, [cfg.hiddenSize]);
  const lmHead = cfg.tieWordEmbeddings ? embed : take(LM_HEAD, [cfg.vocabSize, cfg.hiddenSize]);
  const specs = layerSpecs(cfg);
  const out: (LayerWeights | undefined)[] = Array.from({ length: cfg.numLayers }, () => undefined);
  for (const i of layers) {
    const layer: Partial<Record<keyof LayerWeights, Tensor>> = {};
    for (const s of specs) layer[s.field] = take(layerName(i, s.suffix), s.shape(cfg));
    out[i] = layer as LayerWeights; // every required field is set: specs cover them all
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
