/**
 * GGUF Q4_1 and Q8_0 tensors as the project's packed 'q4_1' / 'q8_0' QuantizedMatrix, exactly:
 * Q8_0's f16 block scale becomes float32 and its 32 int8 values keep their order (4 per word).
 * Q4_1: the f16 scale and
 * minimum of each 32-value block become float32 (no rounding), the nibbles move into int4's order
 * (column c in nibble c % 8 of word c / 8; GGUF keeps columns j and j + 16 in one byte). No float
 * image of the weight is made. Q and K rows are un-permuted as whole packed rows.
 */
import { f16BitsToF32 } from '../halfFloat';
import { quantizedLayout, type QuantizedMatrix } from '../weightQuantization';
import { GGML_TYPE, ggmlTypeName } from './ggmlTypes';
import { GgufError, type GgufTensorInfo } from './ggufContents';
import { ggufRowOfHfRow, rotaryHeadsOf } from './ggufLlamaTensors';

const BLOCK_BYTES = 20;
const Q8_0_BLOCK_BYTES = 34;

export function packQ4_1Blocks(bytes: Uint8Array, rows: number, cols: number): QuantizedMatrix {
  const l = quantizedLayout(rows, cols, 'q4_1');
  const blocks = rows * l.groupsPerRow;
  if (bytes.length !== blocks * BLOCK_BYTES) throw new GgufError(`Q4_1 data of ${rows} x ${cols} needs ${blocks * BLOCK_BYTES} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = new Uint32Array(l.words), scales = new Float32Array(l.scales);
  for (let b = 0; b < blocks; b++) {
    const at = b * BLOCK_BYTES;
    scales[2 * b] = f16BitsToF32(view.getUint16(at, true));
    scales[2 * b + 1] = f16BitsToF32(view.getUint16(at + 2, true));
    // Blocks run along the row, so block b's four words are words 4b .. 4b + 3.
    for (let c = 0; c < 32; c++) {
      const byte = bytes[at + 4 + (c & 15)];
      const q = c < 16 ? byte & 15 : byte >> 4;
      words[4 * b + (c >> 3)] |= q << (4 * (c & 7));
    }
  }
  return { format: 'q4_1', rows, cols, words, scales, groupSize: l.groupSize };
}

export function packQ8_0Blocks(bytes: Uint8Array, rows: number, cols: number): QuantizedMatrix {
  const l = quantizedLayout(rows, cols, 'q8_0');
  const blocks = rows * l.groupsPerRow;
  if (bytes.length !== blocks * Q8_0_BLOCK_BYTES) throw new GgufError(`Q8_0 data of ${rows} x ${cols} needs ${blocks * Q8_0_BLOCK_BYTES} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = new Uint32Array(l.words), scales = new Float32Array(l.scales);
  for (let b = 0; b < blocks; b++) {
    const at = b * Q8_0_BLOCK_BYTES;
    scales[b] = f16BitsToF32(view.getUint16(at, true));
    // Blocks run along the row: block b's 32 bytes are words 8b .. 8b + 7, already little-endian.
    for (let w = 0; w < 8; w++) words[8 * b + w] = view.getUint32(at + 2 + 4 * w, true);
  }
  return { format: 'q8_0', rows, cols, words, scales, groupSize: l.groupSize };
}

/** Row r of the result is row `source(r)` of `q` (words and scales move together). */
export function permutePackedRows(q: QuantizedMatrix, source: (r: number) => number): QuantizedMatrix {
  const l = quantizedLayout(q.rows, q.cols, q.format);
  const wordsPerRow = l.wordsPerRow, scalesPerRow = l.scales / q.rows;
  const words = new Uint32Array(q.words.length), scales = new Float32Array(q.scales.length);
  for (let r = 0; r < q.rows; r++) {
    const s = source(r);
    words.set(q.words.subarray(s * wordsPerRow, (s + 1) * wordsPerRow), r * wordsPerRow);
    scales.set(q.scales.subarray(s * scalesPerRow, (s + 1) * scalesPerRow), r * scalesPerRow);
  }
  return { ...q, words, scales };
}

/** GGUF types that stay packed on the GPU, and the project format each becomes. */
export const PACKED_GGML_TYPES: ReadonlyMap<number, 'q4_1' | 'q8_0'> = new Map([[GGML_TYPE.Q4_1, 'q4_1'], [GGML_TYPE.Q8_0, 'q8_0']]);

/** A Q4_1 or Q8_0 GGUF matrix (a projection or a vocabulary table) as a packed matrix in HF row order. */
export function packedTensorFromGguf(info: GgufTensorInfo, fileBytes: Uint8Array, heads: number, kvHeads: number): QuantizedMatrix {
  if (!PACKED_GGML_TYPES.has(info.type)) throw new GgufError(`tensor "${info.name}" is ${ggmlTypeName(info.type)}; only Q4_1 and Q8_0 stay packed on the GPU`);
  const [cols, rows] = info.shape;
  const data = fileBytes.subarray(info.offset, info.offset + info.byteLength);
  const q = info.type === GGML_TYPE.Q4_1 ? packQ4_1Blocks(data, rows, cols) : packQ8_0Blocks(data, rows, cols);
  const rotary = rotaryHeadsOf(info.name, heads, kvHeads);
  return rotary === undefined ? q : permutePackedRows(q, ggufRowOfHfRow(rows, rotary));
}
