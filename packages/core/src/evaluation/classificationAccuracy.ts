import type { TextTokenizer } from '../tokenizer/textTokenizer';
import type { ClassificationExample, ClassificationTask } from '../data/task';
import type { LlamaModel, RunOptions } from '../engine/llamaModel';
import { completionBatch, type PromptCompletion } from '../training/classificationBatch';

export interface ClassificationMetrics {
  /** Fraction of examples whose true label has the highest completion log-probability. */
  accuracy: number;
  /** Same, with log-probabilities divided by completion length in tokens (lm-eval's acc_norm analogue). */
  accuracyNorm: number;
  /** Mean log-probability of the true label's completion. */
  meanTrueLogProb: number;
  /** Accuracy of always answering the most frequent label of these examples. */
  majorityBaseline: number;
  n: number;
}

/**
 * Scores a classification task the way LLM benchmarks do: for every label, the summed
 * log-probability of its completion after the prompt; the highest wins.
 */
export function classificationAccuracy(
  model: LlamaModel, tok: TextTokenizer, task: ClassificationTask, examples: ClassificationExample[],
  opts: RunOptions & { maxLen: number; batchSize?: number },
): ClassificationMetrics {
  if (examples.length === 0) throw new Error('classificationAccuracy: no examples');
  const completions = task.labels.map((_, i) => tok.encode(task.completion(i)));
  const rows: (PromptCompletion & { ex: number; label: number })[] = [];
  examples.forEach((e, ex) => {
    const prompt = tok.encode(task.prompt(e.text));
    completions.forEach((completion, label) => rows.push({ prompt, completion, ex, label }));
  });
  const scores = examples.map(() => new Float64Array(task.labels.length));
  const bs = opts.batchSize ?? 16;
  const pad = tok.padId ?? tok.eosId ?? 0;
  for (let i = 0; i < rows.length; i += bs) {
    const chunk = rows.slice(i, i + bs);
    const batch = completionBatch(chunk, opts.maxLen, pad);
    const logProbs = model.targetLogProbs(batch, opts);
    chunk.forEach((r, b) => {
      let s = 0;
      for (let t = 0; t < batch.T; t++) s += logProbs[b * batch.T + t];
      scores[r.ex][r.label] = s;
    });
  }
  let correct = 0, correctNorm = 0, trueLp = 0;
  const counts = new Map<number, number>();
  examples.forEach((e, ex) => {
    const s = scores[ex];
    const argmax = (f: (l: number) => number) => s.reduce((best, _, l) => (f(l) > f(best) ? l : best), 0);
    if (argmax((l) => s[l]) === e.label) correct++;
    if (argmax((l) => s[l] / completions[l].length) === e.label) correctNorm++;
    trueLp += s[e.label];
    counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  });
  const n = examples.length;
  return {
    accuracy: correct / n, accuracyNorm: correctNorm / n, meanTrueLogProb: trueLp / n,
    majorityBaseline: Math.max(...counts.values()) / n, n,
  };
}
