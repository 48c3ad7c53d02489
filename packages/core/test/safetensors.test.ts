import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSafetensors,
  parseSafetensorsFilter,
  readSafetensorsHeader,
  SafetensorsError,
  serializeSafetensors,
} from '../src/model/safetensors';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../src/model/halfFloat';

/** Builds a file by hand: u64 LE header length, the header text as given, then the data bytes. */
function rawFile(header: string | Uint8Array, data: number[] | Uint8Array = []): Uint8Array {
  const h = typeof header === 'string' ? new Uint8Array(Buffer.from(header, 'utf8')) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  let n = h.length;
  for (let i = 0; i < 8; i++, n = Math.floor(n / 256)) out[i] = n % 256;
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
const fileOf = (header: object, dataLen: number) => rawFile(JSON.stringify(header), new Uint8Array(dataLen));

function rejects(bytes: Uint8Array, message: RegExp): void {
  assert.throws(
    () => parseSafetensors(bytes),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
      assert.match(e.message, message);
      return true;
    },
  );
}

test('parses a hand-built file (all dtypes, metadata, non-ASCII name), even at an unaligned offset', () => {
  // "ä" is written as explicit UTF-8 bytes c3 a4.
  const header = [
    ...Buffer.from('{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'),
    ...Buffer.from('"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"'),
    0xc3,
    0xa4,
    ...Buffer.from('":{"dtype":"BF16","shape":[1,1],"data_offsets":[12,14]}}  '),
  ];
  const data = [
    0x00, 0x00, 0x80, 0x3f, // f32 1.0
    0x00, 0x00, 0x00, 0xc0, // f32 -2.0
    0x00, 0x3c, // f16 1.0
    0xff, 0x7b, // f16 65504
    0x40, 0xc0, // bf16 -3.0
  ];
  const file = rawFile(new Uint8Array(header), data);
  for (const shift of [0, 1, 3]) {
    const backing = new Uint8Array(file.length + shift);
    backing.set(file, shift);
    const view = backing.subarray(shift);
    const t = parseSafetensors(view);
    assert.deepEqual([...t.keys()], ['w', 'h', 'ä']);
    assert.deepEqual(t.get('w'), { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) });
    assert.deepEqual(t.get('h'), { dtype: 'F16', shape: [2], data: new Float32Array([1, 65504]) });
    assert.deepEqual(t.get('ä'), { dtype: 'BF16', shape: [1, 1], data: new Float32Array([-3]) });
    // Decoded tensors must not alias the input bytes.
    view[8 + header.length] = 0xff;
    assert.equal(t.get('w')!.data[0], 1);
  }
  const h = readSafetensorsHeader(file);
  assert.deepEqual(h.metadata, { format: 'pt' });
  assert.equal(h.dataStart, 8 + header.length);
  assert.deepEqual(h.tensors.get('h'), { dtype: 'F16', shape: [2], dataOffsets: [8, 12] });
});

