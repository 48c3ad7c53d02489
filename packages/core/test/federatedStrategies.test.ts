import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../src/data/seededRandom';
import { initLlamaWeights } from '../src/engine/initWeights';
import { LlamaModel } from '../src/engine/llamaModel';
import { LORA_TARGETS, loraScale, type LoraAdapter } from '../src/model/lora';
import { fullPlan, planKeepingLayers, validatePlan } from '../src/model/submodelPlan';
import { layerLossOnSkip } from '../src/federated/layerImportance';
import { estimateLoraSessionBytes } from '../src/memory/loraSessionLayout';
import { planKeepsTarget } from '../src/model/peftAdapter';
import { createStrategy } from '../src/federated/strategies/createStrategy';
import { contiguousLayerGroups } from '../src/federated/strategies/contiguousLayerGroups';
import {
  isExcluded, STRATEGY_NAMES, type ClientTask, type FederatedStrategy, type StrategyAssignment, type StrategyEnv, type StrategyUpdate,
} from '../src/federated/strategies/federatedStrategy';
import { layerOutputCka } from '../src/federated/strategies/layerSimilarity';
import { dispatchReserveBytes, maxLayersForBudget, PlanDoesNotFitError, planForBudget, planPeakBytes } from '../src/federated/submodelPlanner';
import { randomBatch, rngFrom, tinyConfig } from './fixtures/tinyModel';

const cfg = tinyConfig({ numLayers: 6, hiddenSize: 16, intermediateSize: 24, vocabSize: 40, numHeads: 2, numKvHeads: 1, headDim: 8 });
const weights = initLlamaWeights(cfg, rngFrom(3), 0.3);
const model = new LlamaModel(cfg, weights);
const calib = [randomBatch(cfg, 4, 12, 1), randomBatch(cfg, 4, 12, 2)];
const env: StrategyEnv = {
  config: cfg, weights, lora: { rank: 4, alpha: 8, targets: [...LORA_TARGETS] }, batch: 2, seqLen: 12, clipNorm: 1,
  importance: layerLossOnSkip(model, calib), layerSimilarity: layerOutputCka(model, calib), publicBatches: calib, totalRounds: 8, seed: 5,
};
const shape = { config: cfg, lora: env.lora, batch: env.batch, seqLen: env.seqLen, clipNorm: env.clipNorm };
const full = planPeakBytes(shape, fullPlan(cfg));
const budgets = [0.2, 0.3, 0.45, 0.6, 0.8, 1, 1.5].map((f) => Math.floor(f * full));

/** One tab's task of a round. */
function assignOne(s: FederatedStrategy, round: number, global: LoraAdapter, budgetBytes: number, rng: SeededRandom, clientId = 'x'): StrategyAssignment {
  return s.configureRound(round, global, [{ clientId, budgetBytes }], rng)[0];
}

/** A pretend local training: B gets a deterministic nudge so aggregation has something to average. */
function trained(t: ClientTask, by: number): StrategyUpdate {
  const layers = new Map([...t.adapter.layers].map(([i, l]) => [i, Object.fromEntries(Object.entries(l).map(([k, p]) => [k, {
    A: { shape: [...p!.A.shape], data: Float32Array.from(p!.A.data) },
    B: { shape: [...p!.B.shape], data: Float32Array.from(p!.B.data, (v, j) => v + by * Math.sin(j + i)) },
  }]))]));
  return { task: t, adapter: { config: { ...t.adapter.config }, layers } as LoraAdapter, numSamples: 10 };
}

