import type { ModelConfig } from '../model/modelConfig';

/**
 * Rotary position embedding in the HF "rotate half" convention: dimension i pairs with
 * i + headDim/2 (not the interleaved GPT-J convention), angle = pos · invFreq[i].
 */
export interface RopeTables {
  headDim: number;
  maxPos: number;
  cos: Float64Array; // [maxPos, headDim/2]
  sin: Float64Array;
}

/** inv_freq as HF computes it, including `rope_scaling` of type linear or llama3. */
export function ropeInvFreq(cfg: ModelConfig): Float64Array {
  const half = cfg.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
  const s = cfg.ropeScaling;
  if (s?.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] /= s.factor;
  } else if (s?.type === 'llama3') {
    const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] /= s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

export function buildRopeTables(cfg: ModelConfig, maxPos: number): RopeTables {
  const half = cfg.headDim / 2;
  const inv = ropeInvFreq(cfg);
  const cos = new Float64Array(maxPos * half);
  const sin = new Float64Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      // HF computes the angle in float32; do the same so logits match to float32 tolerance.
      const ang = Math.fround(Math.fround(p) * Math.fround(inv[i]));
      cos[p * half + i] = Math.cos(ang);
      sin[p * half + i] = Math.sin(ang);
    }
  }
  return { headDim: cfg.headDim, maxPos, cos, sin };
}

/**
 * Rotates x[B*T, nHeads*headDim] in place for positions 0..T-1 of each sequence.
 * inverse=true applies the transpose rotation, which is the backward of the forward rotation.
 */
export function applyRope(
  x: Float32Array | Float64Array, tables: RopeTables, B: number, T: number, nHeads: number, inverse = false,
): void {
  const hd = tables.headDim, half = hd / 2;
  if (T > tables.maxPos) throw new Error(`rope: sequence length ${T} exceeds table size ${tables.maxPos}`);
  const sgn = inverse ? -1 : 1;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * nHeads * hd;
      const to = t * half;
      for (let h = 0; h < nHeads; h++) {
        const o = row + h * hd;
        for (let i = 0; i < half; i++) {
          const c = tables.cos[to + i], s = sgn * tables.sin[to + i];
          const a = x[o + i], bb = x[o + i + half];
          x[o + i] = a * c - bb * s;
          x[o + i + half] = bb * c + a * s;
        }
      }
    }
  }
}
