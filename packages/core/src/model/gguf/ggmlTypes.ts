/**
 * The ggml tensor types a GGUF file may hold, with their block layouts, and dequantization of
 * the ones we read. Layouts from ggml's ggml-common.h: every quantized block covers 32 values
 * along the innermost dimension (a row), little-endian.
 *  - Q4_0: f16 d, 16 bytes of nibbles; x = d * (q - 8)
 *  - Q4_1: f16 d, f16 m, 16 bytes of nibbles; x = d * q + m
 *  - Q8_0: f16 d, 32 int8; x = d * q
 * Nibble order: byte j holds value j in its low nibble and value j + 16 in its high nibble.
 */
import { bf16BitsToF32, f16BitsToF32 } from '../halfFloat';

/** ggml type ids, as in ggml.h's `enum ggml_type`. */
export const GGML_TYPE = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9,
  Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15, IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18,
  IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23, I8: 24, I16: 25, I32: 26, I64: 27, F64: 28,
  IQ1_M: 29, BF16: 30, TQ1_0: 34, TQ2_0: 35,
} as const;

export type GgmlTypeName = keyof typeof GGML_TYPE;

const NAME_OF = new Map<number, GgmlTypeName>(Object.entries(GGML_TYPE).map(([n, id]) => [id, n as GgmlTypeName]));

/** The name of a ggml type id, or `type <id>` when unknown. */
export function ggmlTypeName(id: number): string {
  return NAME_OF.get(id) ?? `type ${id}`;
}

/** Block layout of the types we can dequantize: values per block and bytes per block. */
const LAYOUT: Partial<Record<GgmlTypeName, { values: number; bytes: number }>> = {
  F32: { values: 1, bytes: 4 },
  F16: { values: 1, bytes: 2 },
  BF16: { values: 1, bytes: 2 },
  Q4_0: { values: 32, bytes: 18 },
  Q4_1: { values: 32, bytes: 20 },
  Q8_0: { values: 32, bytes: 34 },
};

/** The types dequantizeGgml reads, for error messages. */
export const SUPPORTED_GGML_TYPES = Object.keys(LAYOUT) as GgmlTypeName[];

/** Thrown for a tensor type we cannot read or a byte range that does not match the shape. */
export class GgmlTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgmlTypeError';
  }
}

function layoutOf(type: number) {
  const layout = LAYOUT[NAME_OF.get(type) as GgmlTypeName];
  if (!layout) {
    throw new GgmlTypeError(`tensor type ${ggmlTypeName(type)} is not supported; supported: ${SUPPORTED_GGML_TYPES.join(', ')}`);
  }
  return layout;
}

/**
 * Bytes a tensor of `type` with `rowLength` values per row and `rows` rows occupies.
 * @throws GgmlTypeError for an unsupported type or a row length that is not a whole number of blocks.
 */
export function ggmlTensorBytes(type: number, rowLength: number, rows: number): number {
  const { values, bytes } = layoutOf(type);
  if (rowLength % values !== 0) {
    throw new GgmlTypeError(`${ggmlTypeName(type)} rows must be a multiple of ${values} values, got ${rowLength}`);
  }
  return (rowLength / values) * bytes * rows;
}

/**
 * Dequantizes `count` values of `type` from `bytes` (exactly ggmlTensorBytes long) into float32.
 * The result is in ggml order, which is row-major with the innermost dimension first: the same
 * memory order as the Hugging Face tensor of reversed shape.
 */
export function dequantizeGgml(type: number, bytes: Uint8Array, count: number): Float32Array {
  const { values, bytes: blockBytes } = layoutOf(type);
  const need = (count / values) * blockBytes;
  if (count % values !== 0 || bytes.length !== need) {
    throw new GgmlTypeError(`${ggmlTypeName(type)} data of ${count} values needs ${need} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (NAME_OF.get(type)) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16BitsToF32(view.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < count; i++) out[i] = bf16BitsToF32(view.getUint16(2 * i, true));
      break;
    case 'Q4_0':
    case 'Q4_1': {
      const withMin = type === GGML_TYPE.Q4_1;
      const qsAt = withMin ? 4 : 2;
      for (let b = 0, o = 0; o < count; b += blockBytes, o += 32) {
        const d = f16BitsToF32(view.getUint16(b, true));
        const m = withMin ? f16BitsToF32(view.getUint16(b + 2, true)) : -8 * d;
        for (let j = 0; j < 16; j++) {
          const q = bytes[b + qsAt + j];
          out[o + j] = d * (q & 15) + m;
          out[o + j + 16] = d * (q >> 4) + m;
        }
      }
      break;
    }
    case 'Q8_0':
      for (let b = 0, o = 0; o < count; b += blockBytes, o += 32) {
        const d = f16BitsToF32(view.getUint16(b, true));
        for (let j = 0; j < 32; j++) out[o + j] = d * view.getInt8(b + 2 + j);
      }
      break;
  }
  return out;
}