test('strategies: every assignment fits its budget (except the unlimited bound), its estimate is the session buffer list, its LoRA is exactly its plan', () => {
  for (const name of STRATEGY_NAMES) {
    const s = createStrategy(name, env, { fedsodaAlignSteps: 2 });
    let global = s.initialGlobal();
    for (let round = 0; round < 8; round++) {
      const rng = new SeededRandom(round);
      const updates: StrategyUpdate[] = [];
      const tasks = s.configureRound(round, global, budgets.map((budgetBytes, i) => ({ clientId: `c${i}`, budgetBytes })), rng);
      assert.deepEqual(tasks.map((t) => [t.clientId, t.budgetBytes]), budgets.map((b, i) => [`c${i}`, b]), 'one task per client, in order');
      for (const [i, budget] of budgets.entries()) {
        const a = tasks[i];
        if (isExcluded(a)) {
          assert.ok(a.excluded.length > 0);
          assert.notEqual(name, 'unlimited');
          continue;
        }
        validatePlan(a.plan, a.model.config.numLayers);
        if (name !== 'unlimited') assert.ok(a.estimateBytes <= budget, `${name} round ${round}: ${a.estimateBytes} > ${budget}`);
        const independent = estimateLoraSessionBytes({ ...shape, lora: a.adapter.config, config: a.model.config, plan: a.plan, weightFormat: a.model.weightFormat }).totalBytes + dispatchReserveBytes(a.plan);
        assert.equal(a.estimateBytes, independent, `${name}: estimate`);
        for (const l of a.plan.layers) {
          for (const t of LORA_TARGETS) assert.equal(!!a.adapter.layers.get(l.index)?.[t], planKeepsTarget(l, t), `${name}: layer ${l.index} ${t}`);
        }
        assert.equal(a.adapter.layers.size, a.plan.layers.length);
        updates.push(trained(a, 0.01 * (i + 1)));
      }
      const before = JSON.stringify([...global.layers.get(0)!.q!.B.data]);
      const g = s.aggregate(global, updates);
      assert.equal(JSON.stringify([...global.layers.get(0)!.q!.B.data]), before, `${name}: aggregate leaves the old global alone`);
      assert.equal(g.layers.size, cfg.numLayers, `${name}: the global adapter covers the full model`);
      assert.equal(g.config.rank, env.lora.rank);
      global = g;
    }
  }
});

test('strategies: bigger budgets never get fewer layers; exclusive admits only full-model budgets', () => {
  for (const name of ['fedpruner', 'random-drop', 'uniform-drop', 'top-k', 'fedsoda'] as const) {
    const s = createStrategy(name, env, { fedsodaAlignSteps: 1 });
    const global = s.initialGlobal();
    let prev = 0;
    for (const b of budgets) {
      const a = assignOne(s, 0, global, b, new SeededRandom(1));
      const n = isExcluded(a) ? 0 : a.plan.layers.length;
      assert.ok(n >= prev, `${name}: ${n} layers at ${b} after ${prev}`);
      prev = n;
    }
    assert.equal(prev, cfg.numLayers);
  }
  const ex = createStrategy('exclusive', env);
  const short = assignOne(ex, 0, ex.initialGlobal(), full - 1, new SeededRandom(1));
  assert.ok(isExcluded(short) && short.minBytes === full, 'the exclusion says what would fit');
  assert.ok(!isExcluded(assignOne(ex, 0, ex.initialGlobal(), full, new SeededRandom(1))));
});

test('FedPruner: one layer per CKA group, importance-weighted, and every layer is trained over the rounds', () => {
  const s = createStrategy('fedpruner', env);
  const global = s.initialGlobal();
  const budget = planPeakBytes(shape, planKeepingLayers([0, 1, 2])); // 3 groups
  const groups = contiguousLayerGroups(env.layerSimilarity, 3);
  const counts = new Array(cfg.numLayers).fill(0);
  const rng = new SeededRandom(11);
  for (let r = 0; r < 3000; r++) {
    const a = assignOne(s, 0, global, budget, rng);
    assert.ok(!isExcluded(a));
    const kept = a.plan.layers.map((l) => l.index);
    assert.deepEqual(kept.map((i) => groups.findIndex((g) => g.includes(i))), [0, 1, 2], 'one per group, in order');
    for (const i of kept) counts[i]++;
  }
  for (let i = 0; i < cfg.numLayers; i++) assert.ok(counts[i] > 0, `layer ${i} never sampled`);
  // Within a group, a layer's frequency follows its weight max(s,0) + mean/4.
  for (const g of groups.filter((x) => x.length > 1)) {
    const w = g.map((i) => Math.max(0, env.importance[i].layer));
    const floor = w.reduce((a, b) => a + b, 0) / w.length / 4 || 1;
    const total = w.reduce((a, b) => a + b + floor, 0);
    g.forEach((i, k) => assert.ok(Math.abs(counts[i] / 3000 - (w[k] + floor) / total) < 0.04, `layer ${i}: ${counts[i] / 3000} vs ${(w[k] + floor) / total}`));
  }
});

