/**
 * Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
 *   [u64 little-endian header length N][N bytes of UTF-8 JSON header][data section]
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to
 * the data section) plus an optional "__metadata__" object of string values.
 * Validation follows the reference implementation, which also rejects gaps and unused bytes.
 */
import type { DType, Tensor } from './tensor';
import { numel } from './tensor';
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from './halfFloat';

/** Thrown for any malformed safetensors input, or for tensors that cannot be serialized. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Upper bound on the JSON header size, the same as the reference implementation's. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/**
 * Element types of a header entry: the float types tensors are stored in, and U32 for the words of
 * packed (quantized) matrices (see packedSafetensors.ts), which parseSafetensors does not decode.
 */
export type SafetensorsDType = DType | 'U32';

const DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, U32: 4 };
const SUPPORTED_DTYPES = Object.keys(DTYPE_BYTES).join(', ');
const METADATA_KEY = '__metadata__';

/** One header entry: where a tensor's bytes are and how to interpret them. */
export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  /** [begin, end) byte offsets relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** The validated header of a safetensors file. */
export interface SafetensorsHeader {
  /** Tensor entries in data-section order (JSON key order is not reliable for integer-like names). */
  tensors: Map<string, SafetensorsEntry>;
  /** The "__metadata__" object ({} when absent). */
  metadata: Record<string, string>;
  /** Byte offset of the data section within the file (8 + header length). */
  dataStart: number;
}

/** A decoded tensor: float32 in memory, plus the dtype it was stored as. */
export interface SafetensorsTensor extends Tensor {
  dtype: DType;
}

/** Options for parseSafetensors. */
export interface ParseSafetensorsOptions {
  /** Decode only tensors whose name passes; the whole header is still validated. */
  include?: (name: string) => boolean;
}

/** A tensor to serialize; dtype defaults to F32. U32 entries hold raw words (Uint32Array). */
export type SafetensorsInput =
  | { dtype?: DType; shape: number[]; data: Float32Array }
  | { dtype: 'U32'; shape: number[]; data: Uint32Array };

// The format is little-endian; on a big-endian host every element has to be byte-swapped.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytesInPlace(bytes: Uint8Array, elementSize: number): void {
  if (LITTLE_ENDIAN_HOST) return;
  for (let i = 0; i < bytes.length; i += elementSize) bytes.subarray(i, i + elementSize).reverse();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'string' ? `string ${JSON.stringify(v)}` : typeof v;
}

function isDimension(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Reads and validates the header of a safetensors file (the whole file must be given, so the
 * data_offsets can be checked against the data section). Throws SafetensorsError if malformed.
 */
export function readSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  if (bytes.length < 8) {
    throw new SafetensorsError(`file is ${bytes.length} bytes, shorter than the 8-byte header length prefix`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLen > SAFETENSORS_MAX_HEADER_BYTES) {
    throw new SafetensorsError(`header length ${headerLen} exceeds the limit of ${SAFETENSORS_MAX_HEADER_BYTES} bytes`);
  }
  if (8 + headerLen > bytes.length) {
    throw new SafetensorsError(
      `header length ${headerLen} runs past the end of the file (file is ${bytes.length} bytes, leaving ${bytes.length - 8} for the header)`,
    );
  }
  const text = decodeUtf8(bytes.subarray(8, 8 + headerLen));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(json)) {
    throw new SafetensorsError(`header must be a JSON object of tensor entries, got ${describe(json)}`);
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata = parseMetadata(json[METADATA_KEY]);
  const entries: [string, SafetensorsEntry][] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name !== METADATA_KEY) entries.push([name, parseEntry(name, raw, dataLen)]);
  }
  entries.sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  checkLayout(entries, dataLen);
  return { tensors: new Map(entries), metadata, dataStart };
}

function parseMetadata(raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (!isPlainObject(raw)) throw new SafetensorsError(`"${METADATA_KEY}" must be an object of strings, got ${describe(raw)}`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(`"${METADATA_KEY}" values must be strings; "${k}" is ${describe(v)}`);
    }
  }
  return raw as Record<string, string>;
}

