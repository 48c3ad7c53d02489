import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  aggregateLayerwise, LoraAggregationError, type LayerwiseClientUpdate, type LoraAggregationRule,
} from '../src/federated/aggregateLayerwise';
import { createLoraAdapter, LORA_TARGETS, type LoraAdapter, type LoraConfig, type LoraTarget } from '../src/model/lora';
import type { PlannedLayer, SubmodelPlan } from '../src/model/submodelPlan';
import { tensor, type Tensor } from '../src/model/tensor';
import { rngFrom, tinyConfig } from './fixtures/tinyModel';

const model = tinyConfig({ numLayers: 4 });
const lora: LoraConfig = { rank: 2, alpha: 4, targets: [...LORA_TARGETS] };
const ATTN: LoraTarget[] = ['q', 'k', 'v', 'o'];
const MLP: LoraTarget[] = ['gate', 'up', 'down'];

const full = (index: number): PlannedLayer => ({ index, attention: true, mlp: true });
const attnOnly = (index: number): PlannedLayer => ({ index, attention: true, mlp: false });
const mlpOnly = (index: number): PlannedLayer => ({ index, attention: false, mlp: true });

/**
 * A client's adapter holding exactly the given targets of each layer (written out by hand, not
 * derived from the plan, so the test does not reuse the code's notion of which targets a plan keeps).
 */
function clientAdapter(cfg: LoraConfig, layers: Record<number, LoraTarget[]>, seed: number): LoraAdapter {
  const idx = Object.keys(layers).map(Number);
  const a = createLoraAdapter(model, cfg, idx, rngFrom(seed), 0.2);
  for (const l of idx) {
    const layer = a.layers.get(l)!;
    for (const t of cfg.targets) if (!layers[l].includes(t)) delete layer[t];
  }
  return a;
}

function snapshot(a: LoraAdapter): unknown {
  return {
    config: structuredClone(a.config),
    layers: [...a.layers].map(([l, layer]) => [l, Object.entries(layer).map(([t, p]) => [t, [...p!.A.shape], Array.from(p!.A.data), [...p!.B.shape], Array.from(p!.B.data)])]),
  };
}

/**
 * Three clients with heterogeneous plans over a 4-layer model:
 *   c1 (n=3): layer 0 whole, layer 1 attention only
 *   c2 (n=5): layer 0 whole, layer 1 MLP only, layer 2 attention only
 *   c3 (n=2): layer 1 whole
 * Nobody trains layer 2's MLP or any of layer 3.
 */
function scenario() {
  const global = createLoraAdapter(model, lora, [0, 1, 2, 3], rngFrom(1), 0.1);
  const updates: LayerwiseClientUpdate[] = [
    {
      clientId: 'c1', numSamples: 3,
      plan: { layers: [full(0), attnOnly(1)] },
      adapter: clientAdapter(lora, { 0: [...LORA_TARGETS], 1: ATTN }, 11),
    },
    {
      clientId: 'c2', numSamples: 5,
      plan: { layers: [full(0), mlpOnly(1), attnOnly(2)] },
      adapter: clientAdapter(lora, { 0: [...LORA_TARGETS], 1: MLP, 2: ATTN }, 12),
    },
    {
      clientId: 'c3', numSamples: 2,
      plan: { layers: [full(1)] },
      adapter: clientAdapter(lora, { 1: [...LORA_TARGETS] }, 13),
    },
  ];
  return { global, updates };
}

/** Who trained (layer, target), by hand from the scenario's description. */
function expectedContributors(layer: number, t: LoraTarget): string[] {
  const attn = ATTN.includes(t);
  switch (layer) {
    case 0: return ['c1', 'c2'];
    case 1: return attn ? ['c1', 'c3'] : ['c2', 'c3'];
    case 2: return attn ? ['c2'] : [];
    default: return [];
  }
}

/** Σ n_k·x_k / Σ n_k in float64. */
function weightedMeanOracle(xs: Tensor[], ns: number[]): Float64Array {
  const total = ns.reduce((a, b) => a + b, 0);
  const out = new Float64Array(xs[0].data.length);
  xs.forEach((x, k) => { for (let i = 0; i < out.length; i++) out[i] += ns[k] * x.data[i]; });
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}

