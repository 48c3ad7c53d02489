import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parsePackedSafetensors, parseSafetensors, quantizeMatrix, readSafetensorsHeader, SafetensorsError, serializePackedSafetensors, serializeSafetensors,
} from '../src/index';

function matrix(rows: number, cols: number, seed: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(seed * 7.1 + i * 0.37) * (i % 9 === 0 ? 3 : 0.4));
}

test('packed safetensors: packed words and scales round-trip bit for bit next to float tensors', () => {
  const q4 = quantizeMatrix(matrix(6, 64, 1), 6, 64, 'q4_1');
  const q8 = quantizeMatrix(matrix(10, 32, 2), 10, 32, 'q8_0');
  const i4 = quantizeMatrix(matrix(3, 70, 3), 3, 70, 'int4');
  const norm = { shape: [64], data: matrix(1, 64, 4) };
  const bytes = serializePackedSafetensors(new Map([['model.norm.weight', norm]]), new Map([['a.weight', q4], ['model.embed_tokens.weight', q8], ['b.weight', i4]]));
  const header = readSafetensorsHeader(bytes);
  assert.equal(header.tensors.get('a.weight.packed_words')!.dtype, 'U32');
  assert.deepEqual(header.tensors.get('b.weight.packed_words')!.shape, [3, 9]);
  assert.equal(header.metadata['packed:a.weight'], JSON.stringify({ format: 'q4_1', rows: 6, cols: 64 }));
  const { floats, packed } = parsePackedSafetensors(bytes);
  assert.deepEqual([...floats.keys()], ['model.norm.weight']);
  assert.deepEqual(floats.get('model.norm.weight')!.data, norm.data);
  for (const [name, q] of [['a.weight', q4], ['model.embed_tokens.weight', q8], ['b.weight', i4]] as const) {
    const got = packed.get(name)!;
    assert.deepEqual([got.format, got.rows, got.cols, got.groupSize], [q.format, q.rows, q.cols, q.groupSize], name);
    assert.deepEqual(got.words, q.words, name);
    assert.deepEqual(got.scales, q.scales, name);
  }
  // A plain float file reads as floats only; the float parser refuses U32 entries by name.
  assert.equal(parsePackedSafetensors(serializeSafetensors({ x: norm })).packed.size, 0);
  assert.throws(() => parseSafetensors(bytes), /"a\.weight\.packed_words" is U32 \(packed words\)/);
});

test('packed safetensors: inconsistent files are refused with the reason', () => {
  const q = quantizeMatrix(matrix(2, 32, 5), 2, 32, 'q8_0');
  const words = { dtype: 'U32' as const, shape: [2, 8], data: q.words }, scales = { shape: [2], data: q.scales };
  const file = (meta: Record<string, string>, entries: Record<string, typeof words | typeof scales> = { 'w.packed_words': words, 'w.packed_scales': scales }) =>
    serializeSafetensors(entries, meta);
  const ok = JSON.stringify({ format: 'q8_0', rows: 2, cols: 32 });
  assert.equal(parsePackedSafetensors(file({ 'packed:w': ok })).packed.get('w')!.rows, 2);
  const cases: [Uint8Array, RegExp][] = [
    [file({ 'packed:w': JSON.stringify({ format: 'q3_k', rows: 2, cols: 32 }) }), /unknown packed format "q3_k"/],
    [file({ 'packed:w': JSON.stringify({ format: 'q8_0', rows: 4, cols: 32 }) }), /needs 32 words and 4 scales, got 16 and 2/],
    [file({ 'packed:w': '{nope' }), /metadata "packed:w" is not JSON/],
    [file({ 'packed:w': ok }, { 'w.packed_words': words }), /w\.packed_scales is missing/],
    [file({}), /packed entries without their "packed:<name>" metadata: w\.packed_/],
    [file({ 'packed:w': ok }, { 'w.packed_words': { shape: [16], data: new Float32Array(16) }, 'w.packed_scales': scales }), /words must be U32 and scales F32/],
  ];
  for (const [bytes, re] of cases) assert.throws(() => parsePackedSafetensors(bytes), (e: Error) => e instanceof SafetensorsError && re.test(e.message), String(re));
  assert.throws(() => serializePackedSafetensors(new Map([['w', { shape: [2], data: new Float32Array(2) }]]), new Map([['w', q]])), /both packed and as a float tensor/);
  assert.throws(() => serializeSafetensors({ x: { dtype: 'U32', shape: [1], data: new Float32Array(1) as unknown as Uint32Array } }), /dtype U32 needs a Uint32Array/);
});
