import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../src/data/seededRandom';
import { LlamaModel } from '../src/engine/llamaModel';
import { initLlamaWeights } from '../src/engine/initWeights';
import { planKeepingLayers, validatePlan } from '../src/model/submodelPlan';
import { estimateLoraSessionBytes } from '../src/memory/loraSessionLayout';
import { blockInfluence, blockInfluenceImportance, layerLossOnSkip, meanLoss, type LayerImportance } from '../src/federated/layerImportance';
import { dispatchReserveBytes, planForBudget, planPeakBytes, PlanDoesNotFitError, type PlanRequest } from '../src/federated/submodelPlanner';
import type { LlamaWeights } from '../src/model/llamaWeights';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

const cfg = tinyConfig({ numLayers: 6, hiddenSize: 16, intermediateSize: 24, vocabSize: 40 });
const lora = { rank: 2, alpha: 4, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const };
const imp = (scores: number[]): LayerImportance[] => scores.map((s, index) => ({ index, layer: s, attention: s / 2, mlp: s / 3 }));
const importance = imp([0.9, 0.1, 0.5, 0.05, 0.7, 0.2]);
const base = { config: cfg, lora: { ...lora, targets: [...lora.targets] }, batch: 4, seqLen: 16, clipNorm: 1, importance };
const bytesOf = (layers: number[]) => planPeakBytes(base, planKeepingLayers(layers));

test('planner: the predicted peak is the session buffer list plus the dispatch reserve', () => {
  const plan = planKeepingLayers([1, 3]);
  const buffers = estimateLoraSessionBytes({ ...base, plan }).totalBytes;
  assert.equal(planPeakBytes(base, plan), buffers + dispatchReserveBytes(plan));
  // More kept layers always cost more.
  for (let k = 1; k < 6; k++) assert.ok(bytesOf([...Array(k + 1).keys()]) > bytesOf([...Array(k).keys()]));
});

test('planner: keeps the most layers that fit, the most important first, never over budget', () => {
  for (let k = 1; k <= 6; k++) {
    const exact = bytesOf([...Array(k).keys()]);
    for (const budget of [exact, exact + 1, exact - 1]) {
      if (k === 1 && budget < exact) continue; // refused: next test
      const r = planForBudget({ ...base, budgetBytes: budget, granularity: 'layers', pick: 'top' });
      const want = budget >= exact ? k : k - 1;
      assert.equal(r.plan.layers.length, want, `budget ${budget}`);
      assert.ok(r.estimateBytes <= budget);
      assert.equal(r.estimateBytes, planPeakBytes(base, r.plan));
      validatePlan(r.plan, cfg.numLayers);
    }
  }
  const three = planForBudget({ ...base, budgetBytes: bytesOf([0, 1, 2]), granularity: 'layers', pick: 'top' });
  assert.deepEqual(three.plan.layers.map((l) => l.index), [0, 2, 4]); // importance 0.9, 0.5, 0.7
  assert.ok(three.plan.layers.every((l) => l.attention && l.mlp));
});

test('planner: a budget below one layer is refused with the smallest plan size', () => {
  const one = bytesOf([0]);
  assert.throws(() => planForBudget({ ...base, budgetBytes: one - 1, granularity: 'layers', pick: 'top' }), (e: unknown) => {
    assert.ok(e instanceof PlanDoesNotFitError);
    assert.equal(e.minBytes, one);
    return true;
  });
  // Sub-blocks go lower: one MLP sub-block costs less than a whole layer.
  const sub = planForBudget({ ...base, budgetBytes: one - 1, granularity: 'subblocks', pick: 'top' });
  assert.ok(sub.plan.layers.length >= 1 && sub.estimateBytes < one);
  assert.ok(sub.plan.layers.some((l) => !(l.attention && l.mlp)));
});

