import type { ModelConfig } from './modelConfig';
import type { LayerWeights, LlamaWeights } from './llamaWeights';
import type { Tensor } from './tensor';
import type { SubmodelPlan } from './submodelPlan';
import { HF_EMBED, HF_LM_HEAD, HfWeightsError, weightsFromHfTensors } from './hfWeights';

/**
 * How the frozen projection weights of a session are stored (FedSODA / QLoRA-style: a tab holds a
 * quantized base and trains float32 LoRA on top). Every format packs a [rows, cols] weight (rows =
 * output features, cols = input features, the HF [out, in] layout) into 32-bit words, each row
 * padded to whole words, plus float32 scales:
 *
 * - 'f32':  the float32 values themselves (words are their bit patterns), no scales.
 * - 'int8': symmetric, one scale per row (absmax / 127, or 1 for an all-zero row); q = round(w /
 *   scale) in [-127, 127], 4 per word, column j in byte j % 4 (little-endian), two's complement.
 *   Padding bytes are 0.
 * - 'int4': symmetric, one scale per (row, group of INT4_GROUP_SIZE columns) (absmax / 7, or 1);
 *   q in [-7, 7] stored as q + 8 in a nibble, 8 per word, column j in nibble j % 8 (bits 4·(j%8)).
 *   The last group of a row may be partial. Padding nibbles are 8, so padding decodes to 0 too.
 *
 * - 'q8_0': symmetric int8 in groups of 32 columns (GGUF's Q8_0 re-packed exactly: one scale per
 *   group, q in [-127, 127], int8's byte order). Columns must be whole groups.
 * - 'q4_1': affine, GGUF's Q4_1 re-packed exactly: per (row, group of 32 columns) a scale d and a
 *   minimum m, x = d·q + m with q in [0, 15] stored as is, in int4's nibble order. Scales hold
 *   (d, m) pairs. Columns must be whole groups (GGUF rows always are), so there is no padding.
 *
 * Padding that decodes to 0 lets the GPU kernels read whole words at a row's end and multiply
 * the surplus by any finite input without a branch. Dequantization is q·scale in float32
 * (Math.fround), exactly what the WGSL kernels compute per element.
 */
export type WeightFormat = 'f32' | 'int8' | 'int4' | 'q8_0' | 'q4_1';

export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'int8', 'int4', 'q8_0', 'q4_1'];

/** Bits of one stored value of a packed format (the kernels' BITS). */
export function formatBits(format: Exclude<WeightFormat, 'f32'>): 8 | 4 {
  return format === 'int8' || format === 'q8_0' ? 8 : 4;
}

/**
 * Columns per int4 scale. 32 is the common choice for 4-bit LLM weights (GGML's Q4_0, AWQ/GPTQ
 * use 32-128): per-group scales keep one outlier from flattening a whole row to a few levels,
 * at one float per 32 weights (+1 bit per weight). A multiple of 8, so a group is whole words and
 * a GPU invocation reading one word needs one scale.
 */
export const INT4_GROUP_SIZE = 32;

export interface QuantizedMatrix {
  format: WeightFormat;
  rows: number;
  cols: number;
  /** rows × wordsPerRow packed values (see WeightFormat). */
  words: Uint32Array;
  /** rows × groupsPerRow scales, row-major (empty for 'f32'; (d, m) pairs for 'q4_1'). */
  scales: Float32Array;
  /** Columns per scale: cols for 'int8' (and 'f32'), INT4_GROUP_SIZE for 'int4'. */
  groupSize: number;
}

/** Sizes of a packed [rows, cols] matrix: words and scales it holds, and how a row is laid out. */
export interface QuantizedLayout {
  valuesPerWord: number;
  wordsPerRow: number;
  groupSize: number;
  groupsPerRow: number;
  /** Words of a group (the last group of a row may use fewer). */
  wordsPerGroup: number;
  words: number;
  scales: number;
}

