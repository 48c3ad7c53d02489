import type { TokenBatch } from '../engine/llamaModel';
import { IGNORE_INDEX } from '../engine/crossEntropy';

/** A prompt and one completion, tokenized: the unit of classification training and scoring. */
export interface PromptCompletion {
  prompt: number[];
  completion: number[];
}

/**
 * Fits prompt+completion into maxLen tokens by dropping prompt tokens from the left (the end of
 * the prompt, next to the answer, matters most), always keeping the whole completion.
 */
export function fitToLength(pc: PromptCompletion, maxLen: number): number[] {
  if (pc.completion.length === 0) throw new Error('completion must have at least one token');
  if (pc.completion.length >= maxLen) throw new Error(`completion of ${pc.completion.length} tokens does not fit ${maxLen}`);
  const keep = Math.min(pc.prompt.length, maxLen - pc.completion.length);
  return [...pc.prompt.slice(pc.prompt.length - keep), ...pc.completion];
}

/**
 * Right-padded batch whose targets count only the completion tokens, as in supervised
 * fine-tuning with a masked prompt. T is the longest row (at most maxLen).
 */
export function completionBatch(rows: PromptCompletion[], maxLen: number, padId: number): TokenBatch {
  const seqs = rows.map((r) => ({ ids: fitToLength(r, maxLen), n: r.completion.length }));
  const T = Math.max(...seqs.map((s) => s.ids.length)) - 1;
  const B = rows.length;
  const inputIds = new Int32Array(B * T).fill(padId), targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  seqs.forEach((s, b) => {
    const L = s.ids.length;
    for (let t = 0; t < L - 1; t++) inputIds[b * T + t] = s.ids[t];
    // Position t predicts token t+1; the completion occupies the last n tokens.
    for (let t = L - 1 - s.n; t < L - 1; t++) targets[b * T + t] = s.ids[t + 1];
  });
  return { B, T, inputIds, targets };
}