test('roundtrips F32 exactly and F16/BF16 exactly for representable values', () => {
  const f32 = new Float32Array([0, -0, 1, -2.5, 3.4e38, 1e-40, Math.PI, Infinity, -Infinity]);
  const f16 = new Float32Array([0, 1, -2, 65504, -65504, 2 ** -24, 2 ** -14, 0.333251953125, Infinity]);
  const bf16 = new Float32Array([0, 1, -2, 3.3895313892515355e38, 2 ** -133, 1.5, -Infinity]);
  const bytes = serializeSafetensors({
    a: { shape: [3, 3], data: f32 },
    b: { dtype: 'F16', shape: [9], data: f16 },
    c: { dtype: 'BF16', shape: [7, 1], data: bf16 },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    scalar: { dtype: 'F16', shape: [], data: new Float32Array([0.5]) },
  });
  const t = parseSafetensors(bytes);
  assert.deepEqual(t.get('a'), { dtype: 'F32', shape: [3, 3], data: f32 });
  assert.deepEqual(t.get('b'), { dtype: 'F16', shape: [9], data: f16 });
  assert.deepEqual(t.get('c'), { dtype: 'BF16', shape: [7, 1], data: bf16 });
  assert.deepEqual(t.get('empty'), { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
  assert.deepEqual(t.get('scalar'), { dtype: 'F16', shape: [], data: new Float32Array([0.5]) });
  const nan = parseSafetensors(serializeSafetensors({ n: { dtype: 'F16', shape: [1], data: new Float32Array([NaN]) } }));
  assert.ok(Number.isNaN(nan.get('n')!.data[0]));
});

test('F16/BF16 serialization rounds to nearest even', () => {
  const x = new Float32Array([0.1, 1 + 2 ** -11, 70000, 1 + 3 * 2 ** -8]);
  const t = parseSafetensors(
    serializeSafetensors({ h: { dtype: 'F16', shape: [4], data: x }, b: { dtype: 'BF16', shape: [4], data: x } }),
  );
  assert.deepEqual([...t.get('h')!.data], [...x].map((v) => f16BitsToF32(f32ToF16Bits(v))));
  assert.deepEqual([...t.get('b')!.data], [...x].map((v) => bf16BitsToF32(f32ToBf16Bits(v))));
  assert.deepEqual([...t.get('h')!.data].slice(1, 3), [1, Infinity]);
});

test('serializer: sorted names, contiguous offsets, space-padded 8-byte-aligned header, metadata', () => {
  const d = (n: number) => new Float32Array(n).fill(n);
  const fromRecord = serializeSafetensors(
    { b: { shape: [1], data: d(1) }, a: { dtype: 'F16', shape: [3], data: d(3) }, '2': { shape: [2], data: d(2) }, '10': { shape: [1], data: d(1) } },
    { format: 'pt' },
  );
  const fromMap = serializeSafetensors(
    new Map([
      ['10', { shape: [1], data: d(1) }],
      ['a', { dtype: 'F16' as const, shape: [3], data: d(3) }],
      ['b', { shape: [1], data: d(1) }],
      ['2', { shape: [2], data: d(2) }],
    ]),
    { format: 'pt' },
  );
  assert.deepEqual(fromRecord, fromMap);
  const headerLen = Number(Buffer.from(fromRecord).readBigUInt64LE(0));
  assert.equal(headerLen % 8, 0);
  const text = Buffer.from(fromRecord.subarray(8, 8 + headerLen)).toString('utf8');
  assert.match(text, /^\{"__metadata__":\{"format":"pt"\},"10":.*,"2":.*,"a":.*,"b":.*\} *$/);
  const h = readSafetensorsHeader(fromRecord);
  assert.deepEqual([...h.tensors.keys()], ['10', '2', 'a', 'b']);
  assert.deepEqual(
    [...h.tensors.values()].map((e) => e.dataOffsets),
    [[0, 4], [4, 12], [12, 18], [18, 22]],
  );
  assert.deepEqual(h.metadata, { format: 'pt' });
  assert.deepEqual(readSafetensorsHeader(serializeSafetensors({})).tensors.size, 0);
});

test('include filter decodes only the selected tensors', () => {
  const bytes = serializeSafetensors({
    x: { shape: [1], data: new Float32Array([1]) },
    y: { shape: [1], data: new Float32Array([2]) },
    z: { shape: [1], data: new Float32Array([3]) },
  });
  assert.deepEqual([...parseSafetensors(bytes, { include: (n) => n !== 'y' }).keys()], ['x', 'z']);
  assert.deepEqual([...parseSafetensorsFilter(bytes, (n) => n === 'y')], [['y', { dtype: 'F32', shape: [1], data: new Float32Array([2]) }]]);
});

test('rejects malformed files with a specific message', () => {
  const ok = { a: entry('F32', [2], 0, 8) };
  rejects(new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte header length prefix/);
  rejects(rawFile('{}').subarray(0, 9), /header length 2 runs past the end of the file/);
  const huge = rawFile('{}');
  huge[0] = 0x01;
  huge[1] = 0xe1;
  huge[2] = 0xf5;
  huge[3] = 0x05; // 100_000_001
  rejects(huge, /header length 100000001 exceeds the limit of 100000000 bytes/);
  const hugeHigh = rawFile('{}');
  hugeHigh[5] = 1;
  rejects(hugeHigh, /exceeds the limit/);
  rejects(rawFile(new Uint8Array([0x7b, 0xff, 0x7d])), /header is not valid UTF-8/);
  rejects(rawFile(new Uint8Array([0x7b, 0x22, 0xc3, 0x22, 0x7d])), /header is not valid UTF-8/); // truncated sequence
  rejects(rawFile(new Uint8Array([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d])), /header is not valid UTF-8/); // overlong
  rejects(rawFile(new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])), /header is not valid UTF-8/); // surrogate
  rejects(rawFile('{"a":'), /header is not valid JSON/);
  rejects(rawFile('[1,2]'), /header must be a JSON object of tensor entries, got an array/);
  rejects(rawFile('null'), /header must be a JSON object of tensor entries, got null/);
  rejects(fileOf({ a: 5 }, 0), /tensor "a": entry must be an object/);
  rejects(fileOf({ a: { shape: [2], data_offsets: [0, 8] } }, 8), /tensor "a": entry is missing "dtype"/);
  rejects(fileOf({ a: { dtype: 'F32', data_offsets: [0, 8] } }, 8), /tensor "a": entry is missing "shape"/);
  rejects(fileOf({ a: { dtype: 'F32', shape: [2] } }, 8), /tensor "a": entry is missing "data_offsets"/);
  rejects(fileOf({ a: entry('I64', [1], 0, 8) }, 8), /tensor "a": unsupported dtype "I64"; supported dtypes are F32, F16, BF16/);
  rejects(fileOf({ a: entry('toString', [1], 0, 4) }, 4), /unsupported dtype "toString"/);
  rejects(fileOf({ a: entry('F32', [-2], 0, 8) }, 8), /tensor "a": shape must be an array of non-negative integers, got \[-2\]/);
  rejects(fileOf({ a: entry('F32', [1.5], 0, 8) }, 8), /shape must be an array of non-negative integers/);
  rejects(fileOf({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), /data_offsets must be \[begin, end\]/);
  rejects(fileOf({ a: { dtype: 'F32', shape: [2], data_offsets: [-1, 7] } }, 8), /data_offsets must be \[begin, end\]/);
  rejects(fileOf({ a: entry('F32', [2], 0, 16) }, 8), /tensor "a": data_offsets \[0, 16\] are out of range of the 8-byte data section/);
  rejects(fileOf({ a: entry('F32', [0], 8, 0) }, 8), /tensor "a": data_offsets end 0 is before begin 8/);
  rejects(fileOf({ a: entry('F32', [3], 0, 8) }, 8), /tensor "a": data_offsets span 8 bytes but dtype F32 x shape \[3\] needs 12 bytes/);
  rejects(fileOf({ a: entry('F16', [2], 0, 8) }, 8), /dtype F16 x shape \[2\] needs 4 bytes/);
  rejects(fileOf({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }, 12), /tensors "a" and "b" overlap/);
  rejects(fileOf({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) }, 12), /4 unused bytes after "a", before "b" \(gaps are not allowed\)/);
  rejects(fileOf({ a: entry('F32', [1], 4, 8) }, 8), /4 unused bytes at the start of the data section, before "a"/);
  rejects(fileOf(ok, 12), /4 unused bytes at the end of the data section/);
  rejects(fileOf({}, 3), /3 unused bytes at the end of the data section/);
  rejects(fileOf({ ...ok, __metadata__: { n: 1 } }, 8), /"__metadata__" values must be strings; "n" is number/);
  rejects(fileOf({ ...ok, __metadata__: [] }, 8), /"__metadata__" must be an object of strings/);
  // Sanity: the base case is valid.
  assert.equal(parseSafetensors(fileOf(ok, 8)).size, 1);
});

test('serializer rejects tensors it cannot write', () => {
  const bad = (t: Parameters<typeof serializeSafetensors>[0], re: RegExp, meta?: Record<string, string>) =>
    assert.throws(() => serializeSafetensors(t, meta), (e: unknown) => e instanceof SafetensorsError && re.test(e.message));
  bad({ a: { shape: [2, 2], data: new Float32Array(3) } }, /tensor "a": data has 3 elements but shape \[2, 2\] needs 4/);
  bad({ a: { shape: [-1], data: new Float32Array(0) } }, /shape must be non-negative integers/);
  bad({ a: { dtype: 'F64' as never, shape: [1], data: new Float32Array(1) } }, /unsupported dtype "F64"/);
  bad({ __metadata__: { shape: [1], data: new Float32Array(1) } }, /reserved/);
  bad({}, /values must be strings/, { x: 1 as never });
});
