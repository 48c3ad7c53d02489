/**
 * Public calibration data: windows of Brown corpus documents (the pretraining corpus, not the
 * task's private examples), for what the coordinator may train itself (FedSODA's distillation).
 */
import { batchFromWindows, documentWindows, SeededRandom, stableHash32, type TextTokenizer, type TokenBatch } from '@fedllm/core';
import { loadTask } from '@fedllm/core/node';

export function publicCalibrationBatches(tok: TextTokenizer, count: number, rows: number, T: number, seed: number): TokenBatch[] {
  const docs = loadTask('brown-lm').train;
  const sep = tok.eosId ?? 0;
  const order = new SeededRandom(stableHash32(`${seed}:public`)).shuffle([...docs.keys()]);
  const windows: ReturnType<typeof documentWindows> = [];
  // Whole documents in a seeded order until there are enough windows (a document gives several).
  for (const d of order) {
    if (windows.length >= count * rows) break;
    windows.push(...documentWindows([tok.encode(docs[d])], T, sep));
  }
  return Array.from({ length: count }, (_, b) => batchFromWindows(windows.slice(b * rows, (b + 1) * rows), T, tok.padId ?? sep));
}
