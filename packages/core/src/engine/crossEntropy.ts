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

export interface SoftCrossEntropyResult extends CrossEntropyResult {
  /** Σ over counted rows of the teacher entropy −Σ_v p·log p (at the temperature used). */
  teacherEntropySum: number;
  /**
   * Σ over counted rows of KL(p ‖ q), summed row by row as Σ_v p·(log p − log q) rather than as
   * lossSum − teacherEntropySum: the difference of two nearly equal sums loses the small KL of
   * a well-aligned student to rounding (float32 logits).
   */
  klSum: number;
}

/** log-softmax of row o..o+V of x/τ into out (a V-long scratch). */
function logSoftmaxRow(x: FloatArray, o: number, V: number, invT: number, out: Float64Array): void {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (x[o + v] * invT > max) max = x[o + v] * invT;
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(x[o + v] * invT - max);
  const logZ = max + Math.log(sum);
  for (let v = 0; v < V; v++) out[v] = x[o + v] * invT - logZ;
}

/**
 * Soft-target (distillation) cross-entropy over logits[N, V]: Σ_n Σ_v −p_nv·log q_nv with
 * p = softmax(teacherLogits/τ), q = softmax(logits/τ), over rows n whose target is not
 * IGNORE_INDEX (the target id itself is unused; it only marks which positions count, so the same
 * batch masks serve hard and soft losses). With `gradScale`, overwrites logits with
 * d(lossSum · gradScale)/dlogits = (q − p)·gradScale/τ (rows that do not count become zero),
 * as crossEntropy does. No τ² factor (Hinton's convention): callers that mix soft and hard
 * losses can scale gradScale themselves.
 */
export function softCrossEntropy(
  logits: FloatArray, teacherLogits: FloatArray, targets: Int32Array, N: number, V: number,
  temperature = 1, gradScale?: number,
): SoftCrossEntropyResult {
  if (!(temperature > 0)) throw new Error(`softCrossEntropy: temperature must be > 0, got ${temperature}`);
  if (teacherLogits.length < N * V) throw new Error(`softCrossEntropy: teacher logits hold ${teacherLogits.length} values, need ${N * V}`);
  const invT = 1 / temperature;
  const logP = new Float64Array(V), logQ = new Float64Array(V);
  let lossSum = 0, teacherEntropySum = 0, klSum = 0, count = 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    if (targets[n] === IGNORE_INDEX) {
      if (gradScale !== undefined) logits.fill(0, o, o + V);
      continue;
    }
    logSoftmaxRow(teacherLogits, o, V, invT, logP);
    logSoftmaxRow(logits, o, V, invT, logQ);
    let ce = 0, ent = 0, kl = 0;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logP[v]);
      if (p === 0) continue; // 0·log 0 = 0, and avoids 0·(−∞) when q underflows too
      ce -= p * logQ[v];
      ent -= p * logP[v];
      kl += p * (logP[v] - logQ[v]);
    }
    lossSum += ce; teacherEntropySum += ent; klSum += kl;
    count++;
    if (gradScale !== undefined) {
      const s = gradScale * invT;
      for (let v = 0; v < V; v++) logits[o + v] = (Math.exp(logQ[v]) - Math.exp(logP[v])) * s;
    }
  }
  return { lossSum, count, teacherEntropySum, klSum };
}