export function quantizedLayout(rows: number, cols: number, format: WeightFormat): QuantizedLayout {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1) {
    throw new RangeError(`quantized matrix: rows and cols must be positive integers, got ${rows} x ${cols}`);
  }
  const valuesPerWord = { f32: 1, int8: 4, int4: 8, q8_0: 4, q4_1: 8 }[format];
  if (!valuesPerWord) throw new RangeError(`unknown weight format "${format}"`);
  const grouped = format === 'int4' || format === 'q4_1' || format === 'q8_0';
  if ((format === 'q4_1' || format === 'q8_0') && cols % INT4_GROUP_SIZE !== 0) {
    throw new RangeError(`${format} matrices need whole groups of ${INT4_GROUP_SIZE} columns, got ${cols}`);
  }
  const wordsPerRow = Math.ceil(cols / valuesPerWord);
  const groupSize = grouped ? INT4_GROUP_SIZE : cols;
  const groupsPerRow = format === 'f32' ? 0 : Math.ceil(cols / groupSize);
  const wordsPerGroup = grouped ? INT4_GROUP_SIZE / valuesPerWord : wordsPerRow;
  const scalesPerGroup = format === 'q4_1' ? 2 : 1;
  return { valuesPerWord, wordsPerRow, groupSize, groupsPerRow, wordsPerGroup, words: rows * wordsPerRow, scales: rows * groupsPerRow * scalesPerGroup };
}

/** Exact bytes of a packed [rows, cols] matrix: its words plus its scales. */
export function quantizedMatrixBytes(rows: number, cols: number, format: WeightFormat): number {
  const l = quantizedLayout(rows, cols, format);
  return 4 * (l.words + l.scales);
}

const QMAX = { int8: 127, q8_0: 127, int4: 7 } as const;

/** ggml's quantize_row_q4_1 per group (d = (max - min) / 15, m = min), in float32. */
function quantizeAffine4(data: Float32Array, rows: number, cols: number, l: QuantizedLayout): QuantizedMatrix {
  const words = new Uint32Array(l.words), scales = new Float32Array(l.scales);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < l.groupsPerRow; g++) {
      const c0 = r * cols + g * l.groupSize;
      let min = Infinity, max = -Infinity;
      for (let c = 0; c < l.groupSize; c++) (min = Math.min(min, data[c0 + c])), (max = Math.max(max, data[c0 + c]));
      const d = Math.fround((max - min) / 15);
      const at = 2 * (r * l.groupsPerRow + g);
      scales[at] = d;
      scales[at + 1] = min;
      for (let c = 0; c < l.groupSize; c++) {
        const q = d > 0 ? Math.max(0, Math.min(15, Math.round((data[c0 + c] - min) / d))) : 0;
        const w = r * l.wordsPerRow + g * l.wordsPerGroup + (c >> 3);
        words[w] = (words[w] | (q << (4 * (c & 7)))) >>> 0;
      }
    }
  }
  return { format: 'q4_1', rows, cols, words, scales, groupSize: l.groupSize };
}

export function quantizeMatrix(data: Float32Array, rows: number, cols: number, format: WeightFormat): QuantizedMatrix {
  const l = quantizedLayout(rows, cols, format);
  if (data.length !== rows * cols) throw new RangeError(`quantizeMatrix: ${data.length} values for a ${rows} x ${cols} matrix`);
  if (format === 'f32') {
    return { format, rows, cols, words: new Uint32Array(Float32Array.from(data).buffer), scales: new Float32Array(0), groupSize: cols };
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new RangeError(`quantizeMatrix: value ${data[i]} at index ${i} is not finite`);
  }
  if (format === 'q4_1') return quantizeAffine4(data, rows, cols, l);
  const qmax = QMAX[format], bits = formatBits(format), offset = format === 'int4' ? 8 : 0;
  const words = new Uint32Array(l.words), scales = new Float32Array(l.scales);
  if (format === 'int4') words.fill(0x88888888); // padding nibbles decode to 0
  for (let r = 0; r < rows; r++) {
    const row = r * cols, wordRow = r * l.wordsPerRow;
    for (let g = 0; g < l.groupsPerRow; g++) {
      const c0 = g * l.groupSize, c1 = Math.min(cols, c0 + l.groupSize);
      let absmax = 0;
      for (let c = c0; c < c1; c++) absmax = Math.max(absmax, Math.abs(data[row + c]));
      const scale = absmax > 0 ? Math.fround(absmax / qmax) : 1;
      scales[r * l.groupsPerRow + g] = scale;
      for (let c = c0; c < c1; c++) {
        // Round half away from zero, so quantize(-w) = -quantize(w) (symmetric, as the scale is).
        const x = data[row + c] / scale;
        const q = Math.max(-qmax, Math.min(qmax, Math.sign(x) * Math.round(Math.abs(x))));
        const w = wordRow + Math.floor(c / l.valuesPerWord), shift = bits * (c % l.valuesPerWord);
        const mask = ((1 << bits) - 1) << shift;
        words[w] = ((words[w] & ~mask) | (((q + offset) & ((1 << bits) - 1)) << shift)) >>> 0;
      }
    }
  }
  return { format, rows, cols, words, scales, groupSize: l.groupSize };
}

