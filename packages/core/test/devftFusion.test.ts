import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../src/data/seededRandom';
import { initLlamaWeights } from '../src/engine/initWeights';
import { LlamaModel } from '../src/engine/llamaModel';
import { createLoraAdapter, type LoraAdapter } from '../src/model/lora';
import type { LayerWeights, LlamaWeights } from '../src/model/llamaWeights';
import { buildStageModel, fuseLayerGroup } from '../src/federated/devft/differentialFusion';
import { stageLoraFromFull, transferStageLora } from '../src/federated/devft/loraTransfer';
import { randomBatch, tinyConfig } from './fixtures/tinyModel';

// Biases on, so fusion is checked on every kind of layer tensor.
const cfg = tinyConfig({ numLayers: 4, attentionBias: true, mlpBias: true });

/** Weights whose norm gains and biases are random too (initLlamaWeights sets them to 1 and 0). */
function weights(seed: number): LlamaWeights {
  const rng = new SeededRandom(seed);
  const w = initLlamaWeights(cfg, rng, 0.3);
  for (const l of w.layers) for (const t of Object.values(l!)) if (t) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.1 * rng.normal();
  return w;
}

const keysOf = (l: LayerWeights) => (Object.keys(l) as (keyof LayerWeights)[]).filter((k) => l[k]).sort();

test('fusion: β = 0 gives the anchor, a one-layer group gives itself, β = 1 is LaCo', () => {
  const w = weights(1);
  const [a, b, c] = [w.layers[0]!, w.layers[2]!, w.layers[3]!];
  const zero = fuseLayerGroup([a, b, c], 0);
  const alone = fuseLayerGroup([b], 0.1);
  const laco = fuseLayerGroup([a, b, c], 1);
  const dblf = fuseLayerGroup([a, b, c]);
  assert.deepEqual(keysOf(laco), keysOf(a));
  assert.ok(keysOf(a).includes('qBias') && keysOf(a).includes('downBias'));
  for (const k of keysOf(a)) {
    assert.deepEqual(zero[k]!.data, a[k]!.data);
    assert.deepEqual(alone[k]!.data, b[k]!.data);
    assert.deepEqual(laco[k]!.shape, a[k]!.shape);
    assert.notEqual(alone[k]!.data, b[k]!.data); // a copy, not the same buffer
    for (let e = 0; e < a[k]!.data.length; e++) {
      const x = a[k]!.data[e], d = (b[k]!.data[e] - x) + (c[k]!.data[e] - x);
      assert.equal(laco[k]!.data[e], Math.fround(x + d)); // θ_a + Σ(θ_j − θ_a)
      assert.equal(dblf[k]!.data[e], Math.fround(x + 0.1 * d)); // the paper's β = 0.1
    }
  }
});

test('fusion refuses members with different tensors', () => {
  const w = weights(2);
  const { qBias: _, ...noBias } = w.layers[1]!;
  assert.throws(() => fuseLayerGroup([w.layers[0]!, noBias as LayerWeights]), /lacks qBias/);
  assert.throws(() => fuseLayerGroup([noBias as LayerWeights, w.layers[0]!]), /anchor does not/);
  assert.throws(() => fuseLayerGroup([]));
});

test('a singleton-group stage model reproduces the full model exactly', () => {
  const w = weights(3);
  const stage = buildStageModel(cfg, w, [[0], [1], [2], [3]]);
  assert.deepEqual(stage.config, cfg);
  assert.deepEqual(stage.representativeOf, [0, 1, 2, 3]);
  const batch = randomBatch(cfg, 2, 6, 4);
  assert.deepEqual(new LlamaModel(stage.config, stage.weights).logits(batch), new LlamaModel(cfg, w).logits(batch));
});

