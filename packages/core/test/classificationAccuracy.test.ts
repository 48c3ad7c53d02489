import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../src/engine/llamaModel';
import { initLlamaWeights } from '../src/engine/initWeights';
import { classificationAccuracy } from '../src/evaluation/classificationAccuracy';
import { completionBatch } from '../src/training/classificationBatch';
import type { ClassificationTask } from '../src/data/task';
import type { TextTokenizer } from '../src/tokenizer/textTokenizer';
import { rngFrom, tinyConfig } from './fixtures/tinyModel';

const cfg = tinyConfig({ vocabSize: 29, maxPositionEmbeddings: 64 });
// A character tokenizer: enough to give labels shared prefixes and different lengths.
const charTokenizer = { encode: (s: string) => Array.from(s, (c) => 1 + (c.charCodeAt(0) % 28)), padId: 0, eosId: 0 } as unknown as TextTokenizer;

function taskWith(labels: string[], texts: string[]): ClassificationTask {
  const examples = texts.map((text, i) => ({ text, label: i % labels.length }));
  return { kind: 'classification', name: 't', labels, prompt: (t) => `${t}:`, completion: (l) => labels[l], train: examples, validation: examples, test: examples };
}

/** The oracle: one forward pass per (example, label), summing the completion's log-probabilities. */
function naiveScores(model: LlamaModel, task: ClassificationTask, maxLen: number): number[][] {
  return task.test.map((e) => task.labels.map((_, l) => {
    const batch = completionBatch([{ prompt: charTokenizer.encode(task.prompt(e.text)), completion: charTokenizer.encode(task.completion(l)) }], maxLen, 0);
    return model.targetLogProbs(batch).reduce((a, b) => a + b, 0);
  }));
}

test('classificationAccuracy scores labels sharing a prompt from shared rows with the values of one pass per label', () => {
  const model = new LlamaModel(cfg, initLlamaWeights(cfg, rngFrom(7), 0.3));
  const texts = ['great film', 'dull', 'an utterly long and winding review that must be cut', 'ok', 'meh', 'superb acting'];
  // Shared prefixes ('ab' 'ac' inside 'abd'), single tokens, and (maxLen 24) prompts cut differently per label length.
  for (const [labels, maxLen] of [[['abd', 'ab', 'ac', 'b'], 24], [['x', 'y', 'z'], 40], [['no', 'yes'], 40]] as const) {
    const task = taskWith([...labels], texts);
    const oracle = naiveScores(model, task, maxLen);
    let counted = 0;
    const countingModel = Object.create(model) as LlamaModel;
    countingModel.pickedLogProbs = (batch, picks, opts) => { counted += batch.B; return model.pickedLogProbs(batch, picks, opts); };
    const m = classificationAccuracy(countingModel, charTokenizer, task, task.test, { maxLen, batchSize: 5 });
    const truth = task.test.map((e) => e.label);
    const argmax = (s: number[]) => s.reduce((best, v, i) => (v > s[best] ? i : best), 0);
    const expected = oracle.filter((s, i) => argmax(s) === truth[i]).length / texts.length;
    assert.equal(m.accuracy, expected, `accuracy for labels ${labels}`);
    const trueLp = oracle.reduce((a, s, i) => a + s[truth[i]], 0) / texts.length;
    assert.ok(Math.abs(m.meanTrueLogProb - trueLp) < 1e-9, `mean true log-prob ${m.meanTrueLogProb} vs ${trueLp}`);
    // Rows run: fewer than one per label wherever labels could share.
    if (labels.length === 3) assert.equal(counted, texts.length, 'single-token labels: one row per example');
    if (labels.length === 2) assert.equal(counted, 2 * texts.length, 'labels differing in their first token of two: one row each');
    if (labels.length === 4) assert.ok(counted < 4 * texts.length && counted >= texts.length, `rows ${counted}`);
  }
});
