/**
 * A Hugging Face config.json for a llama-architecture GGUF, from its metadata (key names from
 * llama.cpp's gguf-py constants: `llama.block_count`, `llama.attention.head_count_kv`, ...).
 * Mistral and most Llama derivatives are stored as `llama` in GGUF.
 */
import { GgufError, type GgufContents, type GgufMetadata } from './ggufContents';

export const SUPPORTED_GGUF_ARCHITECTURES = ['llama'];

function describe(v: unknown): string {
  return typeof v === 'bigint' ? `${v}` : JSON.stringify(v);
}

/** Reads a metadata value; GGUF stores counts as u32 or u64 (bigint), floats as f32/f64. */
export function ggufNumber(metadata: GgufMetadata, key: string, fallback?: number): number {
  const v = metadata[key];
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new GgufError(`GGUF metadata lacks "${key}"`);
  }
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new GgufError(`GGUF metadata "${key}" must be a number, got ${describe(v)}`);
  return n;
}

export function ggufString(metadata: GgufMetadata, key: string, fallback?: string): string {
  const v = metadata[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string') throw new GgufError(`GGUF metadata "${key}" must be a string, got ${describe(v)}`);
  return v;
}

function positive(metadata: GgufMetadata, key: string, fallback?: number): number {
  const n = ggufNumber(metadata, key, fallback);
  if (!(n > 0)) throw new GgufError(`GGUF metadata "${key}" must be positive, got ${n}`);
  return n;
}

function optionalId(metadata: GgufMetadata, key: string): number | undefined {
  return metadata[key] === undefined ? undefined : ggufNumber(metadata, key);
}

/** The architecture a GGUF declares, refused unless we import it. */
export function ggufArchitecture(metadata: GgufMetadata): string {
  const arch = ggufString(metadata, 'general.architecture');
  if (!SUPPORTED_GGUF_ARCHITECTURES.includes(arch)) {
    throw new GgufError(`GGUF architecture "${arch}" is not supported; supported: ${SUPPORTED_GGUF_ARCHITECTURES.join(', ')}`);
  }
  return arch;
}

/** config.json contents (transformers' LlamaConfig fields) for a llama GGUF. */
export function hfConfigFromGguf({ metadata, tensors }: GgufContents): Record<string, unknown> {
  const a = ggufArchitecture(metadata);
  const hidden = positive(metadata, `${a}.embedding_length`);
  const heads = positive(metadata, `${a}.attention.head_count`);
  const tokens = metadata['tokenizer.ggml.tokens'];
  const vocab = positive(metadata, `${a}.vocab_size`, Array.isArray(tokens) ? tokens.length : undefined);
  const embed = tensors.get('token_embd.weight');
  if (!embed) throw new GgufError('GGUF has no "token_embd.weight" tensor');
  if (embed.shape[1] !== vocab) {
    throw new GgufError(`token_embd.weight has ${embed.shape[1]} rows but the metadata says the vocabulary has ${vocab}`);
  }
  if (tensors.has('rope_freqs.weight')) {
    throw new GgufError('GGUF carries "rope_freqs.weight" (Llama 3 frequency scaling); importing it is not supported yet');
  }
  const config: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: positive(metadata, `${a}.feed_forward_length`),
    num_hidden_layers: positive(metadata, `${a}.block_count`),
    num_attention_heads: heads,
    num_key_value_heads: positive(metadata, `${a}.attention.head_count_kv`, heads),
    head_dim: positive(metadata, `${a}.attention.key_length`, hidden / heads),
    max_position_embeddings: positive(metadata, `${a}.context_length`),
    rope_theta: positive(metadata, `${a}.rope.freq_base`, 10000),
    rms_norm_eps: positive(metadata, `${a}.attention.layer_norm_rms_epsilon`),
    tie_word_embeddings: !tensors.has('output.weight'),
    attention_bias: tensors.has('blk.0.attn_q.bias'),
    mlp_bias: false,
    hidden_act: 'silu',
    torch_dtype: 'float32',
    bos_token_id: optionalId(metadata, 'tokenizer.ggml.bos_token_id'),
    eos_token_id: optionalId(metadata, 'tokenizer.ggml.eos_token_id'),
    pad_token_id: optionalId(metadata, 'tokenizer.ggml.padding_token_id'),
  };
  const scaling = metadata[`${a}.rope.scaling.type`];
  if (scaling !== undefined && scaling !== 'none') {
    if (scaling !== 'linear') throw new GgufError(`GGUF rope scaling "${describe(scaling)}" is not supported; supported: none, linear`);
    config.rope_scaling = { rope_type: 'linear', factor: positive(metadata, `${a}.rope.scaling.factor`) };
  }
  return config;
}
