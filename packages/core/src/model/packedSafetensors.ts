/**
 * The wire format of a quantized base: one safetensors file holding float tensors (norms, biases,
 * anything not packed) and packed matrices as they live on the GPU, so a tab receives the packed
 * words and never a float image of them. A packed matrix <name> is two entries,
 * `<name>.packed_words` (U32, [rows, wordsPerRow]) and `<name>.packed_scales` (F32), and one
 * metadata key `packed:<name>` = JSON {format, rows, cols}; everything else is a float tensor.
 */
import type { Tensor } from './tensor';
import { parseSafetensors, readSafetensorsHeader, readSafetensorsU32, SafetensorsError, serializeSafetensors, type SafetensorsInput } from './safetensors';
import { quantizedLayout, WEIGHT_FORMATS, type QuantizedMatrix } from './weightQuantization';

const WORDS = '.packed_words';
const SCALES = '.packed_scales';
const META = 'packed:';

export interface PackedTensors {
  floats: Map<string, Tensor>;
  packed: Map<string, QuantizedMatrix>;
}

export function serializePackedSafetensors(floats: ReadonlyMap<string, Tensor>, packed: ReadonlyMap<string, QuantizedMatrix>): Uint8Array {
  const entries = new Map<string, SafetensorsInput>();
  for (const [name, t] of floats) entries.set(name, { shape: t.shape, data: t.data });
  const metadata: Record<string, string> = {};
  for (const [name, q] of packed) {
    if (floats.has(name)) throw new SafetensorsError(`"${name}" is given both packed and as a float tensor`);
    const l = quantizedLayout(q.rows, q.cols, q.format);
    if (q.format === 'f32' || q.words.length !== l.words || q.scales.length !== l.scales) {
      throw new SafetensorsError(`"${name}": not a packed ${q.rows} x ${q.cols} ${q.format} matrix (${q.words.length} words, ${q.scales.length} scales)`);
    }
    entries.set(name + WORDS, { dtype: 'U32', shape: [q.rows, l.wordsPerRow], data: q.words });
    entries.set(name + SCALES, { shape: [q.scales.length], data: q.scales });
    metadata[META + name] = JSON.stringify({ format: q.format, rows: q.rows, cols: q.cols });
  }
  return serializeSafetensors(entries, packed.size ? metadata : undefined);
}

/** Decodes serializePackedSafetensors' files (and plain float safetensors). Throws SafetensorsError. */
export function parsePackedSafetensors(bytes: Uint8Array): PackedTensors {
  const header = readSafetensorsHeader(bytes);
  const packed = new Map<string, QuantizedMatrix>();
  const claimed = new Set<string>();
  for (const [key, value] of Object.entries(header.metadata)) {
    if (!key.startsWith(META)) continue;
    const name = key.slice(META.length);
    let d: { format?: unknown; rows?: unknown; cols?: unknown };
    try {
      d = JSON.parse(value);
    } catch {
      throw new SafetensorsError(`metadata "${key}" is not JSON: ${JSON.stringify(value.slice(0, 80))}`);
    }
    const format = d.format as QuantizedMatrix['format'];
    if (!WEIGHT_FORMATS.includes(format) || format === 'f32') throw new SafetensorsError(`"${name}": unknown packed format ${JSON.stringify(d.format)}`);
    if (!Number.isSafeInteger(d.rows) || !Number.isSafeInteger(d.cols)) throw new SafetensorsError(`"${name}": rows and cols must be integers`);
    const rows = d.rows as number, cols = d.cols as number;
    const l = quantizedLayout(rows, cols, format);
    const w = header.tensors.get(name + WORDS), s = header.tensors.get(name + SCALES);
    if (!w || !s) throw new SafetensorsError(`"${name}" is declared packed but ${!w ? name + WORDS : name + SCALES} is missing`);
    if (w.dtype !== 'U32' || s.dtype !== 'F32') throw new SafetensorsError(`"${name}": words must be U32 and scales F32, got ${w.dtype} and ${s.dtype}`);
    const words = readSafetensorsU32(bytes, header, name + WORDS);
    const scales = parseSafetensors(bytes, { include: (n) => n === name + SCALES }).get(name + SCALES)!.data;
    if (words.length !== l.words || scales.length !== l.scales) {
      throw new SafetensorsError(`"${name}": a ${rows} x ${cols} ${format} matrix needs ${l.words} words and ${l.scales} scales, got ${words.length} and ${scales.length}`);
    }
    packed.set(name, { format, rows, cols, words, scales, groupSize: l.groupSize });
    claimed.add(name + WORDS).add(name + SCALES);
  }
  const stray = [...header.tensors.keys()].filter((n) => !claimed.has(n) && (n.endsWith(WORDS) || n.endsWith(SCALES)));
  if (stray.length) throw new SafetensorsError(`packed entries without their "${META}<name>" metadata: ${stray.slice(0, 5).join(', ')}`);
  const floats = new Map<string, Tensor>();
  for (const [name, t] of parseSafetensors(bytes, { include: (n) => !claimed.has(n) })) floats.set(name, { shape: t.shape, data: t.data });
  return { floats, packed };
}
