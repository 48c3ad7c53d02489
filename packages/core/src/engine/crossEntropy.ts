import type { FloatArray } from './floatArray';

/** Target id that marks a position whose prediction does not count (prompt tokens, padding). */
export const IGNORE_INDEX = -1;

export interface CrossEntropyResult {
  /** Sum of −log p(target) over counted positions. */
  lossSum: number;
  /** Number of counted positions. */
  count: number;
}

/**
 * Masked softmax cross-entropy over logits[N, V]. With `gradScale` given, overwrites logits
 * with d(lossSum · gradScale)/dlogits (rows that do not count become zero), saving a second
 * [N, V] buffer: the logits are the largest activation of a small model.
 */
export function crossEntropy(
  logits: FloatArray, targets: Int32Array, N: number, V: number, gradScale?: number,
): CrossEntropyResult {
  let lossSum = 0, count = 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    const tgt = targets[n];
    if (tgt === IGNORE_INDEX) {
      if (gradScale !== undefined) logits.fill(0, o, o + V);
      continue;
    }
    if (tgt < 0 || tgt >= V) throw new Error(`crossEntropy: target ${tgt} at position ${n} outside vocabulary [0, ${V})`);
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
    const logZ = max + Math.log(sum);
    lossSum += logZ - logits[o + tgt];
    count++;
    if (gradScale !== undefined) {
      for (let v = 0; v < V; v++) logits[o + v] = Math.exp(logits[o + v] - logZ) * gradScale;
      logits[o + tgt] -= gradScale;
    }
  }
  return { lossSum, count };
}

/** log-softmax probability of `token` in row n of logits[N, V]. */
export function logProbAt(logits: FloatArray, n: number, V: number, token: number): number {
  const o = n * V;
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
  return logits[o + token] - max - Math.log(sum);
}
