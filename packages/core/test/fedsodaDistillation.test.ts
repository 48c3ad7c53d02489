import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel, type RunOptions, type TokenBatch } from '../src/engine/llamaModel';
import { initLlamaWeights } from '../src/engine/initWeights';
import { createLoraAdapter } from '../src/model/lora';
import { loraAsFloat64, weightsAsFloat64 } from '../src/engine/precision';
import { listModelParams, zeroGradsLike } from '../src/engine/gradBuffers';
import { fullPlan, planKeepingLayers, type SubmodelPlan } from '../src/model/submodelPlan';
import { alignSubmodel } from '../src/federated/fedsoda/distillationAlignment';
import { checkParams } from './fixtures/finiteDifference';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

const SKIP_MIDDLE: SubmodelPlan = planKeepingLayers([0, 2]);
const SUB_BLOCKS: SubmodelPlan = { layers: [{ index: 0, attention: true, mlp: false }, { index: 2, attention: true, mlp: true }] };

for (const [name, plan, tau, withLora] of [
  ['layer 1 dropped, τ=1', SKIP_MIDDLE, 1, false],
  ['MLP of layer 0 skipped, τ=2, frozen LoRA on the student', SUB_BLOCKS, 2, true],
] as const) {
  test(`distillLossAndGrad matches finite differences: ${name}`, () => {
    const cfg = tinyConfig({ attentionBias: true, numKvHeads: 3 });
    const w = weightsAsFloat64(initLlamaWeights(cfg, rngFrom(3), 0.3));
    for (const l of w.layers) for (let i = 0; i < l!.postNorm.data.length; i++) l!.postNorm.data[i] = 0.6 + i * 0.07;
    const teacher = new LlamaModel(cfg, weightsAsFloat64(initLlamaWeights(cfg, rngFrom(4), 0.3)));
    const batch = randomBatch(cfg, 2, 6, 9, 2);
    const lora = withLora ? loraAsFloat64(createLoraAdapter(cfg, { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] }, [0, 1, 2], rngFrom(5), 0.3)) : undefined;
    const teacherLogits = teacher.logits(batch, { lora });
    const student = new LlamaModel(cfg, w);
    const opts: RunOptions = { plan, lora };
    const grads = zeroGradsLike(w);
    const r = student.distillLossAndGrad(batch, teacherLogits, opts, { base: grads }, tau);
    assert.equal(r.count, 2 * 4);
    assert.ok(r.klSum > 0);
    const meanLoss = () => { const x = student.distillLoss(batch, teacherLogits, opts, tau); return x.lossSum / x.count; };
    // Parameters of skipped sub-blocks and dropped layers have zero gradient (checked below), not FD-checked.
    const active = (n: string) => !/layers\.1\.|layers\.0\.(postNorm|gate|up|down)/.test(n) || (plan === SKIP_MIDDLE && /layers\.0\./.test(n));
    const params = listModelParams(w).filter((p) => active(p.name));
    const gradList = listModelParams(grads).filter((p) => active(p.name));
    assert.ok(checkParams(params, gradList, meanLoss, 4).checked > 40);
    for (const p of listModelParams(grads)) if (!active(p.name)) assert.ok(p.tensor.data.every((x) => x === 0), p.name);
  });
}

test('a full-plan student equal to the teacher has KL 0 and zero gradient', () => {
  const cfg = tinyConfig();
  const w = weightsAsFloat64(initLlamaWeights(cfg, rngFrom(7), 0.3));
  const model = new LlamaModel(cfg, w);
  const batch = randomBatch(cfg, 2, 7, 1, 1);
  const grads = zeroGradsLike(w);
  const r = model.distillLossAndGrad(batch, model.logits(batch), { plan: fullPlan(cfg) }, { base: grads });
  assert.ok(Math.abs(r.klSum / r.count) < 1e-9, `KL ${r.klSum / r.count}`);
  assert.ok(Math.abs(r.lossSum - r.teacherEntropySum) < 1e-9);
  for (const p of listModelParams(grads)) assert.ok(p.tensor.data.every((x) => Math.abs(x) < 1e-12), p.name);
});

function batches(cfg: ReturnType<typeof tinyConfig>, n: number, seed: number): TokenBatch[] {
  return Array.from({ length: n }, (_, i) => randomBatch(cfg, 4, 8, seed + i, 1));
}

test('alignSubmodel lowers held-out KL and leaves frozen tensors bit-identical', () => {
  const cfg = tinyConfig();
  const weights = initLlamaWeights(cfg, rngFrom(12), 0.3);
  const snapshot = listModelParams(weights).map((p) => ({ name: p.name, data: p.tensor.data.slice() }));
  const teacher = new LlamaModel(cfg, weights);
  const plan = SKIP_MIDDLE;
  const train = batches(cfg, 12, 100), heldOut = batches(cfg, 4, 500);
  const r = alignSubmodel({ teacher, config: cfg, weights, plan, batches: train, evalBatches: heldOut, steps: 120, lr: 1e-2, rngSeed: 3 });
  console.log(`held-out KL ${r.klBefore.toFixed(5)} -> ${r.klAfter.toFixed(5)}; train curve ${r.curve[0].toFixed(5)} -> ${r.curve.at(-1)!.toFixed(5)}`);
  assert.equal(r.curve.length, 120);
  assert.ok(r.klBefore > 0);
  assert.ok(r.klAfter < 0.7 * r.klBefore, `klAfter ${r.klAfter} vs klBefore ${r.klBefore}`);
  // The input is never mutated.
  for (const [i, p] of listModelParams(weights).entries()) assert.deepEqual(p.tensor.data, snapshot[i].data, p.name);
  // Frozen and dropped tensors are bit-identical in the result; kept layers changed.
  const out = new Map(listModelParams(r.weights).map((p) => [p.name, p.tensor.data]));
  for (const s of snapshot) {
    if (/^layers\.(0|2)\./.test(s.name)) continue;
    assert.deepEqual(out.get(s.name), s.data, s.name);
  }
  assert.notDeepEqual(out.get('layers.0.qProj'), snapshot.find((s) => s.name === 'layers.0.qProj')!.data);
  assert.notDeepEqual(out.get('layers.2.downProj'), snapshot.find((s) => s.name === 'layers.2.downProj')!.data);
  assert.notEqual(r.weights.layers[0], weights.layers[0]);
});

test('alignSubmodel with a teacher LoRA and τ=2 is deterministic in its seed', () => {
  const cfg = tinyConfig({ tieWordEmbeddings: true });
  const weights = initLlamaWeights(cfg, rngFrom(21), 0.3);
  const lora = createLoraAdapter(cfg, { rank: 2, alpha: 4, targets: ['q', 'v'] }, [0, 1, 2], rngFrom(22), 0.2);
  const args = {
    teacher: new LlamaModel(cfg, weights), teacherLora: lora, config: cfg, weights, plan: planKeepingLayers([1, 2]),
    batches: batches(cfg, 4, 40), steps: 20, lr: 5e-3, temperature: 2, rngSeed: 9,
  };
  const a = alignSubmodel(args), b = alignSubmodel(args);
  assert.deepEqual(a.curve, b.curve);
  assert.ok(a.klAfter < a.klBefore, `${a.klAfter} vs ${a.klBefore}`);
  assert.equal(a.weights.embed, weights.embed);
  assert.equal(a.weights.lmHead, a.weights.embed, 'tied head stays tied');
});
