import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BigramModel } from '../src/data/bigramModel';
import { brownPlainText } from '../src/node/datasets';

const TOY = [
  [0, 1, 2, 3, 1, 2, 4],
  [1, 2, 3, 0, 1, 4, 4],
  [2, 3, 1, 2],
];

function sumOverVocab(model: BigramModel, prev: number | null): number {
  let total = 0;
  for (let w = 0; w < model.vocabSize; w++) total += model.prob(prev, w);
  return total;
}

test('every conditional distribution sums to 1 over the vocabulary, and every token has p > 0', () => {
  // Vocabulary larger than the ids seen, so 5..9 are never observed.
  const model = BigramModel.fit(TOY, { vocabSize: 10 });
  for (const prev of [null, 0, 1, 2, 3, 4, 7]) {
    assert.ok(Math.abs(sumOverVocab(model, prev) - 1) < 1e-12, `context ${prev}: sum ${sumOverVocab(model, prev)}`);
    for (let w = 0; w < 10; w++) assert.ok(model.prob(prev, w) > 0, `p(${w} | ${prev}) must be > 0`);
  }
  for (const discount of [0.1, 0.5, 0.9]) {
    const m = BigramModel.fit(TOY, { vocabSize: 10, discount, uniformWeight: 0.05 });
    for (const prev of [1, 2, 9]) assert.ok(Math.abs(sumOverVocab(m, prev) - 1) < 1e-12);
  }
});

test('matches the interpolated Kneser-Ney formula on a hand-checked case', () => {
  // Bigrams: (0,1) x2, (0,2) x1, (1,2) x1  ->  c(0)=3, N1+(0,*)=2; N1+(*,1)=1, N1+(*,2)=2, N1+(*,*)=3.
  const model = BigramModel.fit([[0, 1], [0, 1], [0, 2], [1, 2]], { vocabSize: 3, discount: 0.5, uniformWeight: 0.3 });
  const pcont = (w: number) => 0.7 * ([0, 1, 2][w] / 3) + 0.3 / 3;
  assert.ok(Math.abs(model.prob(0, 1) - ((2 - 0.5) / 3 + ((0.5 * 2) / 3) * pcont(1))) < 1e-15);
  assert.ok(Math.abs(model.prob(0, 0) - ((0.5 * 2) / 3) * pcont(0)) < 1e-15);
  assert.ok(Math.abs(model.prob(2, 2) - pcont(2)) < 1e-15); // 2 never a context: back off entirely
  assert.ok(Math.abs(model.logProb(0, 1) - Math.log(model.prob(0, 1))) < 1e-15);
  assert.equal(model.trainingBigrams, 4);
});

test('an empty model is uniform; bad inputs fail clearly', () => {
  const empty = BigramModel.fit([[3]], { vocabSize: 4 });
  assert.equal(empty.prob(0, 1), 0.25);
  assert.ok(Math.abs(empty.perplexity([[0, 1, 2]]) - 4) < 1e-12);
  assert.throws(() => BigramModel.fit([[0, 5]], { vocabSize: 4 }), /token id 5/);
  assert.throws(() => BigramModel.fit(TOY, { vocabSize: 10, discount: 1 }), /discount/);
  assert.throws(() => empty.perplexity([[1]]), /no bigrams/);
  assert.throws(() => empty.prob(-1, 0), /outside the vocabulary/);
});

test('beats add-one smoothing by a wide margin on held-out Brown text', () => {
  const tokenize = (text: string) => text.toLowerCase().match(/[a-z0-9']+|[^\sa-z0-9']/g) ?? [];
  const trainDocs = brownPlainText('train').filter((_, i) => i % 3 === 0).map(tokenize); // ~130 docs keeps it fast
  const heldOut = brownPlainText('validation').slice(0, 20).map(tokenize);
  // Word-level vocabulary: train words seen twice or more; the rest map to <unk> = 0.
  const counts = new Map<string, number>();
  for (const doc of trainDocs) for (const w of doc) counts.set(w, (counts.get(w) ?? 0) + 1);
  const vocab = new Map<string, number>();
  for (const [w, c] of counts) if (c >= 2) vocab.set(w, vocab.size + 1);
  const V = vocab.size + 1;
  const ids = (doc: string[]) => doc.map((w) => vocab.get(w) ?? 0);
  const train = trainDocs.map(ids);
  const test = heldOut.map(ids);

  const kn = BigramModel.fit(train, { vocabSize: V }).perplexity(test);

  const context = new Float64Array(V);
  const pairs = new Map<number, number>();
  for (const s of train) {
    for (let i = 1; i < s.length; i++) {
      context[s[i - 1]]++;
      pairs.set(s[i - 1] * V + s[i], (pairs.get(s[i - 1] * V + s[i]) ?? 0) + 1);
    }
  }
  let nll = 0;
  let n = 0;
  for (const s of test) {
    for (let i = 1; i < s.length; i++) {
      nll -= Math.log(((pairs.get(s[i - 1] * V + s[i]) ?? 0) + 1) / (context[s[i - 1]] + V));
      n++;
    }
  }
  const addOne = Math.exp(nll / n);
  assert.ok(kn < addOne / 3, `Kneser-Ney perplexity ${kn.toFixed(1)} vs add-one ${addOne.toFixed(1)}`);
  assert.ok(kn > 50 && kn < 1000, `Kneser-Ney perplexity ${kn.toFixed(1)} out of the plausible range`);
});
