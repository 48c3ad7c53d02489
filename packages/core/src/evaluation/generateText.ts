import type { LlamaModel, RunOptions } from '../engine/llamaModel';
import type { SeededRandomLike } from '../model/randomSource';

export interface GenerateOptions extends RunOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature?: number;
  /** Sample only among the k most likely tokens (0 = all). */
  topK?: number;
  stopIds?: number[];
  rng?: SeededRandomLike;
}

/**
 * Autoregressive continuation. The CPU engine has no KV cache, so each new token re-runs the
 * (at most maxPositionEmbeddings-long) context; fine for a reference engine and tiny models.
 */
export function generateTokens(model: LlamaModel, prompt: number[], o: GenerateOptions): number[] {
  if (prompt.length === 0) throw new Error('generate: the prompt must have at least one token');
  const ctxMax = model.rope.maxPos;
  const ids = [...prompt];
  const out: number[] = [];
  const V = model.config.vocabSize;
  for (let step = 0; step < o.maxNewTokens; step++) {
    const ctx = ids.slice(Math.max(0, ids.length - ctxMax));
    const T = ctx.length;
    const logits = model.logits({ B: 1, T, inputIds: Int32Array.from(ctx), targets: new Int32Array(T).fill(-1) }, o);
    const row = logits.subarray((T - 1) * V, T * V);
    let next: number;
    if (!o.temperature) {
      next = 0;
      for (let v = 1; v < V; v++) if (row[v] > row[next]) next = v;
    } else {
      const order = Array.from({ length: V }, (_, v) => v).sort((a, b) => row[b] - row[a]);
      const cand = o.topK ? order.slice(0, o.topK) : order;
      const max = row[cand[0]];
      const w = cand.map((v) => Math.exp((row[v] - max) / o.temperature!));
      const total = w.reduce((a, b) => a + b, 0);
      let u = (o.rng ?? { next: Math.random }).next() * total;
      next = cand[cand.length - 1];
      for (let i = 0; i < cand.length; i++) {
        u -= w[i];
        if (u <= 0) { next = cand[i]; break; }
      }
    }
    if (o.stopIds?.includes(next)) break;
    ids.push(next);
    out.push(next);
  }
  return out;
}
