/**
 * Deterministic randomness for data preparation: a small seeded PRNG (xoshiro128**, seeded through
 * splitmix32) with the samplers the partitioners need, and a stable string hash.
 *
 * Why not Math.random: every split, shuffle and client partition must be reproducible from a seed,
 * identical on every machine and in browser and Node alike. Everything here is pure 32-bit integer
 * arithmetic (Math.imul, >>>), so results are bit-identical across JS engines.
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** splitmix32 step: expands one 32-bit seed into well-mixed state words for xoshiro. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Seeded pseudo-random generator (xoshiro128**). Same seed, same sequence, on every engine.
 * Not cryptographically secure.
 */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** @param seed any finite number; it is reduced to 32 bits (fractions are truncated). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`SeededRandom: seed must be a finite number, got ${seed}`);
    // Fold the high bits in too, so seeds that differ only above bit 31 still differ.
    const seed32 = (Math.trunc(seed) ^ Math.trunc(seed / TWO_POW_32)) | 0;
    const sm = { s: seed32 };
    this.s0 = splitmix32(sm);
    this.s1 = splitmix32(sm);
    this.s2 = splitmix32(sm);
    this.s3 = splitmix32(sm);
    // xoshiro must not start from the all-zero state (splitmix32 makes this practically impossible).
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The generator's state: a copy continues the same sequence (e.g. in another thread). */
  state(): [number, number, number, number] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** A generator continuing from a state() taken elsewhere. */
  static fromState(state: readonly number[]): SeededRandom {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w)) || state.every((w) => w === 0)) {
      throw new Error(`SeededRandom.fromState: expected four 32-bit words, not all zero, got ${JSON.stringify(state)}`);
    }
    const r = new SeededRandom(0);
    [r.s0, r.s1, r.s2, r.s3] = state.map((w) => w | 0);
    return r;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits (full double precision). */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /** Uniform integer in [0, n). `n` must be a positive safe integer. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`SeededRandom.int: n must be a positive integer, got ${n}`);
    // With 53 random bits the modulo bias of floor(u * n) is below 2^-20 for any n < 2^33: negligible here.
    return Math.floor(this.next() * n);
  }

  /** Shuffles `array` in place (Fisher-Yates) and returns it. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** Standard normal sample (Box-Muller; no cached spare, so the stream stays easy to reason about). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log stays finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Gamma(alpha, 1) sample (Marsaglia-Tsang). For alpha < 1 uses the boost
   * Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha). Very small alpha can underflow to 0; use
   * {@link logGamma} (as {@link dirichlet} does) when that matters.
   */
  gamma(alpha: number): number {
    return Math.exp(this.logGamma(alpha));
  }

  /** log of a Gamma(alpha, 1) sample, computed without underflow even for tiny alpha. */
  logGamma(alpha: number): number {
    if (!(alpha > 0) || !Number.isFinite(alpha)) {
      throw new Error(`SeededRandom.gamma: alpha must be a positive finite number, got ${alpha}`);
    }
    if (alpha < 1) {
      const u = 1 - this.next(); // (0, 1]
      return this.logGamma(alpha + 1) + Math.log(u) / alpha;
    }
    const d = alpha - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return Math.log(d * v);
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return Math.log(d * v);
    }
  }

  /**
   * Symmetric Dirichlet(alpha, ..., alpha) sample of dimension k: non-negative, sums to 1.
   * Normalizes in log space so tiny alpha (e.g. 0.01) still yields a valid, very peaked vector.
   */
  dirichlet(alpha: number, k: number): number[] {
    if (!Number.isSafeInteger(k) || k <= 0) throw new Error(`SeededRandom.dirichlet: k must be a positive integer, got ${k}`);
    const logs = new Array<number>(k);
    let max = -Infinity;
    for (let i = 0; i < k; i++) {
      logs[i] = this.logGamma(alpha);
      if (logs[i] > max) max = logs[i];
    }
    let sum = 0;
    const out = new Array<number>(k);
    for (let i = 0; i < k; i++) {
      out[i] = Math.exp(logs[i] - max);
      sum += out[i];
    }
    for (let i = 0; i < k; i++) out[i] /= sum;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Stable 32-bit hash of a string: FNV-1a over its UTF-8 bytes, then murmur3's fmix32 finalizer.
 * Why the finalizer: plain FNV-1a spreads near-identical ids (ca01, ca02, ...) poorly in the high
 * bits, and split assignment compares the hash against thresholds. UTF-8 (not UTF-16 units) so the
 * value can be reproduced from any language.
 */
export function stableHash32(text: string): number {
  let h = 0x811c9dc5;
  const byte = (b: number) => {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  };
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) byte(cp);
    else if (cp < 0x800) {
      byte(0xc0 | (cp >> 6));
      byte(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      byte(0xe0 | (cp >> 12));
      byte(0x80 | ((cp >> 6) & 0x3f));
      byte(0x80 | (cp & 0x3f));
    } else {
      byte(0xf0 | (cp >> 18));
      byte(0x80 | ((cp >> 12) & 0x3f));
      byte(0x80 | ((cp >> 6) & 0x3f));
      byte(0x80 | (cp & 0x3f));
    }
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** {@link stableHash32} mapped to [0, 1): convenient for threshold-based assignment. */
export function stableHashUnit(text: string): number {
  return stableHash32(text) / TWO_POW_32;
}