test('planner: sampling is seeded, never over budget, and trains every layer over the rounds', () => {
  const req: PlanRequest = { ...base, budgetBytes: bytesOf([0, 1]), granularity: 'layers', pick: 'sample' };
  const a = planForBudget({ ...req, rng: new SeededRandom(7) }), b = planForBudget({ ...req, rng: new SeededRandom(7) });
  assert.deepEqual(a, b);
  const seen = new Array(6).fill(0);
  for (let s = 0; s < 300; s++) {
    const r = planForBudget({ ...req, rng: new SeededRandom(s) });
    assert.equal(r.plan.layers.length, 2);
    assert.ok(r.estimateBytes <= req.budgetBytes);
    for (const l of r.plan.layers) seen[l.index]++;
  }
  assert.ok(seen.every((n) => n > 0), `every layer sampled: ${seen}`);
  assert.ok(seen[0] > seen[3], `importance 0.9 drawn more than 0.05: ${seen}`);
  assert.throws(() => planForBudget(req), /needs an rng/);
});

/** A layer whose output projections are zero is the identity on the residual stream. */
function withIdentityLayer(w: LlamaWeights, i: number): LlamaWeights {
  const layers = w.layers.map((l, j) => (j !== i || !l ? l : {
    ...l, oProj: { shape: l.oProj.shape, data: new Float32Array(l.oProj.data.length) }, downProj: { shape: l.downProj.shape, data: new Float32Array(l.downProj.data.length) },
  }));
  return { ...w, layers };
}

test('layer importance: loss-on-skip is the loss change of the pruned model; an identity layer scores 0', () => {
  const c = tinyConfig({ numLayers: 4 });
  const model = new LlamaModel(c, withIdentityLayer(initLlamaWeights(c, rngFrom(5), 0.3), 2));
  const batches = [randomBatch(c, 2, 8, 1), randomBatch(c, 3, 7, 2)];
  const progress: string[] = [];
  const scores = layerLossOnSkip(model, batches, (done, total) => progress.push(`${done}/${total}`));
  assert.equal(scores.length, 4);
  assert.deepEqual(progress, ['1/4', '2/4', '3/4', '4/4']);
  const full = meanLoss(model, batches, { layers: [0, 1, 2, 3].map((index) => ({ index, attention: true, mlp: true })) });
  const without1 = meanLoss(model, batches, planKeepingLayers([0, 2, 3]));
  // Resumed from the shared prefix, with the head on counted rows only: the plain pruned-model loss (same arithmetic).
  assert.ok(Math.abs(scores[1].layer - (without1 - full)) < 1e-9, `${scores[1].layer} vs ${without1 - full}`);
  const noMlp3 = meanLoss(model, batches, { layers: [0, 1, 2, 3].map((index) => ({ index, attention: true, mlp: index !== 3 })) });
  assert.ok(Math.abs(scores[3].mlp - (noMlp3 - full)) < 1e-9, `${scores[3].mlp} vs ${noMlp3 - full}`);
  const noAttn0 = meanLoss(model, batches, { layers: [0, 1, 2, 3].map((index) => ({ index, attention: index !== 0, mlp: true })) });
  assert.ok(Math.abs(scores[0].attention - (noAttn0 - full)) < 1e-9, `${scores[0].attention} vs ${noAttn0 - full}`);
  assert.ok(Math.abs(scores[2].layer) < 1e-5 && Math.abs(scores[2].attention) < 1e-5 && Math.abs(scores[2].mlp) < 1e-5, JSON.stringify(scores[2]));
  assert.ok(scores.some((s) => Math.abs(s.layer) > 1e-3), 'the other layers matter');
  const bi = blockInfluence(model, batches);
  assert.ok(Math.abs(bi[2]) < 1e-6, `identity layer BI ${bi[2]}`);
  // The same measure per layer and sub-block, as the coordinator's cheap importance (RunSettings.importance).
  const bii = blockInfluenceImportance(model, batches);
  bii.forEach((v, i) => assert.ok(Math.abs(v.layer - bi[i]) < 1e-9, `layer ${i}: ${v.layer} vs ${bi[i]}`));
  assert.ok(Math.abs(bii[2].attention) < 1e-6 && Math.abs(bii[2].mlp) < 1e-6, JSON.stringify(bii[2]));
  assert.ok(bii[0].attention > 1e-4 && bii[0].mlp > 1e-4, JSON.stringify(bii[0]));
  assert.ok(bi.every((v) => v >= -1e-9 && v <= 2));
  assert.ok(bi[0] > 1e-4);
});
