import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel, type RunOptions } from '../src/engine/llamaModel';
import { initLlamaWeights } from '../src/engine/initWeights';
import { createLoraAdapter, LORA_TARGETS, type LoraTarget } from '../src/model/lora';
import { weightsAsFloat64, loraAsFloat64 } from '../src/engine/precision';
import { zeroGradsLike, zeroLoraGradsLike, listLoraParams, listModelParams } from '../src/engine/gradBuffers';
import type { SubmodelPlan } from '../src/model/submodelPlan';
import type { ModelConfig } from '../src/model/modelConfig';
import { checkParams } from './fixtures/finiteDifference';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

/** Mean loss of the batch, recomputed from scratch (the finite-difference oracle). */
function meanLoss(model: LlamaModel, batch: ReturnType<typeof randomBatch>, opts: RunOptions): number {
  const r = model.loss(batch, opts);
  return r.lossSum / r.count;
}

const PLANS: Record<string, SubmodelPlan | undefined> = {
  'full depth': undefined,
  'layer 1 skipped': { layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: true, mlp: true }] },
  'sub-blocks skipped': {
    layers: [
      { index: 0, attention: false, mlp: true },
      { index: 1, attention: true, mlp: true },
      { index: 2, attention: true, mlp: false },
    ],
  },
};

function loraCase(cfg: ModelConfig, targets: LoraTarget[], plan: SubmodelPlan | undefined, seed: number) {
  const w = weightsAsFloat64(initLlamaWeights(cfg, rngFrom(seed), 0.3));
  const model = new LlamaModel(cfg, w);
  const layers = plan ? plan.layers.map((l) => l.index) : [0, 1, 2];
  // B starts non-zero so the gradient of A is not identically zero.
  const lora = loraAsFloat64(createLoraAdapter(cfg, { rank: 3, alpha: 6, targets }, layers, rngFrom(seed + 1), 0.3));
  const opts: RunOptions = { plan, lora };
  const batch = randomBatch(cfg, 2, 7, seed + 2, 2);
  const grads = zeroLoraGradsLike(lora);
  model.lossAndGrad(batch, opts, { lora: grads });
  return checkParams(listLoraParams(lora), listLoraParams(grads), () => meanLoss(model, batch, opts));
}

for (const [planName, plan] of Object.entries(PLANS)) {
  for (const t of LORA_TARGETS) {
    test(`LoRA gradient matches finite differences: target ${t}, ${planName}`, () => {
      const r = loraCase(tinyConfig(), [t], plan, 11);
      assert.ok(r.checked > 0);
    });
  }
}

test('LoRA gradient on all targets at once, Qwen2-style biases, tied embeddings, sliding window', () => {
  const cfg = tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true, tieWordEmbeddings: true, slidingWindow: 4 });
  const r = loraCase(cfg, [...LORA_TARGETS], PLANS['sub-blocks skipped'], 21);
  assert.ok(r.checked >= 7 * 2 * 3);
});

for (const tied of [false, true]) {
  test(`full-parameter gradient matches finite differences (tied=${tied}, biases, skipped sub-block)`, () => {
    const cfg = tinyConfig({ tieWordEmbeddings: tied, attentionBias: true, oProjBias: true, mlpBias: true, numKvHeads: 3 });
    const w = weightsAsFloat64(initLlamaWeights(cfg, rngFrom(5), 0.3));
    // Norm weights away from 1 so their gradients are generic.
    for (const l of w.layers) for (let i = 0; i < l!.inputNorm.data.length; i++) l!.inputNorm.data[i] = 0.5 + i * 0.1;
    const model = new LlamaModel(cfg, w);
    const opts: RunOptions = { plan: { layers: [{ index: 0, attention: true, mlp: false }, { index: 1, attention: true, mlp: true }, { index: 2, attention: false, mlp: true }] } };
    const batch = randomBatch(cfg, 2, 6, 9, 1);
    const grads = zeroGradsLike(w);
    model.lossAndGrad(batch, opts, { base: grads });
    const params = listModelParams(w).filter((p) => !/layers\.0\.(postNorm|gate|up|down)|layers\.2\.(inputNorm|q|k|v|o)/.test(p.name));
    const gradList = listModelParams(grads).filter((p) => params.some((q) => q.name === p.name));
    const r = checkParams(params, gradList, () => meanLoss(model, batch, opts), 4, 3);
    assert.ok(r.checked > 40);
  });
}

test('frozen parts get no gradient: a skipped sub-block has exactly zero base gradient', () => {
  const cfg = tinyConfig();
  const w = weightsAsFloat64(initLlamaWeights(cfg, rngFrom(8), 0.3));
  const model = new LlamaModel(cfg, w);
  const grads = zeroGradsLike(w);
  model.lossAndGrad(randomBatch(cfg, 1, 5, 3), { plan: PLANS['sub-blocks skipped'] }, { base: grads });
  const g0 = grads.layers[0]!;
  for (const k of ['qProj', 'kProj', 'vProj', 'oProj', 'inputNorm'] as const) assert.ok(g0[k].data.every((x) => x === 0), k);
  const g2 = grads.layers[2]!;
  for (const k of ['gateProj', 'upProj', 'downProj', 'postNorm'] as const) assert.ok(g2[k].data.every((x) => x === 0), k);
  assert.ok(grads.layers[1]!.qProj.data.some((x) => x !== 0));
});