function assertFloat32Close(got: Tensor, want: Float64Array, what: string): void {
  assert.equal(got.data.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    // float32 rounding of the float64 mean, nothing more.
    assert.ok(Math.abs(got.data[i] - want[i]) <= 1.2e-7 * Math.abs(want[i]) + 1e-12, `${what}[${i}]: ${got.data[i]} vs ${want[i]}`);
  }
}

test('fedavg-factors: sample-weighted means over exactly the clients that trained each sub-block', () => {
  const { global, updates } = scenario();
  const before = { g: snapshot(global), u: updates.map((u) => snapshot(u.adapter)) };
  const out = aggregateLayerwise(global, updates, { rule: 'fedavg-factors', model });
  assert.deepEqual(out.config, global.config);
  assert.notEqual(out.config, global.config);
  assert.deepEqual([...out.layers.keys()].sort(), [0, 1, 2, 3]);
  let averaged = 0, kept = 0;
  for (const l of [0, 1, 2, 3]) {
    for (const t of LORA_TARGETS) {
      const got = out.layers.get(l)![t]!;
      const prev = global.layers.get(l)![t]!;
      assert.notEqual(got.A, prev.A, 'fresh tensors');
      assert.notEqual(got.B.data, prev.B.data, 'fresh tensors');
      assert.deepEqual(got.A.shape, prev.A.shape);
      assert.deepEqual(got.B.shape, prev.B.shape);
      const ids = expectedContributors(l, t);
      if (ids.length === 0) {
        assert.deepEqual(Array.from(got.A.data), Array.from(prev.A.data), `layer ${l} ${t} A kept bit-for-bit`);
        assert.deepEqual(Array.from(got.B.data), Array.from(prev.B.data), `layer ${l} ${t} B kept bit-for-bit`);
        kept++;
        continue;
      }
      const cs = ids.map((id) => updates.find((u) => u.clientId === id)!);
      const pairs = cs.map((c) => c.adapter.layers.get(l)![t]!);
      const ns = cs.map((c) => c.numSamples);
      assertFloat32Close(got.A, weightedMeanOracle(pairs.map((p) => p.A), ns), `layer ${l} ${t} A`);
      assertFloat32Close(got.B, weightedMeanOracle(pairs.map((p) => p.B), ns), `layer ${l} ${t} B`);
      averaged++;
    }
  }
  assert.equal(averaged, 7 + 7 + 4);
  assert.equal(kept, 3 + 7);
  // Layer 2: the attention targets are c2's own (the only contributor), the MLP targets global's.
  for (const t of ATTN) {
    assert.deepEqual(Array.from(out.layers.get(2)![t]!.A.data), Array.from(updates[1].adapter.layers.get(2)![t]!.A.data));
  }
  // Nothing mutated.
  assert.deepEqual(snapshot(global), before.g);
  assert.deepEqual(updates.map((u) => snapshot(u.adapter)), before.u);
});

test('fedavg-factors: the weights are sample counts, not client counts', () => {
  const { global, updates } = scenario();
  const out = aggregateLayerwise(global, updates, { rule: 'fedavg-factors' });
  const a1 = updates[0].adapter.layers.get(0)!.q!.A.data, a2 = updates[1].adapter.layers.get(0)!.q!.A.data;
  const got = out.layers.get(0)!.q!.A.data;
  const equalWeights = Array.from(a1, (x, i) => (x + a2[i]) / 2);
  assert.ok(Array.from(got).some((x, i) => Math.abs(x - equalWeights[i]) > 1e-3));
});

test('no updates: the result is a bit-for-bit copy of the global adapter, for either rule', () => {
  const { global } = scenario();
  for (const rule of ['fedavg-factors', 'svd-product'] as const) {
    const out = aggregateLayerwise(global, [], { rule });
    assert.deepEqual(snapshot(out), snapshot(global));
  }
});

