import type { FloatArray } from './floatArray';

/**
 * RMSNorm as in HF Llama: y = w · x / sqrt(mean(x²) + eps), per row of [M, D].
 * Forward stores 1/rms per row (`invRms`) for the backward.
 */
export function rmsNormForward(
  x: FloatArray, w: FloatArray, y: FloatArray, invRms: FloatArray, M: number, D: number, eps: number,
): void {
  for (let m = 0; m < M; m++) {
    const o = m * D;
    let ss = 0;
    for (let d = 0; d < D; d++) ss += x[o + d] * x[o + d];
    const r = 1 / Math.sqrt(ss / D + eps);
    invRms[m] = r;
    for (let d = 0; d < D; d++) y[o + d] = w[d] * (x[o + d] * r);
  }
}

/**
 * dx (+)= backward of RMSNorm. With x̂ = x·r: dx = r·(g − x̂·mean(g·x̂)) where g = dy·w.
 * dw, when given, accumulates Σ dy·x̂.
 */
export function rmsNormBackward(
  x: FloatArray, w: FloatArray, invRms: FloatArray, dy: FloatArray, dx: FloatArray, dw: FloatArray | undefined,
  M: number, D: number, accumulate: boolean,
): void {
  for (let m = 0; m < M; m++) {
    const o = m * D;
    const r = invRms[m];
    let dot = 0;
    for (let d = 0; d < D; d++) dot += dy[o + d] * w[d] * x[o + d] * r;
    const mean = dot / D;
    for (let d = 0; d < D; d++) {
      const xh = x[o + d] * r;
      const v = r * (dy[o + d] * w[d] - xh * mean);
      dx[o + d] = accumulate ? dx[o + d] + v : v;
      if (dw) dw[d] += dy[o + d] * xh;
    }
  }
}
