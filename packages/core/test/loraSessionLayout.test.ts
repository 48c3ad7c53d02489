import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateLoraSessionBytes, loraSessionBuffers } from '../src/memory/loraSessionLayout';
import { fullPlan, planKeepingLayers } from '../src/model/submodelPlan';
import { quantizedMatrixBytes } from '../src/model/weightQuantization';
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

test('quantized base: each projection is its packed words plus a scales buffer; everything else is unchanged', () => {
  const cfg = tinyConfig({ numLayers: 4, hiddenSize: 40, intermediateSize: 70, numHeads: 5, numKvHeads: 1, headDim: 8, mlpBias: true });
  const shape = { config: cfg, lora, batch: 2, seqLen: 8, plan: { layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: false, mlp: true }] } };
  const f32 = loraSessionBuffers(shape);
  assert.deepEqual(loraSessionBuffers({ ...shape, weightFormat: 'f32' }), f32, 'f32 is the default');
  const projections: [string, number, number][] = [
    ['layer0.qProj', 40, 40], ['layer0.kProj', 8, 40], ['layer0.vProj', 8, 40], ['layer0.oProj', 40, 40],
    ['layer0.gateProj', 70, 40], ['layer0.upProj', 70, 40], ['layer0.downProj', 40, 70],
    ['layer2.gateProj', 70, 40], ['layer2.upProj', 70, 40], ['layer2.downProj', 40, 70],
  ];
  const f32Total = estimateLoraSessionBytes(shape);
  for (const format of ['int8', 'int4'] as const) {
    const bufs = loraSessionBuffers({ ...shape, weightFormat: format });
    const byName = new Map(bufs.map((b) => [b.name, b]));
    let saved = 0;
    for (const [name, rows, cols] of projections) {
      const words = byName.get(name)!, scales = byName.get(`${name}.scales`)!;
      assert.equal(words.kind, 'weights');
      assert.equal(scales.kind, 'weights');
      assert.equal(4 * (words.elements + scales.elements), quantizedMatrixBytes(rows, cols, format), `${format} ${name}`);
      saved += rows * cols * 4 - quantizedMatrixBytes(rows, cols, format);
    }
    // Every other buffer is the f32 layout's, in the same order.
    assert.deepEqual(bufs.filter((b) => !/Proj(\.scales)?$/.test(b.name)), f32.filter((b) => !/Proj$/.test(b.name)));
    assert.equal(bufs.filter((b) => b.name.endsWith('.scales')).length, projections.length);
    const est = estimateLoraSessionBytes({ ...shape, weightFormat: format });
    assert.equal(est.totalBytes, f32Total.totalBytes - saved, format);
    assert.equal(est.byKind.weights, f32Total.byKind.weights - saved);
    assert.equal(est.byKind.activations, f32Total.byKind.activations);
  }
  // Concretely for the 70-wide down projection (40 rows): int8 18 words + 1 scale per row,
  // int4 9 words + 3 scales (groups of 32, 32, 6).
  const q8 = loraSessionBuffers({ ...shape, weightFormat: 'int8' }), q4 = loraSessionBuffers({ ...shape, weightFormat: 'int4' });
  assert.equal(q8.find((b) => b.name === 'layer0.downProj')!.elements, 40 * 18);
  assert.equal(q8.find((b) => b.name === 'layer0.downProj.scales')!.elements, 40);
  assert.equal(q4.find((b) => b.name === 'layer0.downProj')!.elements, 40 * 9);
  assert.equal(q4.find((b) => b.name === 'layer0.downProj.scales')!.elements, 40 * 3);
});
