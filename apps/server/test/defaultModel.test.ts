import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { bigramPerplexity, generateTokens, listModelParams, LlamaModel, lmPerplexity } from '@fedllm/core';
import { brownPlainText, loadModelDir, loadTokenizerDir } from '@fedllm/core/node';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';

const dir = join(fileURLToPath(new URL('../../..', import.meta.url)), DEFAULT_MODEL_DIR);

test('the committed default model is a ~1M-parameter Llama with GQA and at least 6 layers', async () => {
  const { config, weights } = await loadModelDir(dir);
  assert.equal(config.architecture, 'LlamaForCausalLM');
  assert.ok(config.numLayers >= 6);
  assert.ok(config.numKvHeads < config.numHeads, 'grouped-query attention');
  const params = listModelParams(weights).reduce((n, p) => n + p.tensor.data.length, 0);
  assert.ok(params > 5e5 && params < 3e6, `${params} parameters`);
  const tok = await loadTokenizerDir(dir);
  assert.equal(tok.vocabSize, config.vocabSize);
  const text = 'The Fulton County Grand Jury said Friday an investigation took place.';
  assert.equal(tok.decode(tok.encode(text)), text);
});

test('the default model beats a Kneser-Ney bigram on held-out Brown text (same tokens)', async () => {
  const { config, weights } = await loadModelDir(dir);
  const tok = await loadTokenizerDir(dir);
  const sep = tok.eosId!;
  // Three held-out documents (~10k tokens) keep this test fast; `npm run eval` scores the whole split.
  const evalDocs = brownPlainText('validation').slice(0, 3).map((d) => tok.encode(d));
  const trainDocs = brownPlainText('train').map((d) => tok.encode(d));
  const model = new LlamaModel(config, weights);
  const ours = lmPerplexity(model, evalDocs, sep, { T: 128 });
  const bigram = bigramPerplexity(trainDocs, evalDocs, sep, config.vocabSize);
  assert.equal(ours.tokens, bigram.tokens);
  assert.ok(ours.perplexity < 0.85 * bigram.perplexity, `model ${ours.perplexity.toFixed(1)} vs bigram ${bigram.perplexity.toFixed(1)}`);
  // And it writes English-looking text: the greedy continuation is made of common words.
  const out = tok.decode(generateTokens(model, [sep, ...tok.encode('The man')], { maxNewTokens: 12 }));
  assert.match(out, / (the|of|and|a|to|in|was|he|his)\b/);
});