test('a grouped stage model has one fused layer per group, shares the embeddings and runs', () => {
  const w = weights(4);
  const groups = [[0, 2], [1], [3]];
  const stage = buildStageModel(cfg, w, groups, 0.1);
  assert.deepEqual(stage.config, { ...cfg, numLayers: 3 });
  assert.deepEqual(stage.representativeOf, [0, 1, 3]);
  assert.equal(stage.weights.layers.length, 3);
  assert.equal(stage.weights.embed, w.embed);
  assert.equal(stage.weights.lmHead, w.lmHead);
  assert.equal(stage.weights.finalNorm, w.finalNorm);
  assert.deepEqual(stage.weights.layers[0], fuseLayerGroup([w.layers[0]!, w.layers[2]!], 0.1));
  assert.deepEqual(stage.weights.layers[2]!.upProj.data, w.layers[3]!.upProj.data);
  // Unsorted members are sorted, so the anchor is still the lowest index.
  assert.deepEqual(buildStageModel(cfg, w, [[2, 0], [1], [3]]).weights, stage.weights);
  const batch = randomBatch(cfg, 2, 5, 6);
  const logits = new LlamaModel(stage.config, stage.weights).logits(batch);
  assert.equal(logits.length, 2 * 5 * cfg.vocabSize);
  assert.ok(logits.every(Number.isFinite));
  // And it differs from the full model (a layer was fused away).
  assert.notDeepEqual(logits, new LlamaModel(cfg, w).logits(batch));
});

test('buildStageModel rejects groupings that are not a partition of the layers', () => {
  const w = weights(5);
  assert.throws(() => buildStageModel(cfg, w, [[0, 1], [2]]), /layer 3 is in no group/);
  assert.throws(() => buildStageModel(cfg, w, [[0, 1], [1, 2, 3]]), /more than one group/);
  assert.throws(() => buildStageModel(cfg, w, [[0, 1, 2, 3], []]), /empty/);
  assert.throws(() => buildStageModel(cfg, w, [[0, 1, 2, 4]]), /outside/);
});

const loraCfg = { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] as ('q' | 'v' | 'down')[] };

test('LoRA transfer copies each stage layer to its group members, and round-trips', () => {
  const groups = [[0, 2], [1], [3]];
  const stageLora = createLoraAdapter({ ...cfg, numLayers: 3 }, loraCfg, [0, 1, 2], new SeededRandom(6), 0.2);
  const full = transferStageLora(stageLora, groups, 4);
  assert.deepEqual([...full.layers.keys()], [0, 1, 2, 3]);
  assert.deepEqual(full.layers.get(0), stageLora.layers.get(0));
  assert.deepEqual(full.layers.get(2), stageLora.layers.get(0));
  assert.deepEqual(full.layers.get(1), stageLora.layers.get(1));
  assert.deepEqual(full.layers.get(3), stageLora.layers.get(2));
  assert.notEqual(full.layers.get(0)!.q!.A.data, full.layers.get(2)!.q!.A.data); // independent copies
  assert.notEqual(full.layers.get(0)!.q!.A.data, stageLora.layers.get(0)!.q!.A.data);
  assert.deepEqual(full.config, stageLora.config);
  const back: LoraAdapter = stageLoraFromFull(full, groups);
  assert.deepEqual(back, stageLora);
  assert.throws(() => transferStageLora(stageLora, [[0, 1, 2, 3]], 4), /stage adapter has layer 1/);
  assert.throws(() => transferStageLora(stageLora, groups, 5), /layer 4 is in no group/);
});

test('stageLoraFromFull seeds each stage layer from its anchor', () => {
  const fullLora = createLoraAdapter(cfg, loraCfg, [0, 1, 2, 3], new SeededRandom(7), 0.2);
  const stage = stageLoraFromFull(fullLora, [[1, 3], [0, 2]]);
  assert.deepEqual(stage.layers.get(0), fullLora.layers.get(1));
  assert.deepEqual(stage.layers.get(1), fullLora.layers.get(0));
  assert.equal(stage.layers.size, 2);
});

test('with singleton groups, stage model + stage LoRA equals full model + transferred LoRA', () => {
  const w = weights(8);
  const groups = [[0], [1], [2], [3]];
  const stage = buildStageModel(cfg, w, groups);
  const stageLora = createLoraAdapter(stage.config, loraCfg, [0, 1, 2, 3], new SeededRandom(9), 0.2);
  const batch = randomBatch(cfg, 1, 7, 10);
  assert.deepEqual(
    new LlamaModel(stage.config, stage.weights).logits(batch, { lora: stageLora }),
    new LlamaModel(cfg, w).logits(batch, { lora: transferStageLora(stageLora, groups, 4) }),
  );
});
