import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../src/data/seededRandom';
import { symmetricEigen } from '../src/federated/devft/symmetricEigen';
import { seededKMeans } from '../src/federated/devft/kMeans';
import { validateLayerGroups } from '../src/federated/devft/layerGroups';
import { layerParameterVectors, layerSimilarityGraph, spectralLayerGrouping } from '../src/federated/devft/spectralLayerGrouping';
import { initLlamaWeights } from '../src/engine/initWeights';
import { createLoraAdapter, LORA_TARGETS } from '../src/model/lora';
import { mergeLoraIntoWeights } from '../src/model/mergeLora';
import { tinyConfig } from './fixtures/tinyModel';

const randVec = (rng: SeededRandom, n: number) => Float64Array.from({ length: n }, () => rng.normal());
/** base + noise·N(0, 1) per coordinate. */
const near = (rng: SeededRandom, base: Float64Array, noise: number) => base.map((x) => x + noise * rng.normal());

test('symmetricEigen: A·v = λ·v, orthonormal vectors, ascending values', () => {
  const rng = new SeededRandom(1), n = 7;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  const { values, vectors } = symmetricEigen(a, n);
  for (let i = 1; i < n; i++) assert.ok(values[i] >= values[i - 1]);
  vectors.forEach((v, k) => {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += a[i * n + j] * v[j];
      assert.ok(Math.abs(av - values[k] * v[i]) < 1e-10);
    }
    vectors.forEach((u, l) => {
      let d = 0;
      for (let i = 0; i < n; i++) d += u[i] * v[i];
      assert.ok(Math.abs(d - (k === l ? 1 : 0)) < 1e-12);
    });
  });
  assert.throws(() => symmetricEigen([1, 2, 3, 4], 2), /not symmetric/);
});

test('seededKMeans finds well-separated clusters and always fills k clusters', () => {
  const pts = [[0, 0], [0.1, 0], [5, 5], [5.1, 5], [0, 0.1], [5, 5.1]].map((p) => Float64Array.from(p));
  const r = seededKMeans(pts, 2, { seed: 4 });
  assert.equal(r.assignment[0], r.assignment[1]);
  assert.equal(r.assignment[0], r.assignment[4]);
  assert.equal(r.assignment[2], r.assignment[3]);
  assert.notEqual(r.assignment[0], r.assignment[2]);
  // Only two distinct points but k = 4: the empty clusters are repaired by splitting the largest.
  const dup = [0, 0, 0, 1, 1, 1].map((x) => Float64Array.from([x]));
  const d = seededKMeans(dup, 4, { seed: 1 });
  assert.equal(new Set(d.assignment).size, 4);
  assert.equal(d.inertia, 0);
});

test('DGLG separates opposed layers (deconfliction): a family and its negation', () => {
  const rng = new SeededRandom(11);
  const u = randVec(rng, 300);
  const neg = u.map((x) => -x);
  // Layers 0, 2, 4 point along u, layers 1, 3, 5 along −u: interleaved, so no contiguous split works.
  const vecs = [0, 1, 2, 3, 4, 5].map((i) => near(rng, i % 2 ? neg : u, 0.3));
  for (let seed = 0; seed < 5; seed++) assert.deepEqual(spectralLayerGrouping(vecs, 2, { seed }), [[0, 2, 4], [1, 3, 5]]);
  // Every cross-family weight was clipped to zero: opposed layers share no edge.
  const W = layerSimilarityGraph(vecs);
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) if ((i + j) % 2) assert.equal(W[i * 6 + j], 0);
});

