import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../src/engine/llamaModel';
import { initLlamaWeights } from '../src/engine/initWeights';
import { validatePlan, describePlan, SubmodelPlanError, fullPlan, type SubmodelPlan } from '../src/model/submodelPlan';
import type { LlamaWeights } from '../src/model/llamaWeights';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

const cfg = tinyConfig({ numLayers: 4 });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Oracle: a skipped sub-block is the same as that sub-block's output projection being zero. */
function zeroed(w: LlamaWeights, layer: number, part: 'attention' | 'mlp' | 'both'): LlamaWeights {
  const layers = w.layers.map((l, i) => {
    if (!l || i !== layer) return l;
    const c = { ...l };
    if (part !== 'mlp') c.oProj = { shape: l.oProj.shape, data: new Float32Array(l.oProj.data.length) };
    if (part !== 'attention') c.downProj = { shape: l.downProj.shape, data: new Float32Array(l.downProj.data.length) };
    return c;
  });
  return { ...w, layers };
}

const cases: [string, SubmodelPlan, number, 'attention' | 'mlp' | 'both'][] = [
  ['layer 2 dropped', { layers: [0, 1, 3].map((index) => ({ index, attention: true, mlp: true })) }, 2, 'both'],
  ['attention of layer 1 skipped', { layers: [0, 1, 2, 3].map((index) => ({ index, attention: index !== 1, mlp: true })) }, 1, 'attention'],
  ['MLP of layer 0 skipped', { layers: [0, 1, 2, 3].map((index) => ({ index, attention: true, mlp: index !== 0 })) }, 0, 'mlp'],
];

for (const [name, plan, layer, part] of cases) {
  test(`submodel plan: ${name} equals the full model with that block's output projection zeroed`, () => {
    const w = initLlamaWeights(cfg, rngFrom(3), 0.2);
    const batch = randomBatch(cfg, 2, 9, 4);
    const skipped = new LlamaModel(cfg, w).logits(batch, { plan });
    const oracle = new LlamaModel(cfg, zeroed(w, layer, part)).logits(batch);
    assert.ok(maxAbsDiff(skipped, oracle) < 1e-5, `max diff ${maxAbsDiff(skipped, oracle)}`);
    const full = new LlamaModel(cfg, w).logits(batch);
    assert.ok(maxAbsDiff(skipped, full) > 1e-3, 'skipping must change the output');
  });
}

test('a submodel runs with only its kept layers loaded, and refuses a plan needing a missing layer', () => {
  const w = initLlamaWeights(cfg, rngFrom(3), 0.2);
  const partial: LlamaWeights = { ...w, layers: w.layers.map((l, i) => (i === 1 || i === 3 ? l : undefined)) };
  const batch = randomBatch(cfg, 1, 5, 4);
  const plan: SubmodelPlan = { layers: [1, 3].map((index) => ({ index, attention: true, mlp: true })) };
  const a = new LlamaModel(cfg, partial).logits(batch, { plan });
  const b = new LlamaModel(cfg, w).logits(batch, { plan });
  assert.deepEqual(Array.from(a), Array.from(b));
  assert.throws(() => new LlamaModel(cfg, partial).logits(batch), /plan keeps layer 0 but its weights were not loaded/);
});

test('validatePlan rejects out-of-range, unsorted, duplicate and malformed layers', () => {
  validatePlan(fullPlan(cfg), 4);
  const bad: [unknown, RegExp][] = [
    [{ layers: [{ index: 4, attention: true, mlp: true }] }, /outside the model's layers 0\.\.3/],
    [{ layers: [{ index: -1, attention: true, mlp: true }] }, /outside/],
    [{ layers: [{ index: 2, attention: true, mlp: true }, { index: 1, attention: true, mlp: true }] }, /strictly ascending/],
    [{ layers: [{ index: 1, attention: true, mlp: true }, { index: 1, attention: true, mlp: true }] }, /strictly ascending/],
    [{ layers: [{ index: 1, attention: 'yes', mlp: true }] }, /boolean/],
  ];
  for (const [p, re] of bad) assert.throws(() => validatePlan(p as SubmodelPlan, 4), (e: Error) => e instanceof SubmodelPlanError && re.test(e.message));
  assert.equal(describePlan({ layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: true, mlp: false }, { index: 3, attention: false, mlp: true }] }), '0,2a,3m');
});
