import type { TextTokenizer } from '../tokenizer/textTokenizer';
import type { ClassificationExample, ClassificationTask } from '../data/task';
import type { LlamaModel, RunOptions, TokenPick } from '../engine/llamaModel';
import { completionBatch, fitToLength, type PromptCompletion } from '../training/classificationBatch';

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

/** One model row: a label's prompt+completion, scoring that label and every label it covers. */
interface ScoringRow extends PromptCompletion {
  ex: number;
  /** Labels scored from this row, each with its fitted token sequence. */
  labels: { label: number; ids: number[]; n: number }[];
}

/**
 * Scores a classification task the way LLM benchmarks do: for every label, the summed
 * log-probability of its completion after the prompt; the highest wins.
 *
 * Labels share the prompt, and causal attention makes a position's logits depend only on the
 * tokens before it, so a label whose fitted sequence (all but its last token) is a prefix of another
 * label's row is scored from that row: single-token labels ("positive" / "negative") cost one
 * forward pass per example instead of one per label, with the same values.
 */
export function classificationAccuracy(
  model: LlamaModel, tok: TextTokenizer, task: ClassificationTask, examples: ClassificationExample[],
  opts: RunOptions & { maxLen: number; batchSize?: number },
): ClassificationMetrics {
  if (examples.length === 0) throw new Error('classificationAccuracy: no examples');
  const completions = task.labels.map((_, i) => tok.encode(task.completion(i)));
  const rows = scoringRows(examples.map((e) => tok.encode(task.prompt(e.text))), completions, opts.maxLen);
  const scores = examples.map(() => new Float64Array(task.labels.length));
  const bs = opts.batchSize ?? 16;
  const pad = tok.padId ?? tok.eosId ?? 0;
  for (let i = 0; i < rows.length; i += bs) {
    const chunk = rows.slice(i, i + bs);
    const batch = completionBatch(chunk, opts.maxLen, pad);
    const picks: TokenPick[] = [];
    const owners: { ex: number; label: number }[] = [];
    chunk.forEach((r, b) => {
      for (const l of r.labels) {
        // Position t predicts token t+1; the completion is the last n tokens of the sequence.
        for (let t = l.ids.length - 1 - l.n; t < l.ids.length - 1; t++) {
          picks.push({ at: b * batch.T + t, token: l.ids[t + 1] });
          owners.push({ ex: r.ex, label: l.label });
        }
      }
    });
    const logProbs = model.pickedLogProbs(batch, picks, opts);
    owners.forEach((o, j) => (scores[o.ex][o.label] += logProbs[j]));
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

/** The fewest rows that score every label of every example, longest fitted sequences first. */
function scoringRows(prompts: number[][], completions: number[][], maxLen: number): ScoringRow[] {
  const rows: ScoringRow[] = [];
  prompts.forEach((prompt, ex) => {
    const fitted = completions.map((completion, label) => ({ label, ids: fitToLength({ prompt, completion }, maxLen), n: completion.length }));
    fitted.sort((a, b) => b.ids.length - a.ids.length || a.label - b.label);
    const own: ScoringRow[] = [];
    for (const f of fitted) {
      const host = own.find((r) => coversPrefix(r.labels[0].ids, f.ids));
      if (host) host.labels.push(f);
      else own.push({ prompt, completion: completions[f.label], ex, labels: [f] });
    }
    rows.push(...own);
  });
  return rows;
}

/** Row `row` computes every logit `ids` needs: ids without its last token is a prefix of row. */
function coversPrefix(row: number[], ids: number[]): boolean {
  if (ids.length > row.length) return false;
  for (let t = 0; t < ids.length - 1; t++) if (row[t] !== ids[t]) return false;
  return true;
}
