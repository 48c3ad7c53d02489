/**
 * Conversions between float32 and the two 16-bit float formats safetensors files use:
 * IEEE binary16 ("F16") and bfloat16 ("BF16"). Works on raw bit patterns so results are
 * exact, round to nearest even, and keep subnormals, infinities and NaN.
 */

// Scratch views for reading/writing one float32 as bits.
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 bit pattern -> binary16 bit pattern, round to nearest even. */
function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays inf; NaN keeps its top payload bits and is forced quiet so it stays a NaN.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // rebias the exponent
  if (e >= 1) {
    // Normal half (or overflow): drop 13 mantissa bits; a round-up carry may bump the exponent.
    let h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
    return h >= 0x7c00 ? sign | 0x7c00 : sign | h;
  }
  // Half subnormal or zero. Values below half of the smallest subnormal (2^-25) round to zero.
  if (e < -10) return sign;
  const m = mant | 0x800000; // make the implicit leading 1 explicit
  const shift = 14 - e; // 14..24
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  // Rounding up from the largest subnormal yields 0x400, the smallest normal: still correct.
  if (rest > half || (rest === half && (h & 1) === 1)) h++;
  return sign | h;
}

/** binary16 bit pattern -> float32 bit pattern (exact). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise into a float32 normal.
  let e = -14;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** float32 bit pattern -> bfloat16 bit pattern, round to nearest even. */
function f32BitsToBf16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // NaN: keep it a (quiet) NaN
  // Overflow past the largest bf16 carries into the exponent and yields inf, as it should.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Converts one number (rounded to float32 first) to its binary16 bit pattern. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToF16Bits(u32Scratch[0]);
}

/** Converts a binary16 bit pattern to its (exactly representable) value. */
export function f16BitsToF32(h: number): number {
  u32Scratch[0] = f16BitsToF32Bits(h & 0xffff);
  return f32Scratch[0];
}

/** Converts one number (rounded to float32 first) to its bfloat16 bit pattern. */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToBf16Bits(u32Scratch[0]);
}

/** Converts a bfloat16 bit pattern to its (exactly representable) value. */
export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

/** Float32Array -> binary16 bit patterns (round to nearest even). */
export function float32ToFloat16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < out.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/** binary16 bit patterns -> Float32Array (exact). */
export function float16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = f16BitsToF32Bits(src[i]);
  return out;
}

/** Float32Array -> bfloat16 bit patterns (round to nearest even). */
export function float32ToBfloat16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < out.length; i++) out[i] = f32BitsToBf16Bits(bits[i]);
  return out;
}

/** bfloat16 bit patterns -> Float32Array (exact). */
export function bfloat16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}