test('FedPruner+: keeps sub-blocks where whole layers do not fit', () => {
  const oneLayer = planPeakBytes(shape, planKeepingLayers([0]));
  const s = createStrategy('fedpruner-plus', env);
  const a = assignOne(s, 0, s.initialGlobal(), oneLayer - 1, new SeededRandom(2));
  assert.ok(!isExcluded(a), 'a single sub-block fits below one whole layer');
  assert.ok(a.plan.layers.every((l) => !(l.attention && l.mlp)));
  const fp = createStrategy('fedpruner', env);
  assert.ok(isExcluded(assignOne(fp, 0, fp.initialGlobal(), oneLayer - 1, new SeededRandom(2))));
});

test('DevFT: stages of growing depth; the stage LoRA is transferred to every member of its group', () => {
  const s = createStrategy('devft', env, { devftStages: 3 });
  const depths: number[] = [];
  let global = s.initialGlobal();
  for (let round = 0; round < 8; round++) {
    const a = assignOne(s, round, global, full * 2, new SeededRandom(round));
    assert.ok(!isExcluded(a));
    depths.push(a.model.config.numLayers);
    assert.equal(a.plan.layers.length, a.model.config.numLayers, 'the whole stage model is trained');
    const g = (global = s.aggregate(global, [trained(a, 0.05)]));
    const groups = s.describe().split('groups ')[1].split(' | ').map((x) => x.split('+').map(Number));
    for (const grp of groups) {
      for (const m of grp) assert.deepEqual(g.layers.get(m)!.q!.B.data, g.layers.get(grp[0])!.q!.B.data, `members of ${grp} share the LoRA`);
    }
  }
  assert.deepEqual(depths, [2, 2, 3, 3, 6, 6, 6, 6]);
  // A budget below the stage model sits the stage out.
  assert.ok(isExcluded(assignOne(s, 7, global, Math.floor(full / 2), new SeededRandom(1))));
});

test('FedSODA: the tab holds a quantized, distillation-aligned sub-model of the most important layer per group', () => {
  const s = createStrategy('fedsoda', env, { fedsodaFormat: 'int4', fedsodaAlignSteps: 3 });
  const global = s.initialGlobal();
  const budget = planPeakBytes({ ...shape, weightFormat: 'int4' }, planKeepingLayers([0, 1]));
  const a = assignOne(s, 0, global, budget, new SeededRandom(1));
  assert.ok(!isExcluded(a));
  assert.equal(a.model.weightFormat, 'int4');
  const groups = contiguousLayerGroups(env.layerSimilarity, 2);
  assert.deepEqual(a.plan.layers.map((l) => l.index), groups.map((g) => g.reduce((b, i) => (env.importance[i].layer > env.importance[b].layer ? i : b), g[0])));
  assert.ok(a.estimateBytes < planPeakBytes(shape, a.plan), 'int4 weights cost less than f32');
  for (const l of a.plan.layers) {
    const w = a.model.weights.layers[l.index]!.qProj.data, w0 = weights.layers[l.index]!.qProj.data;
    assert.ok(w.some((v, i) => v !== w0[i]), 'kept layers are aligned and quantized, not the base');
    const levels = new Set(Array.from(w.subarray(0, cfg.hiddenSize), (v) => v.toFixed(7)));
    assert.ok(levels.size <= 15, `one row of 16 inputs is one int4 group: at most 15 distinct values, got ${levels.size}`);
  }
  // The same tier in the same alignment epoch gets the same sub-model.
  const again = assignOne(s, 1, global, budget, new SeededRandom(2), 'y');
  assert.ok(!isExcluded(again));
  assert.equal(again.model, a.model);
});

