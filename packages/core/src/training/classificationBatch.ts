import type { TokenBatch } from '../engine/llamaModel';
import { IGNORE_INDEX } from '../engine/crossEntropy';

/** A prompt and one completion, tokenized: the unit of classification training and scoring. */
export interface PromptCompletion {
  prompt: number[];
  completion: number[];
}

/** Prompt tokens always kept from the end of a prompt that must be cut (the question before the answer). */
export const PROMPT_TAIL_TOKENS = 16;

/**
 * Fits prompt+completion into maxLen tokens, always keeping the whole completion. A prompt that is
 * too long loses tokens from its middle: its start (e.g. an email's subject) and its last
 * PROMPT_TAIL_TOKENS tokens (the question the completion answers) both carry the signal.
 */
export function fitToLength(pc: PromptCompletion, maxLen: number): number[] {
  if (pc.completion.length === 0) throw new Error('completion must have at least one token');
  if (pc.completion.length >= maxLen) throw new Error(`completion of ${pc.completion.length} tokens does not fit ${maxLen}`);
  const room = maxLen - pc.completion.length;
  if (pc.prompt.length <= room) return [...pc.prompt, ...pc.completion];
  const tail = Math.min(PROMPT_TAIL_TOKENS, room);
  return [...pc.prompt.slice(0, room - tail), ...pc.prompt.slice(pc.prompt.length - tail), ...pc.completion];
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