/** Dense B·A in float64. */
function product(p: { A: Tensor; B: Tensor }): Float64Array {
  const [out, r] = p.B.shape, inDim = p.A.shape[1];
  const m = new Float64Array(out * inDim);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inDim; i++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += p.B.data[o * r + j] * p.A.data[j * inDim + i];
      m[o * inDim + i] = s;
    }
  }
  return m;
}

function relDiff(a: Float64Array, b: Float64Array): number {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  return Math.sqrt(d / n);
}

function meanOfProducts(pairs: { A: Tensor; B: Tensor }[], ns: number[]): Float64Array {
  const total = ns.reduce((a, b) => a + b, 0);
  const ms = pairs.map(product);
  return Float64Array.from(ms[0], (_, i) => ms.reduce((s, m, k) => s + (ns[k] / total) * m[i], 0));
}

function twoClientCase(shareA: boolean) {
  const cfg: LoraConfig = { rank: 2, alpha: 4, targets: ['q', 'down'] };
  const global = createLoraAdapter(model, cfg, [0], rngFrom(100), 0.1);
  const mk = (id: string, n: number, seed: number): LayerwiseClientUpdate => ({
    clientId: id, numSamples: n, plan: { layers: [full(0)] }, adapter: createLoraAdapter(model, cfg, [0], rngFrom(seed), 0.3),
  });
  const updates = [mk('x', 1, 101), mk('y', 3, 102)];
  if (shareA) {
    for (const t of cfg.targets) updates[1].adapter.layers.get(0)![t]!.A = updates[0].adapter.layers.get(0)![t]!.A;
  }
  return { cfg, global, updates };
}

test('rule caveat: fedavg-factors B·A is not the mean of the products; svd-product is (mean of rank ≤ r)', () => {
  const { cfg, global, updates } = twoClientCase(false);
  const fedavg = aggregateLayerwise(global, updates, { rule: 'fedavg-factors' });
  for (const t of cfg.targets) {
    const pairs = updates.map((u) => u.adapter.layers.get(0)![t]!);
    const want = meanOfProducts(pairs, [1, 3]);
    assert.ok(relDiff(product(fedavg.layers.get(0)![t]!), want) > 1e-2, `${t}: cross terms make fedavg differ`);
  }

  // Shared A (rank of the mean ≤ r): svd-product is exact, and here fedavg-factors is too.
  const shared = twoClientCase(true);
  for (const rule of ['svd-product', 'fedavg-factors'] as LoraAggregationRule[]) {
    const out = aggregateLayerwise(shared.global, shared.updates, { rule, model });
    for (const t of shared.cfg.targets) {
      const want = meanOfProducts(shared.updates.map((u) => u.adapter.layers.get(0)![t]!), [1, 3]);
      assert.ok(relDiff(product(out.layers.get(0)![t]!), want) < 1e-5, `${rule} ${t}`);
    }
  }

  // A single contributor: svd-product reproduces its product.
  const single = aggregateLayerwise(global, [updates[1]], { rule: 'svd-product' });
  for (const t of cfg.targets) {
    assert.ok(relDiff(product(single.layers.get(0)![t]!), product(updates[1].adapter.layers.get(0)![t]!)) < 1e-5);
  }
});

test('svd-product on a mean of rank above r: strictly closer to the mean than fedavg-factors, A rows orthonormal', () => {
  const { cfg, global, updates } = twoClientCase(false);
  const svd = aggregateLayerwise(global, updates, { rule: 'svd-product' });
  const fedavg = aggregateLayerwise(global, updates, { rule: 'fedavg-factors' });
  for (const t of cfg.targets) {
    const pairs = updates.map((u) => u.adapter.layers.get(0)![t]!);
    const want = meanOfProducts(pairs, [1, 3]);
    const eSvd = relDiff(product(svd.layers.get(0)![t]!), want);
    assert.ok(eSvd < relDiff(product(fedavg.layers.get(0)![t]!), want));
    for (const p of pairs) assert.ok(eSvd < relDiff(product(p), want));
    const A = svd.layers.get(0)![t]!.A, inDim = A.shape[1];
    for (let i = 0; i < cfg.rank; i++) {
      for (let j = 0; j < cfg.rank; j++) {
        let d = 0;
        for (let k = 0; k < inDim; k++) d += A.data[i * inDim + k] * A.data[j * inDim + k];
        assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-6);
      }
    }
  }
});

