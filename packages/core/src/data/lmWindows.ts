import type { TokenBatch } from '../engine/llamaModel';

/**
 * Causal-LM windows over tokenized documents. Each document is prefixed with a separator token
 * (the end-of-text id, as GPT-2 does), then cut into windows of T+1 tokens that overlap by one,
 * so every document token is predicted exactly once, from the tokens before it in its window.
 * The bigram baseline is scored on exactly the same (previous, next) pairs.
 */
export interface LmWindow {
  /** T+1 or fewer tokens: inputs are [0..n-2], targets [1..n-1]. */
  tokens: Int32Array;
}

export function documentWindows(docs: number[][], T: number, separatorId: number): LmWindow[] {
  if (!(T >= 1)) throw new Error(`documentWindows: window length must be >= 1, got ${T}`);
  const out: LmWindow[] = [];
  for (const doc of docs) {
    if (doc.length === 0) continue;
    const seq = [separatorId, ...doc];
    for (let start = 0; start + 1 < seq.length; start += T) {
      out.push({ tokens: Int32Array.from(seq.slice(start, start + T + 1)) });
    }
  }
  return out;
}

/**
 * One contiguous token stream cut into full windows of T+1 tokens (pretraining packs documents
 * back to back so no compute is spent on padding). Stride T: no target is repeated.
 */
export function streamWindows(docs: number[][], T: number, separatorId: number): LmWindow[] {
  const stream: number[] = [];
  for (const d of docs) stream.push(separatorId, ...d);
  const out: LmWindow[] = [];
  for (let start = 0; start + T + 1 <= stream.length; start += T) {
    out.push({ tokens: Int32Array.from(stream.slice(start, start + T + 1)) });
  }
  return out;
}

/** Stacks windows into a [B, T] batch, padding short windows (padding targets are ignored). */
export function batchFromWindows(windows: LmWindow[], T: number, padId = 0): TokenBatch {
  const B = windows.length;
  const inputIds = new Int32Array(B * T).fill(padId), targets = new Int32Array(B * T).fill(-1);
  windows.forEach((w, b) => {
    const n = w.tokens.length - 1;
    if (n > T) throw new Error(`batchFromWindows: window of ${n + 1} tokens does not fit T=${T}`);
    for (let t = 0; t < n; t++) {
      inputIds[b * T + t] = w.tokens[t];
      targets[b * T + t] = w.tokens[t + 1];
    }
  });
  return { B, T, inputIds, targets };
}