/** The signed integer stored for column c of row r (not scaled). */
function storedValue(q: QuantizedMatrix, l: QuantizedLayout, r: number, c: number): number {
  const word = q.words[r * l.wordsPerRow + Math.floor(c / l.valuesPerWord)];
  if (q.format === 'int8' || q.format === 'q8_0') return (word << (24 - 8 * (c % 4))) >> 24; // sign-extend the byte
  const nibble = (word >>> (4 * (c % 8))) & 0xf;
  return q.format === 'q4_1' ? nibble : nibble - 8;
}

export function dequantizeMatrix(q: QuantizedMatrix): Float32Array {
  const l = quantizedLayout(q.rows, q.cols, q.format);
  if (q.words.length !== l.words || q.scales.length !== l.scales) {
    throw new RangeError(`dequantizeMatrix: a ${q.rows} x ${q.cols} ${q.format} matrix needs ${l.words} words and ${l.scales} scales, got ${q.words.length} and ${q.scales.length}`);
  }
  if (q.format === 'f32') return new Float32Array(q.words.slice().buffer);
  const out = new Float32Array(q.rows * q.cols);
  if (q.format === 'q4_1') {
    for (let r = 0; r < q.rows; r++) {
      for (let c = 0; c < q.cols; c++) {
        const at = 2 * (r * l.groupsPerRow + Math.floor(c / l.groupSize));
        out[r * q.cols + c] = q.scales[at] * storedValue(q, l, r, c) + q.scales[at + 1];
      }
    }
    return out;
  }
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      out[r * q.cols + c] = storedValue(q, l, r, c) * q.scales[r * l.groupsPerRow + Math.floor(c / l.groupSize)];
    }
  }
  return out;
}

/** The seven frozen projections of a decoder layer: the weights a quantized base stores packed. */
export const PROJECTION_WEIGHTS = ['qProj', 'kProj', 'vProj', 'oProj', 'gateProj', 'upProj', 'downProj'] as const;
export type ProjectionWeightName = (typeof PROJECTION_WEIGHTS)[number];

/** A decoder layer whose projections are packed; norms and biases stay float32. */
export type QuantizedLayerWeights = Omit<LayerWeights, ProjectionWeightName> & Record<ProjectionWeightName, QuantizedMatrix>;

/** A [vocab, hidden] table (the embedding, or an untied LM head): float32 or packed. */
export type VocabTable = Tensor | QuantizedMatrix;

export function isPackedTable(t: VocabTable): t is QuantizedMatrix {
  return 'words' in t;
}

/**
 * Model weights with packed projections (what a tab holds for a quantized base). Norms and biases
 * stay float32 (tiny). The vocabulary tables are float32 unless packed too: a GGUF base keeps its
 * Q8_0 embedding packed as 'q8_0' (in small models that table is the largest single weight); the
 * gather and the LM head then dequantize in their kernels. A tied head is the embedding object.
 */
export interface QuantizedLlamaWeights extends Omit<LlamaWeights, 'layers' | 'embed' | 'lmHead'> {
  format: WeightFormat;
  embed: VocabTable;
  lmHead: VocabTable;
  layers: (QuantizedLayerWeights | undefined)[];
}

/** The format of the vocabulary tables of weights ('f32' unless the embedding is packed). */
export function vocabFormatOf(w: LlamaWeights | QuantizedLlamaWeights): WeightFormat {
  return isPackedTable(w.embed) ? w.embed.format : 'f32';
}

function dequantizeTable(t: VocabTable): Tensor {
  return isPackedTable(t) ? { shape: [t.rows, t.cols], data: dequantizeMatrix(t) } : t;
}