test('DGLG recovers three planted families of nearly-parallel layers', () => {
  const rng = new SeededRandom(5);
  const fam = [randVec(rng, 400), randVec(rng, 400), randVec(rng, 400)];
  // A shared component makes every pair positively similar, so the graph is connected and the
  // clustering has to find the weaker cut, not just connected components.
  const common = randVec(rng, 400);
  const owner = [0, 1, 0, 2, 1, 2, 2, 0];
  const vecs = owner.map((f) => near(rng, fam[f].map((x, i) => x + 0.6 * common[i]), 0.4));
  const W = layerSimilarityGraph(vecs);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) if (i !== j) assert.ok(W[i * 8 + j] > 0.1);
  for (let seed = 0; seed < 5; seed++) assert.deepEqual(spectralLayerGrouping(vecs, 3, { seed }), [[0, 2, 7], [1, 4], [3, 5, 6]]);
});

test('DGLG gives exactly k sorted groups that partition the layers, deterministically', () => {
  const rng = new SeededRandom(3);
  const vecs = Array.from({ length: 10 }, () => randVec(rng, 50));
  for (let k = 1; k <= 10; k++) {
    const g = spectralLayerGrouping(vecs, k, { seed: 7 });
    assert.equal(g.length, k);
    validateLayerGroups(g, 10);
    g.forEach((x) => assert.deepEqual(x, [...x].sort((a, b) => a - b)));
    for (let s = 1; s < k; s++) assert.ok(g[s][0] > g[s - 1][0]);
    assert.deepEqual(spectralLayerGrouping(vecs, k, { seed: 7 }), g);
  }
});

test('DGLG edge cases: k = 1, k = n, identical and zero layers, bad k', () => {
  const rng = new SeededRandom(8);
  const vecs = Array.from({ length: 5 }, () => randVec(rng, 20));
  assert.deepEqual(spectralLayerGrouping(vecs, 1), [[0, 1, 2, 3, 4]]);
  assert.deepEqual(spectralLayerGrouping(vecs, 5), [[0], [1], [2], [3], [4]]);
  const same = Array.from({ length: 6 }, () => Float64Array.from(vecs[0]));
  const g = spectralLayerGrouping(same, 3, { seed: 1 });
  assert.equal(g.length, 3);
  validateLayerGroups(g, 6);
  const zeros = Array.from({ length: 4 }, () => new Float64Array(20));
  assert.equal(spectralLayerGrouping(zeros, 2).length, 2);
  assert.throws(() => spectralLayerGrouping(vecs, 0));
  assert.throws(() => spectralLayerGrouping(vecs, 6));
  assert.throws(() => spectralLayerGrouping([], 1));
  assert.throws(() => layerSimilarityGraph([new Float64Array(3), new Float64Array(4)]));
});

test('layerParameterVectors flattens the projections, with the merged LoRA delta when given', () => {
  const cfg = tinyConfig({ numLayers: 3 });
  const w = initLlamaWeights(cfg, new SeededRandom(1), 0.2);
  const v = layerParameterVectors(cfg, w);
  const l0 = w.layers[0]!;
  const n = [l0.qProj, l0.kProj, l0.vProj, l0.oProj, l0.gateProj, l0.upProj, l0.downProj].reduce((s, t) => s + t.data.length, 0);
  assert.equal(v.length, 3);
  assert.equal(v[1].length, n);
  assert.deepEqual(Array.from(v[1].subarray(0, l0.qProj.data.length)), Array.from(w.layers[1]!.qProj.data));
  const fresh = createLoraAdapter(cfg, { rank: 2, alpha: 4, targets: [...LORA_TARGETS] }, [0, 1, 2], new SeededRandom(2));
  assert.deepEqual(layerParameterVectors(cfg, w, fresh), v); // B = 0: no delta
  const trained = createLoraAdapter(cfg, { rank: 2, alpha: 4, targets: ['q', 'down'] }, [2], new SeededRandom(3), 0.3);
  const lv = layerParameterVectors(cfg, w, trained);
  assert.deepEqual(lv.slice(0, 2), v.slice(0, 2));
  assert.deepEqual(lv[2], layerParameterVectors(cfg, mergeLoraIntoWeights(cfg, w, trained))[2]);
  assert.notDeepEqual(lv[2], v[2]);
});
