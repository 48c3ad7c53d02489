import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLoraAdapter, LORA_TARGETS } from '../src/model/lora';
import { initLlamaWeights } from '../src/engine/initWeights';
import { LlamaModel } from '../src/engine/llamaModel';
import { mergeLoraIntoWeights, MergeLoraError } from '../src/model/mergeLora';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const [name, over] of [['GQA, untied', {}], ['tied embeddings, q/k/v biases', { tieWordEmbeddings: true, attentionBias: true }]] as const) {
  test(`merged weights give the logits of base + adapter (${name})`, () => {
    const cfg = tinyConfig(over);
    const base = initLlamaWeights(cfg, rngFrom(3), 0.2);
    // B is non-zero (initBScale) so the adapter changes the output; layers 0 and 2 only, all targets.
    const adapter = createLoraAdapter(cfg, { rank: 3, alpha: 5, targets: [...LORA_TARGETS] }, [0, 2], rngFrom(4), 0.3);
    const batch = randomBatch(cfg, 2, 9, 5);
    const withAdapter = new LlamaModel(cfg, base).logits(batch, { lora: adapter });
    const plain = new LlamaModel(cfg, base).logits(batch);
    const merged = new LlamaModel(cfg, mergeLoraIntoWeights(cfg, base, adapter)).logits(batch);
    assert.ok(maxAbsDiff(withAdapter, plain) > 1e-2, 'the adapter must change the logits for the test to mean anything');
    assert.ok(maxAbsDiff(merged, withAdapter) < 1e-4, `merged vs base+adapter differ by ${maxAbsDiff(merged, withAdapter)}`);
  });
}

test('merging leaves the base weights alone and shares untouched tensors', () => {
  const cfg = tinyConfig();
  const base = initLlamaWeights(cfg, rngFrom(1), 0.2);
  const before = Float32Array.from(base.layers[1]!.qProj.data);
  const adapter = createLoraAdapter(cfg, { rank: 2, alpha: 2, targets: ['q', 'v'] }, [1], rngFrom(2), 0.5);
  const merged = mergeLoraIntoWeights(cfg, base, adapter);
  assert.deepEqual(base.layers[1]!.qProj.data, before);
  assert.notDeepEqual(merged.layers[1]!.qProj.data, before);
  assert.equal(merged.layers[1]!.kProj, base.layers[1]!.kProj);
  assert.equal(merged.layers[0], base.layers[0]);
  assert.equal(merged.embed, base.embed);
});

test('an adapter for a layer the model does not have is refused', () => {
  const cfg = tinyConfig();
  const adapter = createLoraAdapter(tinyConfig({ numLayers: 5 }), { rank: 2, alpha: 2, targets: ['q'] }, [4], rngFrom(2), 0.5);
  assert.throws(() => mergeLoraIntoWeights(cfg, initLlamaWeights(cfg, rngFrom(1)), adapter), MergeLoraError);
});
