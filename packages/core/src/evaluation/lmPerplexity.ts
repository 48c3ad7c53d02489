import type { LlamaModel, RunOptions } from '../engine/llamaModel';
import { batchFromWindows, documentWindows } from '../data/lmWindows';
import { BigramModel } from '../data/bigramModel';

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per token (nats). */
  nll: number;
  tokens: number;
}

/**
 * Perplexity of the model on tokenized documents: each document token is predicted once, from up
 * to T previous tokens of its document (windows of documentWindows, separator first).
 */
export function lmPerplexity(
  model: LlamaModel, docs: number[][], separatorId: number, opts: RunOptions & { T: number; batchSize?: number },
): PerplexityResult {
  const windows = documentWindows(docs, opts.T, separatorId);
  const bs = opts.batchSize ?? 16;
  let sum = 0, count = 0;
  for (let i = 0; i < windows.length; i += bs) {
    const r = model.loss(batchFromWindows(windows.slice(i, i + bs), opts.T, separatorId), opts);
    sum += r.lossSum;
    count += r.count;
  }
  if (count === 0) throw new Error('lmPerplexity: the documents have no tokens to score');
  return { perplexity: Math.exp(sum / count), nll: sum / count, tokens: count };
}

/**
 * The interpolated Kneser-Ney bigram baseline fitted on the training documents, scored on
 * exactly the tokens lmPerplexity scores (every document token, the first given the separator).
 */
export function bigramPerplexity(trainDocs: number[][], evalDocs: number[][], separatorId: number, vocabSize: number): PerplexityResult {
  const withSep = (docs: number[][]) => docs.filter((d) => d.length > 0).map((d) => [separatorId, ...d]);
  const bigram = BigramModel.fit(withSep(trainDocs), { vocabSize });
  const evalSeqs = withSep(evalDocs);
  const ppl = bigram.perplexity(evalSeqs);
  const tokens = evalSeqs.reduce((n, d) => n + d.length - 1, 0);
  return { perplexity: ppl, nll: Math.log(ppl), tokens };
}
