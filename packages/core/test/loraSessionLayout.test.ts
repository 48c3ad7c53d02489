import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateLoraSessionBytes, loraSessionBuffers } from '../src/memory/loraSessionLayout';
import { fullPlan, planKeepingLayers } from '../src/engine/submodelPlan';
import { tinyConfig } from './fixtures/tinyModel';

const config = tinyConfig({ numLayers: 4 });
const lora = { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] as ('q' | 'v' | 'down')[] };

test('session buffers: names are unique and every kept part is present exactly once', () => {
  const bufs = loraSessionBuffers({ config, plan: fullPlan(config), lora, batch: 2, seqLen: 5 });
  const names = bufs.map((b) => b.name);
  assert.equal(new Set(names).size, names.length);
  for (let l = 0; l < 4; l++) {
    for (const n of ['qProj', 'downProj', 'lora.q.A', 'lora.v.gradB', 'lora.down.vA', 'probs']) assert.ok(names.includes(`layer${l}.${n}`), `layer${l}.${n}`);
  }
  assert.equal(bufs.find((b) => b.name === 'layer0.probs')!.elements, 2 * config.numHeads * 5 * 5);
  assert.equal(bufs.find((b) => b.name === 'layer1.lora.q.A')!.elements, 2 * config.hiddenSize);
});

test('memory estimate shrinks with the plan: dropped layers and skipped sub-blocks cost nothing', () => {
  const shape = { config, lora, batch: 2, seqLen: 8 };
  const full = estimateLoraSessionBytes({ ...shape, plan: fullPlan(config) }).totalBytes;
  const half = estimateLoraSessionBytes({ ...shape, plan: planKeepingLayers([0, 3]) }).totalBytes;
  const mlpOnly = estimateLoraSessionBytes({ ...shape, plan: { layers: [0, 3].map((index) => ({ index, attention: false, mlp: true })) } });
  assert.ok(half < full && mlpOnly.totalBytes < half, `${full} > ${half} > ${mlpOnly.totalBytes}`);
  const names = loraSessionBuffers({ ...shape, plan: { layers: [{ index: 2, attention: false, mlp: true }] } }).map((b) => b.name);
  assert.ok(!names.some((n) => /layer2\.(qProj|kProj|vProj|oProj|probs|lora\.q)/.test(n)));
  assert.ok(names.includes('layer2.gateProj') && names.includes('layer2.lora.down.A'));
  // Tied embeddings store the table once.
  const tied = estimateLoraSessionBytes({ ...shape, config: { ...config, tieWordEmbeddings: true }, plan: fullPlan(config) }).totalBytes;
  assert.equal(config.tieWordEmbeddings, false);
  assert.equal(full - tied, config.vocabSize * config.hiddenSize * 4);
});
