import { allocLike, type FloatArray } from './floatArray';

/** Shape of a causal grouped-query attention call: nHeads query heads share nKvHeads k/v heads. */
export interface AttentionShape {
  B: number;
  T: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Mistral sliding window: position t attends to s with t - window < s <= t. */
  window?: number;
}

/**
 * Causal GQA attention. q[B*T, nHeads*hd], k/v[B*T, nKv*hd] (RoPE already applied);
 * writes out[B*T, nHeads*hd] and returns the softmax probabilities [B, nHeads, T, T]
 * (zeros above the diagonal) that the backward needs.
 */
export function attentionForward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, s: AttentionShape): FloatArray {
  const { B, T, nHeads, nKvHeads, headDim: hd } = s;
  const group = nHeads / nKvHeads;
  const qStride = nHeads * hd, kvStride = nKvHeads * hd;
  const scale = 1 / Math.sqrt(hd);
  const probs = allocLike(q, B * nHeads * T * T);
  out.fill(0, 0, B * T * qStride);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / group);
      const pBase = (b * nHeads + h) * T * T;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qStride + h * hd;
        const lo = s.window ? Math.max(0, t - s.window + 1) : 0;
        const pRow = pBase + t * T;
        let max = -Infinity;
        for (let u = lo; u <= t; u++) {
          const ko = (b * T + u) * kvStride + g * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qo + d] * k[ko + d];
          const sc = dot * scale;
          probs[pRow + u] = sc;
          if (sc > max) max = sc;
        }
        let sum = 0;
        for (let u = lo; u <= t; u++) {
          const e = Math.exp(probs[pRow + u] - max);
          probs[pRow + u] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let u = lo; u <= t; u++) {
          const p = probs[pRow + u] * inv;
          probs[pRow + u] = p;
          const vo = (b * T + u) * kvStride + g * hd;
          for (let d = 0; d < hd; d++) out[qo + d] += p * v[vo + d];
        }
      }
    }
  }
  return probs;
}

/**
 * Backward of attentionForward: accumulates into dq, dk, dv (which the caller zeroes).
 * dS = P ∘ (dP − rowsum(dP ∘ P)), dP = dOut · Vᵀ.
 */
export function attentionBackward(
  q: FloatArray, k: FloatArray, v: FloatArray, probs: FloatArray, dOut: FloatArray,
  dq: FloatArray, dk: FloatArray, dv: FloatArray, s: AttentionShape,
): void {
  const { B, T, nHeads, nKvHeads, headDim: hd } = s;
  const group = nHeads / nKvHeads;
  const qStride = nHeads * hd, kvStride = nKvHeads * hd;
  const scale = 1 / Math.sqrt(hd);
  const dp = allocLike(q, T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / group);
      const pBase = (b * nHeads + h) * T * T;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qStride + h * hd;
        const lo = s.window ? Math.max(0, t - s.window + 1) : 0;
        const pRow = pBase + t * T;
        let rowDot = 0;
        for (let u = lo; u <= t; u++) {
          const vo = (b * T + u) * kvStride + g * hd;
          let d0 = 0;
          for (let d = 0; d < hd; d++) d0 += dOut[qo + d] * v[vo + d];
          dp[u] = d0;
          rowDot += d0 * probs[pRow + u];
        }
        for (let u = lo; u <= t; u++) {
          const p = probs[pRow + u];
          const ds = p * (dp[u] - rowDot) * scale;
          const ko = (b * T + u) * kvStride + g * hd;
          for (let d = 0; d < hd; d++) {
            dq[qo + d] += ds * k[ko + d];
            dk[ko + d] += ds * q[qo + d];
            dv[ko + d] += p * dOut[qo + d];
          }
        }
      }
    }
  }
}