test('FlexLoRA: rank from the budget, same α/r scale, and the global product is the exact mean of the clients\' products', () => {
  const s = createStrategy('flexlora', env);
  const global = s.initialGlobal();
  const r1 = planPeakBytes({ ...shape, lora: { ...env.lora, rank: 1 } }, fullPlan(cfg));
  const [a, b, tiny] = s.configureRound(0, global, [{ clientId: 'big', budgetBytes: full }, { clientId: 'small', budgetBytes: r1 }, { clientId: 'tiny', budgetBytes: r1 - 1 }], new SeededRandom(1));
  assert.ok(!isExcluded(a) && !isExcluded(b));
  assert.equal(a.adapter.config.rank, 4);
  assert.equal(b.adapter.config.rank, 1);
  assert.equal(loraScale(b.adapter.config), loraScale(a.adapter.config));
  assert.ok(isExcluded(tiny));
  const ua = trained(a, 0.1), ub = trained(b, -0.2);
  const next = s.aggregate(global, [ua, ub]);
  // Dense check on one target: B·A of the global equals the sample-weighted mean of the products.
  const prod = (ad: LoraAdapter, layer: number) => {
    const p = ad.layers.get(layer)!.gate!, r = ad.config.rank, [out, inn] = [p.B.shape[0], p.A.shape[1]];
    const m = new Float64Array(out * inn);
    for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) for (let k = 0; k < r; k++) m[o * inn + i] += p.B.data[o * r + k] * p.A.data[k * inn + i];
    return m;
  };
  const g = prod(next, 2), pa = prod(ua.adapter, 2), pb = prod(ub.adapter, 2);
  const err = Math.max(...g.map((v, i) => Math.abs(v - (pa[i] + pb[i]) / 2)));
  const scale = Math.max(...pa.map(Math.abs));
  // Exact when the mean has rank <= 4 (4 + 1 here: it may not; then within the truncation).
  assert.ok(err <= 0.05 * scale, `product error ${err} vs scale ${scale}`);
});

test('strategy memory: the layer count that fits is the largest whose plan fits', () => {
  for (const b of budgets) {
    const k = maxLayersForBudget(shape, b);
    if (k > 0) assert.ok(planPeakBytes(shape, planKeepingLayers([...Array(k).keys()])) <= b);
    if (k < cfg.numLayers) assert.ok(planPeakBytes(shape, planKeepingLayers([...Array(k + 1).keys()])) > b);
  }
});

/** An update moving both factors (so the merged layers move): DevFT regrouped from it would group differently. */
function nudged(t: ClientTask, by: number, round: number): StrategyUpdate {
  const layers = new Map([...t.adapter.layers].map(([i, l]) => [i, Object.fromEntries(Object.entries(l).map(([k, p]) => [k, {
    A: { shape: [...p!.A.shape], data: Float32Array.from(p!.A.data, (v, j) => v + by * Math.cos(3 * j + i + round)) },
    B: { shape: [...p!.B.shape], data: Float32Array.from(p!.B.data, (v, j) => v + by * Math.sin(j + i + round)) },
  }]))]));
  return { task: t, adapter: { config: { ...t.adapter.config }, layers } as LoraAdapter, numSamples: 10 };
}

