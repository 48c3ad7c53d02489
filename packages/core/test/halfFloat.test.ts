import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bf16BitsToF32,
  bfloat16ToFloat32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
} from '../src/model/halfFloat';

const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

test('f16: known bit patterns', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [x, h] of cases) {
    assert.equal(f32ToF16Bits(x), h, `f32ToF16Bits(${x})`);
    assert.ok(Object.is(f16BitsToF32(h), x), `f16BitsToF32(0x${h.toString(16)})`);
  }
  assert.ok(isF16NaN(f32ToF16Bits(NaN)));
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  assert.ok(Number.isNaN(f16BitsToF32(0xfc01)));
});

test('f16: round to nearest even, overflow, underflow', () => {
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie -> even (down)
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
  assert.equal(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01); // above the tie
  assert.equal(f32ToF16Bits(65519), 0x7bff); // below the overflow tie
  assert.equal(f32ToF16Bits(65520), 0x7c00); // tie between 65504 and 2^16 -> inf
  assert.equal(f32ToF16Bits(1e10), 0x7c00);
  assert.equal(f32ToF16Bits(-1e10), 0xfc00);
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // half of smallest subnormal: tie -> even (0)
  assert.equal(f32ToF16Bits(2 ** -25 * 1.5), 0x0001);
  assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002); // tie between 1 and 2 ulps -> even
  assert.equal(f32ToF16Bits(-(2 ** -26)), 0x8000); // underflow keeps the sign
  assert.equal(f32ToF16Bits(1023.5 * 2 ** -24), 0x0400); // rounds up from largest subnormal into normal
  assert.equal(f32ToF16Bits(1e-45), 0x0000); // float32 subnormal
});

test('f16: every non-NaN pattern roundtrips exactly, NaNs stay NaN', () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = f16BitsToF32(h);
    if (isF16NaN(h)) assert.ok(Number.isNaN(x) && isF16NaN(f32ToF16Bits(x)));
    else assert.equal(f32ToF16Bits(x), h, `pattern 0x${h.toString(16)}`);
  }
});

test('f16: matches a brute-force nearest-value reference on random float32s', () => {
  // All finite non-negative f16 values in increasing order (index = bit pattern).
  const values = Array.from({ length: 0x7c01 }, (_, h) => f16BitsToF32(h));
  const reference = (x: number): number => {
    const a = Math.abs(x);
    let lo = 0;
    let hi = 0x7c00;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (values[mid] <= a) lo = mid;
      else hi = mid;
    }
    const dLo = a - values[lo];
    const dHi = values[hi] - a;
    // Beyond 65504 the "next value" is 2^16 for tie-breaking purposes (0x7c00 encodes inf).
    const upper = hi === 0x7c00 ? 65536 - a : dHi;
    const h = dLo < upper || (dLo === upper && lo % 2 === 0) ? lo : hi;
    return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | h;
  };
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let seed = 12345;
  for (let i = 0; i < 200_000; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    // Exponents spanning zero, subnormals, normals and overflow of f16.
    u[0] = (seed & 0x807fffff) | ((0x60 + (i % 0x30)) << 23);
    if (f[0] > 70000 || f[0] < -70000) continue;
    assert.equal(f32ToF16Bits(f[0]), reference(f[0]), `x=${f[0]}`);
  }
});

test('bf16: known bit patterns and rounding', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3f80],
    [-2, 0xc000],
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [2 ** -133, 0x0001], // smallest bf16 subnormal
  ];
  for (const [x, h] of cases) {
    assert.equal(f32ToBf16Bits(x), h, `f32ToBf16Bits(${x})`);
    assert.ok(Object.is(bf16BitsToF32(h), x));
  }
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie -> even (down)
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie -> even (up)
  assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.equal(f32ToBf16Bits(3.4028234663852886e38), 0x7f80); // float32 max rounds to inf
  assert.ok(isBf16NaN(f32ToBf16Bits(NaN)));
  // A NaN whose payload lives only in the low bits must not collapse to inf.
  const nan = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0];
  assert.ok(isBf16NaN(f32ToBf16Bits(nan)));
  for (let h = 0; h < 0x10000; h++) {
    const x = bf16BitsToF32(h);
    if (isBf16NaN(h)) assert.ok(Number.isNaN(x));
    else assert.equal(f32ToBf16Bits(x), h);
  }
});

test('array conversions match the scalar ones and accept offset views', () => {
  const backing = new Float32Array([7, 1, -2, 65504, 2 ** -24, Infinity, 0.1, 1e-30, NaN]);
  const src = backing.subarray(1); // byteOffset 4
  const h = float32ToFloat16(src);
  const b = float32ToBfloat16(src);
  assert.deepEqual([...h], [...src].map(f32ToF16Bits));
  assert.deepEqual([...b], [...src].map(f32ToBf16Bits));
  assert.deepEqual([...float16ToFloat32(h)], [...h].map(f16BitsToF32));
  assert.deepEqual([...bfloat16ToFloat32(b)], [...b].map(bf16BitsToF32));
  assert.deepEqual([...float16ToFloat32(h)].slice(0, 5), [1, -2, 65504, 2 ** -24, Infinity]);
});
