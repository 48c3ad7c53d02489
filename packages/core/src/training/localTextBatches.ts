/**
 * Token batches of a local-data assignment, built from a file that stays in the tab: rows of
 * exactly seqLen tokens, as the GPU session needs.
 * - Text examples are packed into one stream, each preceded by the separator (end-of-text), and
 *   cut into language-model windows (documentWindows over the stream: windows of seqLen+1 tokens
 *   overlapping by one, so every token is predicted once; the last window is padded).
 * - Prompt/completion examples become one row each, where only the completion is a target
 *   (completionBatch: a prompt too long loses tokens from its middle; an empty prompt becomes the
 *   separator), padded to seqLen.
 * Padding has target -1 (ignored by the loss).
 */
import { batchFromWindows, documentWindows } from '../data/lmWindows';
import { IGNORE_INDEX } from '../engine/crossEntropy';
import { completionBatch } from './classificationBatch';
import { LocalDataError, type LocalExample } from './localTrainingFile';

/** A local example after tokenization. */
export type TokenizedLocalExample =
  | { kind: 'text'; ids: number[]; line?: number }
  | { kind: 'completion'; prompt: number[]; completion: number[]; line: number };

/** One training row: seqLen input ids and their targets (-1 where nothing is predicted). */
export interface LocalRow {
  inputIds: Int32Array;
  targets: Int32Array;
}

export interface LocalRowOptions {
  seqLen: number;
  /** Token between packed text examples (and before the first): the end-of-text id. */
  separatorId: number;
  padId: number;
}

/** Tokenizes parsed examples with any encoder (e.g. TextTokenizer.encode). */
export function tokenizeLocalExamples(examples: readonly LocalExample[], encode: (text: string) => number[]): TokenizedLocalExample[] {
  return examples.map((e) =>
    e.kind === 'text'
      ? { kind: 'text', ids: encode(e.text), ...(e.line !== undefined ? { line: e.line } : {}) }
      : { kind: 'completion', prompt: encode(e.prompt), completion: encode(e.completion), line: e.line },
  );
}

function where(line: number | undefined): string {
  return line === undefined ? '' : `line ${line}: `;
}

/**
 * Every training row the examples give, in file order: the packed text windows first, then one
 * row per prompt/completion example.
 * @throws LocalDataError when a completion does not fit seqLen tokens (naming its line) or nothing is left to train on.
 */
export function localTrainingRows(examples: readonly TokenizedLocalExample[], o: LocalRowOptions): LocalRow[] {
  const T = o.seqLen;
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`localTrainingRows: seqLen must be a positive integer, got ${T}`);
  const rows: LocalRow[] = [];
  // Documents packed back to back; documentWindows puts the separator before the first one.
  const stream: number[] = [];
  for (const e of examples) {
    if (e.kind !== 'text' || e.ids.length === 0) continue;
    if (stream.length > 0) stream.push(o.separatorId);
    for (const id of e.ids) stream.push(id);
  }
  if (stream.length > 0) {
    const lm = batchFromWindows(documentWindows([stream], T, o.separatorId), T, o.padId);
    for (let b = 0; b < lm.B; b++) rows.push({ inputIds: lm.inputIds.slice(b * T, (b + 1) * T), targets: lm.targets.slice(b * T, (b + 1) * T) });
  }
  for (const e of examples) {
    if (e.kind !== 'completion') continue;
    if (e.completion.length === 0) throw new LocalDataError(`${where(e.line)}the completion has no tokens`, e.line);
    if (e.completion.length >= T + 1) {
      throw new LocalDataError(`${where(e.line)}the completion has ${e.completion.length} tokens; at most ${T} fit this round's sequence length (${T})`, e.line);
    }
    // Without a prompt the first completion token would have nothing to be predicted from.
    const prompt = e.prompt.length > 0 ? e.prompt : [o.separatorId];
    // completionBatch pads to its own length (at most T); pad on to exactly T.
    const cb = completionBatch([{ prompt, completion: e.completion }], T + 1, o.padId);
    const inputIds = new Int32Array(T).fill(o.padId), targets = new Int32Array(T).fill(IGNORE_INDEX);
    inputIds.set(cb.inputIds);
    targets.set(cb.targets);
    rows.push({ inputIds, targets });
  }
  if (rows.length === 0) throw new LocalDataError('the file gives no training rows (its text tokenized to nothing)');
  return rows;
}

export interface LocalBatchShape {
  steps: number;
  batch: number;
  seqLen: number;
  /** The round number: successive rounds continue through the file where the last one stopped. */
  round: number;
}

/** steps × batch × seqLen ids and targets, and how many distinct rows they hold. */
export interface LocalBatches {
  inputIds: Int32Array;
  targets: Int32Array;
  numSamples: number;
}

/**
 * Fills an assignment's steps × batch rows from the row pool: row i of round r is pool row
 * (r·steps·batch + i) mod pool size, so rounds walk through the whole file in order and a small
 * file repeats.
 */
export function localAssignmentBatches(pool: readonly LocalRow[], s: LocalBatchShape): LocalBatches {
  for (const k of ['steps', 'batch', 'seqLen'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new RangeError(`localAssignmentBatches: ${k} must be a positive integer, got ${s[k]}`);
  }
  if (!Number.isInteger(s.round) || s.round < 0) throw new RangeError(`localAssignmentBatches: round must be a non-negative integer, got ${s.round}`);
  if (pool.length === 0) throw new LocalDataError('no training rows to draw from');
  const n = s.steps * s.batch, T = s.seqLen;
  const inputIds = new Int32Array(n * T), targets = new Int32Array(n * T);
  // The starting row, reduced first so that large rounds cannot overflow exact integers.
  const start = ((s.round % pool.length) * (n % pool.length)) % pool.length;
  for (let i = 0; i < n; i++) {
    const row = pool[(start + i) % pool.length];
    if (row.inputIds.length !== T || row.targets.length !== T) {
      throw new RangeError(`localAssignmentBatches: pool row of ${row.inputIds.length} tokens, the assignment needs ${T}; rebuild the rows for this seqLen`);
    }
    inputIds.set(row.inputIds, i * T);
    targets.set(row.targets, i * T);
  }
  return { inputIds, targets, numSamples: Math.min(n, pool.length) };
}