function packTable(t: Tensor, format: WeightFormat): VocabTable {
  return format === 'f32' ? t : quantizeMatrix(t.data, t.shape[0], t.shape[1], format);
}

/** [rows, cols] of each projection weight for a config. */
export function projectionShape(cfg: ModelConfig, name: ProjectionWeightName): [number, number] {
  const H = cfg.hiddenSize, F = cfg.intermediateSize, qd = cfg.numHeads * cfg.headDim, kvd = cfg.numKvHeads * cfg.headDim;
  switch (name) {
    case 'qProj': return [qd, H];
    case 'kProj': case 'vProj': return [kvd, H];
    case 'oProj': return [H, qd];
    case 'gateProj': case 'upProj': return [F, H];
    case 'downProj': return [H, F];
  }
}

function quantizeTensor(cfg: ModelConfig, name: ProjectionWeightName, t: Tensor, format: WeightFormat): QuantizedMatrix {
  const [rows, cols] = projectionShape(cfg, name);
  if (t.data.length !== rows * cols) throw new RangeError(`${name}: ${t.data.length} values, the config needs ${rows} x ${cols}`);
  return quantizeMatrix(t.data, rows, cols, format);
}

/**
 * Packs the projections of every present layer, and the vocabulary tables too when vocabFormat is
 * not 'f32' (a tied head stays the embedding object); everything else is shared, not copied.
 */
export function quantizeWeights(cfg: ModelConfig, weights: LlamaWeights, format: WeightFormat, vocabFormat: WeightFormat = 'f32'): QuantizedLlamaWeights {
  const embed = packTable(weights.embed, vocabFormat);
  return {
    format, embed, finalNorm: weights.finalNorm, lmHead: weights.lmHead === weights.embed ? embed : packTable(weights.lmHead, vocabFormat),
    layers: weights.layers.map((l) => l && quantizeLayer(cfg, l, format)),
  };
}

export function quantizeLayer(cfg: ModelConfig, l: LayerWeights, format: WeightFormat): QuantizedLayerWeights {
  const out = { ...l } as Record<string, unknown>;
  for (const name of PROJECTION_WEIGHTS) out[name] = quantizeTensor(cfg, name, l[name], format);
  return out as QuantizedLayerWeights;
}

/** Float32 weights with the packed tensors dequantized (float ones shared, a tied head kept tied). */
export function dequantizeWeights(q: QuantizedLlamaWeights): LlamaWeights {
  const embed = dequantizeTable(q.embed);
  return {
    embed, finalNorm: q.finalNorm, lmHead: q.lmHead === q.embed ? embed : dequantizeTable(q.lmHead),
    layers: q.layers.map((l) => {
      if (!l) return undefined;
      const out = { ...l } as Record<string, unknown>;
      for (const name of PROJECTION_WEIGHTS) out[name] = { shape: [l[name].rows, l[name].cols], data: dequantizeMatrix(l[name]) };
      return out as unknown as LayerWeights;
    }),
  };
}

/**
 * The model a quantized session computes, in float32: every present layer's seven projections
 * (and the vocabulary tables, with a vocabFormat) replaced by dequantize(quantize(w)); norms and
 * biases unchanged. The CPU reference for the GPU's dequantizing kernels.
 */
export function fakeQuantizeWeights(cfg: ModelConfig, weights: LlamaWeights, format: WeightFormat, vocabFormat: WeightFormat = 'f32'): LlamaWeights {
  return dequantizeWeights(quantizeWeights(cfg, weights, format, vocabFormat));
}

/** Whether weights came packed (QuantizedLlamaWeights) rather than as float32 LlamaWeights. */
export function isQuantizedWeights(w: LlamaWeights | QuantizedLlamaWeights): w is QuantizedLlamaWeights {
  return 'format' in w;
}

/** HF tensor name suffixes (after "model.layers.{i}.") of the projection weights. */
const HF_PROJECTION_SUFFIX: Record<ProjectionWeightName, string> = {
  qProj: 'self_attn.q_proj.weight', kProj: 'self_attn.k_proj.weight', vProj: 'self_attn.v_proj.weight', oProj: 'self_attn.o_proj.weight',
  gateProj: 'mlp.gate_proj.weight', upProj: 'mlp.up_proj.weight', downProj: 'mlp.down_proj.weight',
};
const ATTENTION_PROJECTIONS: ProjectionWeightName[] = ['qProj', 'kProj', 'vProj', 'oProj'];