function parseEntry(name: string, raw: unknown, dataLen: number): SafetensorsEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(raw)) {
    throw new SafetensorsError(`${where}: entry must be an object {dtype, shape, data_offsets}, got ${describe(raw)}`);
  }
  for (const key of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(raw, key)) throw new SafetensorsError(`${where}: entry is missing "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw new SafetensorsError(`${where}: unsupported dtype ${JSON.stringify(dtype)}; supported dtypes are ${SUPPORTED_DTYPES}`);
  }
  if (!Array.isArray(shape) || !shape.every(isDimension)) {
    throw new SafetensorsError(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isDimension)) {
    throw new SafetensorsError(
      `${where}: data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new SafetensorsError(`${where}: data_offsets end ${end} is before begin ${begin}`);
  if (end > dataLen) {
    throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] are out of range of the ${dataLen}-byte data section`);
  }
  const needed = numel(shape) * DTYPE_BYTES[dtype as DType];
  if (end - begin !== needed) {
    throw new SafetensorsError(
      `${where}: data_offsets span ${end - begin} bytes but dtype ${dtype} x shape [${shape.join(', ')}] needs ${needed} bytes`,
    );
  }
  return { dtype: dtype as SafetensorsDType, shape: shape as number[], dataOffsets: [begin, end] };
}

/** The data section must be tiled exactly by the (offset-sorted) tensors: no overlaps, gaps or trailing bytes. */
function checkLayout(sorted: [string, SafetensorsEntry][], dataLen: number): void {
  let prevName: string | undefined;
  let prevEnd = 0;
  for (const [name, { dataOffsets: [begin, end] }] of sorted) {
    if (begin < prevEnd) {
      throw new SafetensorsError(`tensors ${JSON.stringify(prevName)} and ${JSON.stringify(name)} overlap in the data section`);
    }
    if (begin > prevEnd) {
      const after = prevName === undefined ? 'at the start of the data section' : `after ${JSON.stringify(prevName)}`;
      throw new SafetensorsError(`${begin - prevEnd} unused bytes ${after}, before ${JSON.stringify(name)} (gaps are not allowed)`);
    }
    prevName = name;
    prevEnd = end;
  }
  if (prevEnd !== dataLen) {
    throw new SafetensorsError(`${dataLen - prevEnd} unused bytes at the end of the data section after the last tensor`);
  }
}

/**
 * Parses a safetensors file into float32 tensors (F16/BF16 are widened exactly), keyed by name in
 * data-section order. With `include`, only the selected tensors are decoded. Throws SafetensorsError.
 */
export function parseSafetensors(bytes: Uint8Array, opts: ParseSafetensorsOptions = {}): Map<string, SafetensorsTensor> {
  const header = readSafetensorsHeader(bytes);
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, { dtype, shape, dataOffsets }] of header.tensors) {
    if (opts.include && !opts.include(name)) continue;
    if (dtype === 'U32') throw new SafetensorsError(`tensor ${JSON.stringify(name)} is U32 (packed words), not a float tensor: read it with readSafetensorsU32`);
    // Copy into a fresh (aligned) buffer: the data section may start at any byte offset,
    // and the result must not alias the caller's bytes.
    const raw = new Uint8Array(dataOffsets[1] - dataOffsets[0]);
    raw.set(bytes.subarray(header.dataStart + dataOffsets[0], header.dataStart + dataOffsets[1]));
    swapBytesInPlace(raw, DTYPE_BYTES[dtype]);
    const data =
      dtype === 'F32'
        ? new Float32Array(raw.buffer)
        : dtype === 'F16'
          ? float16ToFloat32(new Uint16Array(raw.buffer))
          : bfloat16ToFloat32(new Uint16Array(raw.buffer));
    out.set(name, { dtype, shape: [...shape], data });
  }
  return out;
}

/** The words of a U32 entry (a copy, not aliasing `bytes`). Throws SafetensorsError. */
export function readSafetensorsU32(bytes: Uint8Array, header: SafetensorsHeader, name: string): Uint32Array {
  const e = header.tensors.get(name);
  if (!e) throw new SafetensorsError(`no tensor ${JSON.stringify(name)}`);
  if (e.dtype !== 'U32') throw new SafetensorsError(`tensor ${JSON.stringify(name)} is ${e.dtype}, not U32`);
  const raw = bytes.slice(header.dataStart + e.dataOffsets[0], header.dataStart + e.dataOffsets[1]);
  swapBytesInPlace(raw, 4);
  return new Uint32Array(raw.buffer);
}

/** parseSafetensors decoding only the tensors for which `include(name)` is true. */
export function parseSafetensorsFilter(bytes: Uint8Array, include: (name: string) => boolean): Map<string, SafetensorsTensor> {
  return parseSafetensors(bytes, { include });
}

/** Encodes float32 data (or U32 words) as the little-endian bytes of `dtype`. */
function encodeData(t: SafetensorsInput, dtype: SafetensorsDType): Uint8Array {
  const isWords = t.data instanceof Uint32Array;
  if (isWords !== (dtype === 'U32')) throw new SafetensorsError(`dtype ${dtype} needs ${dtype === 'U32' ? 'a Uint32Array' : 'a Float32Array'} of data`);
  const data = t.data;
  const typed = data instanceof Uint32Array || dtype === 'F32' ? data : dtype === 'F16' ? float32ToFloat16(data) : float32ToBfloat16(data);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/**
 * Serializes tensors to safetensors bytes. Tensors are written sorted by name (deterministic
 * output), dtype defaults to F32 (F16/BF16 round to nearest even), and the header is padded
 * with spaces so the data section starts 8-byte aligned. Throws SafetensorsError on bad input.
 */
export function serializeSafetensors(
  tensors: Record<string, SafetensorsInput> | ReadonlyMap<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors] : Object.entries(tensors)) as [string, SafetensorsInput][];
  // Code-unit order, not localeCompare, so the output does not depend on the runtime's locale.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  // Build the JSON by hand: a plain object would reorder integer-like keys such as "0".
  const parts: string[] = [];
  if (metadata !== undefined) {
    parseMetadata(metadata); // same rules as when reading
    parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  const blobs: { bytes: Uint8Array; elementSize: number }[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const dtype = t.dtype ?? 'F32';
    const where = `tensor ${JSON.stringify(name)}`;
    if (name === METADATA_KEY) throw new SafetensorsError(`"${METADATA_KEY}" is reserved and cannot be a tensor name`);
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
      throw new SafetensorsError(`${where}: unsupported dtype ${JSON.stringify(dtype)}; supported dtypes are ${SUPPORTED_DTYPES}`);
    }
    if (!t.shape.every((d) => isDimension(d))) {
      throw new SafetensorsError(`${where}: shape must be non-negative integers, got [${t.shape.join(', ')}]`);
    }
    if (t.data.length !== numel(t.shape)) {
      throw new SafetensorsError(`${where}: data has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`);
    }
    const bytes = encodeData(t, dtype);
    const entry = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    blobs.push({ bytes, elementSize: DTYPE_BYTES[dtype] });
    offset += bytes.length;
  }

  const json = encodeUtf8(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // space padding
  let pos = 8 + headerLen;
  for (const { bytes, elementSize } of blobs) {
    out.set(bytes, pos);
    swapBytesInPlace(out.subarray(pos, pos + bytes.length), elementSize);
    pos += bytes.length;
  }
  return out;
}

// Hand-written UTF-8 codec: TextEncoder/TextDecoder are not part of ES2022, and this module
// must stay environment-neutral.

/** Strict UTF-8 decode (rejects overlongs, surrogates, truncation) of the header bytes. */
function decodeUtf8(bytes: Uint8Array): string {
  let out = '';
  const units: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const b0 = bytes[i];
    let cp: number;
    let extra: number;
    let min: number;
    if (b0 < 0x80) [cp, extra, min] = [b0, 0, 0];
    else if (b0 >= 0xc2 && b0 <= 0xdf) [cp, extra, min] = [b0 & 0x1f, 1, 0x80];
    else if (b0 >= 0xe0 && b0 <= 0xef) [cp, extra, min] = [b0 & 0x0f, 2, 0x800];
    else if (b0 >= 0xf0 && b0 <= 0xf4) [cp, extra, min] = [b0 & 0x07, 3, 0x10000];
    else throw new SafetensorsError(`header is not valid UTF-8 (byte 0x${b0.toString(16)} at header offset ${i})`);
    for (let k = 1; k <= extra; k++) {
      const b = bytes[i + k];
      if (b === undefined || (b & 0xc0) !== 0x80) {
        throw new SafetensorsError(`header is not valid UTF-8 (truncated sequence at header offset ${i})`);
      }
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw new SafetensorsError(`header is not valid UTF-8 (invalid sequence at header offset ${i})`);
    }
    i += extra + 1;
    if (cp < 0x10000) units.push(cp);
    else units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    if (units.length >= 4096) {
      out += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode(...units);
}

/** UTF-8 encode; lone surrogates become U+FFFD, as with TextEncoder. */
function encodeUtf8(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let cp = s.codePointAt(i)!;
    if (cp >= 0x10000) i++;
    else if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) out[n++] = cp;
    else if (cp < 0x800) {
      out[n++] = 0xc0 | (cp >> 6);
      out[n++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      out[n++] = 0xe0 | (cp >> 12);
      out[n++] = 0x80 | ((cp >> 6) & 0x3f);
      out[n++] = 0x80 | (cp & 0x3f);
    } else {
      out[n++] = 0xf0 | (cp >> 18);
      out[n++] = 0x80 | ((cp >> 12) & 0x3f);
      out[n++] = 0x80 | ((cp >> 6) & 0x3f);
      out[n++] = 0x80 | (cp & 0x3f);
    }
  }
  return out.subarray(0, n);
}