test('svd-product with every B zero (PEFT initialisation): B zero, A with r orthonormal rows', () => {
  const cfg: LoraConfig = { rank: 3, alpha: 6, targets: ['v', 'up'] };
  const global = createLoraAdapter(model, cfg, [0, 1], rngFrom(200));
  const updates: LayerwiseClientUpdate[] = [
    { clientId: 'a', numSamples: 4, plan: { layers: [full(0)] }, adapter: createLoraAdapter(model, cfg, [0], rngFrom(201)) },
    { clientId: 'b', numSamples: 6, plan: { layers: [full(0), attnOnly(1)] }, adapter: clientAdapter(cfg, { 0: ['v', 'up'], 1: ['v'] }, 202) },
  ];
  for (const u of updates) for (const layer of u.adapter.layers.values()) for (const p of Object.values(layer)) p!.B.data.fill(0);
  const out = aggregateLayerwise(global, updates, { rule: 'svd-product', model });
  for (const [l, t] of [[0, 'v'], [0, 'up'], [1, 'v']] as [number, LoraTarget][]) {
    const { A, B } = out.layers.get(l)![t]!;
    assert.ok(B.data.every((x) => x === 0), `layer ${l} ${t}: B zero`);
    const inDim = A.shape[1];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let d = 0;
        for (let k = 0; k < inDim; k++) d += A.data[i * inDim + k] * A.data[j * inDim + k];
        assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-6, `layer ${l} ${t}: A·Aᵀ = I`);
      }
    }
  }
  // Layer 1's MLP (nobody trained it) is the global pair unchanged.
  assert.deepEqual(Array.from(out.layers.get(1)!.up!.A.data), Array.from(global.layers.get(1)!.up!.A.data));
});

// ---- validation ----

function assertRejects(fn: () => unknown, clientId: string | undefined, pattern: RegExp): void {
  let result: unknown = 'not thrown';
  assert.throws(() => { result = fn(); }, (e: unknown) => {
    assert.ok(e instanceof LoraAggregationError, `expected LoraAggregationError, got ${String(e)}`);
    assert.equal(e.name, 'LoraAggregationError');
    assert.equal(e.clientId, clientId);
    if (clientId !== undefined) assert.match(e.message, new RegExp(`client ${clientId}\\b`));
    assert.match(e.message, pattern);
    return true;
  });
  assert.equal(result, 'not thrown', 'nothing returned');
}

test('validation: bad updates are refused with a LoraAggregationError naming the client', () => {
  const run = (mutate: (u: LayerwiseClientUpdate[], g: LoraAdapter) => void, rule: LoraAggregationRule = 'fedavg-factors') => () => {
    const { global, updates } = scenario();
    mutate(updates, global);
    return aggregateLayerwise(global, updates, { rule, model });
  };
  // Non-finite values.
  assertRejects(run((u) => { u[1].adapter.layers.get(2)!.o!.A.data[3] = NaN; }), 'c2', /non-finite.*o_proj\.lora_A|o_proj\.lora_A.*non-finite/);
  assertRejects(run((u) => { u[2].adapter.layers.get(1)!.down!.B.data[0] = Infinity; }, 'svd-product'), 'c3', /non-finite/);
  // Wrong shape.
  assertRejects(run((u) => { u[0].adapter.layers.get(0)!.k!.B = tensor([5, 2]); }), 'c1', /k_proj\.lora_B.*shape \[5, 2\]/);
  assertRejects(run((u) => { u[0].adapter.layers.get(0)!.up!.A = tensor([2 * 12]); }), 'c1', /up_proj\.lora_A.*shape/);
  // Missing a tensor its plan trains.
  assertRejects(run((u) => { delete u[2].adapter.layers.get(1)!.gate; }), 'c3', /gate_proj\.lora_A.*missing/);
  // Tensors the plan did not train: an MLP target in an attention-only layer, a layer outside the plan,
  // a target outside the adapter config.
  assertRejects(run((u) => { u[0].adapter.layers.get(1)!.up = u[0].adapter.layers.get(0)!.up; }), 'c1', /up_proj.*does not train/);
  assertRejects(run((u) => { u[2].adapter.layers.set(3, u[2].adapter.layers.get(1)!); }), 'c3', /layer 3 .*does not train/);
  assertRejects(run((u) => { u[1].adapter.layers.set(1, { ...u[1].adapter.layers.get(1)!, q: u[1].adapter.layers.get(0)!.q }); }), 'c2', /layer 1 q_proj.*does not train/);
  // Plan keeps a layer the global adapter lacks / an invalid plan.
  assertRejects(run((u, g) => { g.layers.delete(2); }), 'c2', /layer 2/);
  assertRejects(run((u) => { u[0].plan = { layers: [full(1), full(0)] }; }), 'c1', /ascending/);
  // Sample counts.
  for (const n of [0, -1, NaN, Infinity]) assertRejects(run((u) => { u[2].numSamples = n; }), 'c3', /sample count/);
  assertRejects(run((u) => { (u[2] as { numSamples: unknown }).numSamples = '2'; }), 'c3', /sample count/);
  // Config mismatches.
  assertRejects(run((u) => { u[1].adapter.config = { ...u[1].adapter.config, rank: 3 }; }), 'c2', /rank 3/);
  assertRejects(run((u) => { u[1].adapter.config = { ...u[1].adapter.config, alpha: 8 }; }), 'c2', /alpha 8/);
  assertRejects(run((u) => { u[1].adapter.config = { ...u[1].adapter.config, targets: ['q', 'k'] }; }), 'c2', /targets/);
});