test('DevFT: restored mid-stage from its snapshot, it continues the stage with the same groups and fused model', () => {
  const run = (restartAfter?: number) => {
    let s = createStrategy('devft', env, { devftStages: 3 });
    let global = s.initialGlobal();
    const seen: { groups: string; weights: Float32Array; a: Float32Array }[] = [];
    for (let round = 0; round < 6; round++) {
      const a = assignOne(s, round, global, full * 2, new SeededRandom(round));
      assert.ok(!isExcluded(a));
      seen.push({ groups: s.describe(), weights: a.model.weights.layers[0]!.qProj.data, a: a.adapter.layers.get(0)!.q!.B.data });
      global = s.aggregate(global, [nudged(a, 0.3, round)]);
      if (round === restartAfter) {
        // What the coordinator keeps: the global adapter and the snapshot, through JSON.
        const state = JSON.parse(JSON.stringify(s.snapshot()));
        s = createStrategy('devft', env, { devftStages: 3 });
        s.restore(global, state);
      }
    }
    return seen;
  };
  const straight = run(), restarted = run(2); // round 2 opens stage 1 (rounds 2-3): the restart is mid-stage
  assert.equal(restarted.length, straight.length);
  restarted.forEach((r, i) => {
    assert.equal(r.groups, straight[i].groups, `round ${i}: groups`);
    assert.deepEqual(r.weights, straight[i].weights, `round ${i}: fused stage model`);
    assert.deepEqual(r.a, straight[i].a, `round ${i}: the tab's starting LoRA`);
  });
  const s = createStrategy('devft', env, { devftStages: 3 });
  assert.throws(() => s.restore(s.initialGlobal(), { stage: 1, groups: [[0, 1], [1, 2]] }), /layer 1/);
  assert.throws(() => s.restore(s.initialGlobal(), { stage: 9, groups: [] }), /not a stage/);
});

test('budget planner as a strategy: the plans planForBudget makes, and an exclusion that names the smallest plan', () => {
  for (const [granularity, layerPick] of [['layers', 'top'], ['subblocks', 'sample']] as const) {
    const s = createStrategy('budget-planner', env, { granularity, layerPick });
    const global = s.initialGlobal();
    const tasks = s.configureRound(0, global, budgets.map((budgetBytes, i) => ({ clientId: `c${i}`, budgetBytes })), new SeededRandom(4));
    const rng = new SeededRandom(4);
    let planned = 0;
    tasks.forEach((t, i) => {
      let want;
      try {
        want = planForBudget({ ...env, budgetBytes: budgets[i], granularity, pick: layerPick, rng });
      } catch (e) {
        assert.ok(e instanceof PlanDoesNotFitError && isExcluded(t) && t.minBytes === e.minBytes, `budget ${budgets[i]}: excluded as the planner refuses`);
        return;
      }
      assert.ok(!isExcluded(t));
      assert.deepEqual(t.plan, want.plan, `${granularity}/${layerPick} budget ${budgets[i]}`);
      assert.equal(t.estimateBytes, want.estimateBytes);
      planned++;
    });
    assert.ok(planned >= budgets.length - 1);
    const tiny = assignOne(s, 0, global, 1000, new SeededRandom(1));
    assert.ok(isExcluded(tiny) && tiny.minBytes! > 1000 && /smallest submodel/.test(tiny.excluded));
  }
});

test('the aggregation rule is the run\'s: any rule with any layerwise method, a combiner of one\'s own included', () => {
  const budget = planPeakBytes(shape, planKeepingLayers([0, 1, 2]));
  const runWith = (aggregation?: StrategyEnv['aggregation']) => {
    const s = createStrategy('fedpruner', { ...env, aggregation });
    const global = s.initialGlobal();
    const tasks = s.configureRound(0, global, [{ clientId: 'a', budgetBytes: budget }, { clientId: 'b', budgetBytes: full }], new SeededRandom(3));
    return s.aggregate(global, tasks.map((t, i) => trained(t as ClientTask, 0.1 * (i + 1))));
  };
  const byDefault = runWith(), fedavg = runWith('fedavg-factors'), svd = runWith('svd-product');
  const own = runWith((pairs) => ({ A: pairs[0].A, B: pairs[0].B })); // "first contributor wins"
  const b = (g: LoraAdapter, l: number) => Array.from(g.layers.get(l)!.q!.B.data);
  for (let l = 0; l < cfg.numLayers; l++) assert.deepEqual(b(byDefault, l), b(fedavg, l));
  assert.ok([...Array(cfg.numLayers).keys()].some((l) => b(svd, l).some((v, i) => v !== b(fedavg, l)[i])), 'svd-product differs from factor averaging');
  assert.ok([...Array(cfg.numLayers).keys()].some((l) => b(own, l).some((v, i) => v !== b(fedavg, l)[i])), 'the own combiner is used');
});
