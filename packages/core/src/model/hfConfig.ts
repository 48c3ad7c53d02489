/**
 * Translation between Hugging Face transformers `config.json` files and ModelConfig, for the
 * Llama-family architectures the engines implement. Defaults follow transformers' config classes.
 */
import type { ModelConfig, RopeScaling } from './modelConfig';

/** Thrown when a config.json is not a supported or well-formed Llama-family config. */
export class HfConfigError extends Error {
  constructor(message: string) {
    super(`config.json: ${message}`);
    this.name = 'HfConfigError';
  }
}

type Architecture = ModelConfig['architecture'];

const MODEL_TYPES: Record<string, Architecture> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
};
const ARCHITECTURES = Object.values(MODEL_TYPES);
const MODEL_TYPE_OF = Object.fromEntries(Object.entries(MODEL_TYPES).map(([t, a]) => [a, t])) as Record<Architecture, string>;
const SUPPORTED_ROPE_TYPES = "'linear', 'llama3' (or null / 'default' for none)";

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Field readers. null counts as absent, as transformers writes null for unset optional fields.
function present(json: Json, key: string): boolean {
  return json[key] !== undefined && json[key] !== null;
}

function positiveInt(json: Json, key: string, fallback?: number): number {
  if (!present(json, key)) {
    if (fallback !== undefined) return fallback;
    throw new HfConfigError(`missing required field "${key}"`);
  }
  const v = json[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new HfConfigError(`"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function positiveNumber(json: Json, key: string, fallback?: number): number {
  if (!present(json, key)) {
    if (fallback !== undefined) return fallback;
    throw new HfConfigError(`missing required field "${key}"`);
  }
  const v = json[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new HfConfigError(`"${key}" must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(json: Json, key: string, fallback: boolean): boolean {
  if (!present(json, key)) return fallback;
  const v = json[key];
  if (typeof v !== 'boolean') throw new HfConfigError(`"${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** bos/eos ids; transformers allows a list of ids (generation stops at any), we keep the first. */
function tokenId(json: Json, key: string): number | undefined {
  let v = json[key];
  if (Array.isArray(v)) v = v[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new HfConfigError(`"${key}" must be a non-negative integer or a list of them, got ${JSON.stringify(json[key])}`);
  }
  return v;
}

function resolveArchitecture(json: Json): Architecture {
  const archs = json.architectures;
  if (Array.isArray(archs) && archs.length > 0) {
    const a = archs[0];
    if (typeof a === 'string' && (ARCHITECTURES as string[]).includes(a)) return a as Architecture;
    throw new HfConfigError(`unsupported architecture ${JSON.stringify(a)}; supported: ${ARCHITECTURES.join(', ')}`);
  }
  const t = json.model_type;
  if (typeof t === 'string' && Object.hasOwn(MODEL_TYPES, t)) return MODEL_TYPES[t];
  throw new HfConfigError(
    `cannot determine the architecture: no "architectures" and model_type ${JSON.stringify(t)} is not one of ` +
      `${Object.keys(MODEL_TYPES).join(', ')} (supported architectures: ${ARCHITECTURES.join(', ')})`,
  );
}

function parseRopeScaling(raw: unknown): RopeScaling | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw new HfConfigError(`"rope_scaling" must be an object or null, got ${JSON.stringify(raw)}`);
  const type = raw.rope_type ?? raw.type;
  if (type === 'default') return undefined;
  if (type === 'linear') return { type, factor: positiveNumber(raw, 'factor') };
  if (type === 'llama3') {
    return {
      type,
      factor: positiveNumber(raw, 'factor'),
      lowFreqFactor: positiveNumber(raw, 'low_freq_factor'),
      highFreqFactor: positiveNumber(raw, 'high_freq_factor'),
      originalMaxPositionEmbeddings: positiveInt(raw, 'original_max_position_embeddings'),
    };
  }
  throw new HfConfigError(`unsupported rope_scaling type ${JSON.stringify(type)}; supported: ${SUPPORTED_ROPE_TYPES}`);
}

function parseSlidingWindow(json: Json, arch: Architecture, numLayers: number): number | undefined {
  if (arch === 'MistralForCausalLM') return present(json, 'sliding_window') ? positiveInt(json, 'sliding_window') : undefined;
  if (arch !== 'Qwen2ForCausalLM' || !bool(json, 'use_sliding_window', false)) return undefined;
  // Qwen2 applies the window only to layers >= max_window_layers (default 28); we support all-or-none.
  const maxWindowLayers = json.max_window_layers ?? 28;
  if (typeof maxWindowLayers !== 'number' || !Number.isSafeInteger(maxWindowLayers) || maxWindowLayers < 0) {
    throw new HfConfigError(`"max_window_layers" must be a non-negative integer, got ${JSON.stringify(maxWindowLayers)}`);
  }
  if (maxWindowLayers >= numLayers) return undefined;
  if (maxWindowLayers !== 0) {
    throw new HfConfigError(
      `use_sliding_window with max_window_layers=${maxWindowLayers} mixes full and sliding-window layers; ` +
        `only max_window_layers=0 (all layers) or >= num_hidden_layers (none) is supported`,
    );
  }
  return positiveInt(json, 'sliding_window');
}

/**
 * Parses a Hugging Face config.json (already JSON-decoded) for LlamaForCausalLM,
 * MistralForCausalLM or Qwen2ForCausalLM. Throws HfConfigError naming the offending key.
 */
export function parseHfConfig(json: unknown): ModelConfig {
  if (!isObject(json)) throw new HfConfigError(`expected a JSON object, got ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}`);
  const architecture = resolveArchitecture(json);
  const hiddenAct = json.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') throw new HfConfigError(`unsupported hidden_act ${JSON.stringify(hiddenAct)}; only "silu" is supported`);

  const hiddenSize = positiveInt(json, 'hidden_size');
  const numHeads = positiveInt(json, 'num_attention_heads');
  const numKvHeads = positiveInt(json, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new HfConfigError(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  if (!present(json, 'head_dim') && hiddenSize % numHeads !== 0) {
    throw new HfConfigError(`hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and no head_dim is given`);
  }
  const headDim = positiveInt(json, 'head_dim', hiddenSize / numHeads);
  const numLayers = positiveInt(json, 'num_hidden_layers');

  // transformers 5 moves rope_theta and the scaling into "rope_parameters"; accept both layouts.
  const ropeParams = isObject(json.rope_parameters) ? json.rope_parameters : {};
  const ropeTheta = present(json, 'rope_theta') ? positiveNumber(json, 'rope_theta') : positiveNumber(ropeParams, 'rope_theta', 10000);
  const ropeScaling = parseRopeScaling(json.rope_scaling ?? json.rope_parameters);

  const isLlama = architecture === 'LlamaForCausalLM';
  const llamaAttentionBias = isLlama && bool(json, 'attention_bias', false);
  const cfg: ModelConfig = {
    architecture,
    vocabSize: positiveInt(json, 'vocab_size'),
    hiddenSize,
    intermediateSize: positiveInt(json, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: positiveInt(json, 'max_position_embeddings'),
    ropeTheta,
    rmsNormEps: positiveNumber(json, 'rms_norm_eps', 1e-6),
    tieWordEmbeddings: bool(json, 'tie_word_embeddings', false),
    // Qwen2 always has q/k/v biases and never an o_proj bias; Mistral has none.
    attentionBias: architecture === 'Qwen2ForCausalLM' || llamaAttentionBias,
    oProjBias: llamaAttentionBias,
    mlpBias: isLlama && bool(json, 'mlp_bias', false),
  };
  const bos = tokenId(json, 'bos_token_id');
  const eos = tokenId(json, 'eos_token_id');
  const slidingWindow = parseSlidingWindow(json, architecture, numLayers);
  // Optional fields are only set when present, so configs compare equal after a roundtrip.
  if (bos !== undefined) cfg.bosTokenId = bos;
  if (eos !== undefined) cfg.eosTokenId = eos;
  if (ropeScaling !== undefined) cfg.ropeScaling = ropeScaling;
  if (slidingWindow !== undefined) cfg.slidingWindow = slidingWindow;
  return cfg;
}

function ropeScalingToHf(s: RopeScaling | undefined): Json | null {
  if (!s) return null;
  if (s.type === 'linear') return { rope_type: 'linear', factor: s.factor };
  return {
    rope_type: 'llama3',
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

/** Rejects ModelConfig combinations the target HF architecture cannot express. */
function checkExpressible(cfg: ModelConfig): void {
  const a = cfg.architecture;
  const fail = (what: string) => {
    throw new HfConfigError(`cannot express ${what} for ${a}`);
  };
  if (!ARCHITECTURES.includes(a)) throw new HfConfigError(`unsupported architecture ${JSON.stringify(a)}; supported: ${ARCHITECTURES.join(', ')}`);
  if (a === 'LlamaForCausalLM' && cfg.attentionBias !== cfg.oProjBias) fail('q/k/v bias without matching o_proj bias');
  if (a === 'LlamaForCausalLM' && cfg.slidingWindow !== undefined) fail('a sliding window');
  if (a === 'Qwen2ForCausalLM' && (!cfg.attentionBias || cfg.oProjBias)) fail('anything but q/k/v bias without o_proj bias');
  if (a === 'MistralForCausalLM' && (cfg.attentionBias || cfg.oProjBias)) fail('attention biases');
  if (a !== 'LlamaForCausalLM' && cfg.mlpBias) fail('MLP biases');
}

/**
 * Produces a config.json object that transformers loads as the same model; the inverse of
 * parseHfConfig (parseHfConfig(toHfConfig(c)) deep-equals c). Throws HfConfigError when the
 * config cannot be expressed for its architecture.
 */
export function toHfConfig(cfg: ModelConfig): Record<string, unknown> {
  checkExpressible(cfg);
  const a = cfg.architecture;
  const out: Json = {
    architectures: [a],
    model_type: MODEL_TYPE_OF[a],
    torch_dtype: 'float32',
    hidden_act: 'silu',
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rope_theta: cfg.ropeTheta,
    rope_scaling: ropeScalingToHf(cfg.ropeScaling),
    rms_norm_eps: cfg.rmsNormEps,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    bos_token_id: cfg.bosTokenId ?? null,
    eos_token_id: cfg.eosTokenId ?? null,
  };
  if (a === 'LlamaForCausalLM') Object.assign(out, { attention_bias: cfg.attentionBias, mlp_bias: cfg.mlpBias });
  if (a === 'MistralForCausalLM') out.sliding_window = cfg.slidingWindow ?? null;
  if (a === 'Qwen2ForCausalLM') {
    const sliding = cfg.slidingWindow !== undefined;
    Object.assign(out, {
      use_sliding_window: sliding,
      sliding_window: cfg.slidingWindow ?? null,
      max_window_layers: sliding ? 0 : cfg.numLayers,
    });
  }
  return out;
}