test('validation: only config targets count; a target the config lacks is refused even in a kept sub-block', () => {
  const cfg: LoraConfig = { rank: 2, alpha: 4, targets: ['q', 'v'] };
  const global = createLoraAdapter(model, cfg, [0], rngFrom(300));
  const adapter = createLoraAdapter(model, cfg, [0], rngFrom(301), 0.1);
  const extra = createLoraAdapter(model, { ...cfg, targets: ['k'] }, [0], rngFrom(302), 0.1);
  adapter.layers.get(0)!.k = extra.layers.get(0)!.k;
  assertRejects(() => aggregateLayerwise(global, [{ clientId: 'kk', numSamples: 1, plan: { layers: [full(0)] }, adapter }], { rule: 'fedavg-factors' }), 'kk', /k_proj.*does not train/);
});

test('validation: unknown rule and a malformed global adapter', () => {
  const { global, updates } = scenario();
  assertRejects(() => aggregateLayerwise(global, updates, { rule: 'median' as LoraAggregationRule }), undefined, /unknown aggregation rule "median"/);
  const g2 = createLoraAdapter(model, lora, [0, 1, 2, 3], rngFrom(1), 0.1);
  g2.layers.get(3)!.q!.B.data[0] = NaN;
  assertRejects(() => aggregateLayerwise(g2, updates, { rule: 'fedavg-factors' }), undefined, /global adapter.*non-finite/);
  const g3 = createLoraAdapter(model, lora, [0, 1, 2, 3], rngFrom(1), 0.1);
  g3.layers.get(3)!.q!.A = tensor([2, 11]);
  assertRejects(() => aggregateLayerwise(g3, updates, { rule: 'fedavg-factors', model }), undefined, /global adapter.*shape \[2, 11\]/);
  const g4 = createLoraAdapter(model, lora, [0, 1, 2, 3, 4], rngFrom(1), 0.1);
  assertRejects(() => aggregateLayerwise(g4, [], { rule: 'fedavg-factors', model }), undefined, /layer 4/);
});

test('plans with both sub-blocks of a layer skipped contribute nothing there', () => {
  const { global, updates } = scenario();
  const plan: SubmodelPlan = { layers: [{ index: 3, attention: false, mlp: false }] };
  const out = aggregateLayerwise(global, [...updates, { clientId: 'idle', numSamples: 100, plan, adapter: { config: lora, layers: new Map() } }], { rule: 'fedavg-factors' });
  const base = aggregateLayerwise(global, updates, { rule: 'fedavg-factors' });
  assert.deepEqual(snapshot(out), snapshot(base));
});
