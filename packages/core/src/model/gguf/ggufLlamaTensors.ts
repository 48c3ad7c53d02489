/**
 * Llama-architecture GGUF tensors as Hugging Face tensors: names mapped (llama.cpp's
 * tensor_mapping.py, read backwards), data dequantized to float32, and the Q/K row permutation
 * that llama.cpp's convert_hf_to_gguf.py applies undone.
 */
import type { Tensor } from '../tensor';
import { dequantizeGgml, ggmlTypeName } from './ggmlTypes';
import { GgufError, type GgufContents, type GgufTensorInfo } from './ggufContents';

const GLOBAL_NAMES: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

const LAYER_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  ffn_norm: 'post_attention_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};

const LAYER_NAME = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/;

/** The HF name of a GGUF tensor, or undefined when it has none. */
export function hfNameOfGgufTensor(name: string): string | undefined {
  if (GLOBAL_NAMES[name]) return GLOBAL_NAMES[name];
  const m = LAYER_NAME.exec(name);
  const part = m && LAYER_NAMES[m[2]];
  if (!m || !part) return undefined;
  const suffix = part.endsWith('layernorm') ? 'weight' : m[3];
  return `model.layers.${m[1]}.${part}.${suffix}`;
}

/** The GGUF name of an HF tensor, or undefined. */
export function ggufNameOfHfTensor(hfName: string): string | undefined {
  for (const [g, h] of Object.entries(GLOBAL_NAMES)) if (h === hfName) return g;
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (!m) return undefined;
  const part = Object.entries(LAYER_NAMES).find(([, h]) => h === m[2])?.[0];
  return part ? `blk.${m[1]}.${part}.${m[3]}` : undefined;
}

/**
 * llama.cpp's permute(w, n_head) as a row map: HF row h·hd + t·hd/2 + i is GGUF row h·hd + 2i + t
 * (rotary pairs interleaved rather than split in halves).
 */
export function ggufRowOfHfRow(rows: number, heads: number): (r: number) => number {
  const hd = rows / heads;
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new GgufError(`cannot undo the rotary permutation: ${rows} rows over ${heads} heads`);
  const half = hd / 2;
  return (r) => {
    const h = Math.floor(r / hd), within = r % hd, t = Math.floor(within / half), i = within % half;
    return h * hd + 2 * i + t;
  };
}

/** The heads a GGUF tensor's rows were permuted over (Q: query heads, K: key-value heads), or undefined. */
export function rotaryHeadsOf(name: string, heads: number, kvHeads: number): number | undefined {
  if (/\.attn_q\.(weight|bias)$/.test(name)) return heads;
  if (/\.attn_k\.(weight|bias)$/.test(name)) return kvHeads;
  return undefined;
}

/** Undoes llama.cpp's Q/K permutation on float rows of `cols` values (1 for a bias). */
export function unpermuteRotaryRows(data: Float32Array, heads: number, cols: number): Float32Array {
  const rows = data.length / cols;
  const source = ggufRowOfHfRow(rows, heads);
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) out.set(data.subarray(source(r) * cols, (source(r) + 1) * cols), r * cols);
  return out;
}

/** Dequantizes one GGUF tensor to its HF shape (ggml shape reversed), unpermuting Q and K. */
export function hfTensorFromGguf(info: GgufTensorInfo, fileBytes: Uint8Array, heads: number, kvHeads: number): Tensor {
  const count = info.shape.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  try {
    data = dequantizeGgml(info.type, fileBytes.subarray(info.offset, info.offset + info.byteLength), count);
  } catch (e) {
    throw new GgufError(`tensor "${info.name}" (${ggmlTypeName(info.type)}): ${(e as Error).message}`, { cause: e });
  }
  const shape = [...info.shape].reverse();
  const cols = shape.length > 1 ? shape[1] : 1;
  const rotary = rotaryHeadsOf(info.name, heads, kvHeads);
  return { shape, data: rotary === undefined ? data : unpermuteRotaryRows(data, rotary, cols) };
}

/**
 * The HF-named float32 tensors of a llama GGUF. `include` (on HF names) limits what is
 * dequantized; a tensor with no HF name is refused, so a file of another layout is not half-read.
 */
export function hfTensorsFromGguf(
  contents: GgufContents,
  fileBytes: Uint8Array,
  heads: number,
  kvHeads: number,
  include: (hfName: string) => boolean = () => true,
): Map<string, Tensor> {
  const unknown = [...contents.tensors.keys()].filter((n) => hfNameOfGgufTensor(n) === undefined);
  if (unknown.length > 0) {
    throw new GgufError(`GGUF has ${unknown.length} tensor(s) a llama model does not: ${unknown.slice(0, 5).join(', ')}`);
  }
  const out = new Map<string, Tensor>();
  for (const info of contents.tensors.values()) {
    const hfName = hfNameOfGgufTensor(info.name)!;
    if (include(hfName)) out.set(hfName, hfTensorFromGguf(info, fileBytes, heads, kvHeads));
  }
  return out;
}