/** The projections a plan keeps, by HF name, with their layer and field. */
export function keptProjections(plan: SubmodelPlan): Map<string, [number, ProjectionWeightName]> {
  const kept = new Map<string, [number, ProjectionWeightName]>();
  for (const l of plan.layers) {
    for (const name of PROJECTION_WEIGHTS) {
      if (ATTENTION_PROJECTIONS.includes(name) ? l.attention : l.mlp) kept.set(hfProjectionName(l.index, name), [l.index, name]);
    }
  }
  return kept;
}

/** The HF name of a projection weight of layer i (e.g. model.layers.3.mlp.up_proj.weight). */
export function hfProjectionName(layer: number, name: ProjectionWeightName): string {
  return `model.layers.${layer}.${HF_PROJECTION_SUFFIX[name]}`;
}

/**
 * QuantizedLlamaWeights for a plan from HF-named float tensors (norms, biases, and the vocabulary
 * tables unless packed) and packed tensors by HF name, as a tab receives a quantized base: the
 * packed tensors never exist as float32 there. Packed may hold the plan's projections (in
 * `format`) and the embedding / untied LM head (in any one packed format, `vocabFormat` of the
 * result). A kept projection given as a float tensor instead is quantized here; one given both
 * ways, or packed in another format or shape, or not needed by the plan, is refused.
 */
export function quantizedWeightsFromHfTensors(
  cfg: ModelConfig, tensors: ReadonlyMap<string, Tensor>, packed: ReadonlyMap<string, QuantizedMatrix>, format: WeightFormat, plan: SubmodelPlan,
): QuantizedLlamaWeights {
  const wanted = keptProjections(plan);
  const tables = cfg.tieWordEmbeddings ? [HF_EMBED] : [HF_EMBED, HF_LM_HEAD];
  const problems: string[] = [];
  for (const [hf, q] of packed) {
    if (tensors.has(hf)) problems.push(`${hf} is given both packed and as a float tensor`);
    if (tables.includes(hf)) {
      if (q.rows !== cfg.vocabSize || q.cols !== cfg.hiddenSize) problems.push(`${hf} is ${q.rows} x ${q.cols}, the config needs ${cfg.vocabSize} x ${cfg.hiddenSize}`);
      if (q.format === 'f32') problems.push(`${hf} is "packed" as f32; send it as a float tensor`);
      continue;
    }
    const at = wanted.get(hf);
    if (!at) { problems.push(`${hf} is not a projection the plan keeps`); continue; }
    const [rows, cols] = projectionShape(cfg, at[1]);
    if (q.format !== format) problems.push(`${hf} is packed as ${q.format}, not ${format}`);
    if (q.rows !== rows || q.cols !== cols) problems.push(`${hf} is ${q.rows} x ${q.cols}, the config needs ${rows} x ${cols}`);
  }
  const packedTables = tables.filter((n) => packed.has(n));
  if (packedTables.length && packedTables.length !== tables.length) problems.push(`${packedTables.join(', ')} packed but not ${tables.filter((n) => !packed.has(n)).join(', ')}: the vocabulary tables share one format`);
  if (new Set(packedTables.map((n) => packed.get(n)!.format)).size > 1) problems.push('the vocabulary tables are packed in different formats');
  if (problems.length) throw new HfWeightsError(`quantized base: ${problems.join('; ')}`);
  const floats = weightsFromHfTensors(cfg, tensors, { plan, suppliedElsewhere: new Set(packed.keys()) });
  const layers: (QuantizedLayerWeights | undefined)[] = floats.layers.map((l) => l && ({ ...l } as unknown as QuantizedLayerWeights));
  for (const [hf, [i, name]] of wanted) {
    const layer = layers[i]! as unknown as Record<string, Tensor | QuantizedMatrix>;
    layer[name] = packed.get(hf) ?? quantizeTensor(cfg, name, layer[name] as Tensor, format);
  }
  const embed: VocabTable = packed.get(HF_EMBED) ?? floats.embed;
  const lmHead: VocabTable = cfg.tieWordEmbeddings ? embed : packed.get(HF_LM_HEAD) ?? floats.lmHead;
  return { format, embed, finalNorm: floats.finalNorm, lmHead, layers };
}
