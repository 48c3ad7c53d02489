import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contiguousLayerGroups, LayerGroupingError } from '../src/federated/strategies/contiguousLayerGroups';
import { rngFrom } from './fixtures/tinyModel';

/** Every way to cut 0..L-1 into k contiguous segments (the oracle the DP is checked against). */
function* cuts(L: number, k: number, start = 0): Generator<number[][]> {
  if (k === 1) {
    yield [Array.from({ length: L - start }, (_, i) => start + i)];
    return;
  }
  for (let end = start + 1; end <= L - (k - 1); end++) {
    for (const rest of cuts(L, k - 1, end)) yield [Array.from({ length: end - start }, (_, i) => start + i), ...rest];
  }
}

const spreadOf = (sim: number[][], groups: number[][]) =>
  groups.reduce((a, g) => {
    let s = 0;
    for (let i = 0; i < g.length; i++) for (let j = i + 1; j < g.length; j++) s += 1 - sim[g[i]][g[j]];
    return a + s / g.length;
  }, 0);

function randomSimilarity(L: number, seed: number): number[][] {
  const r = rngFrom(seed);
  const m = Array.from({ length: L }, () => new Array<number>(L).fill(1));
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i][j] = m[j][i] = r.next();
  return m;
}

test('layer groups: the DP finds the optimal contiguous cut (checked against every cut)', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const L = 3 + (seed % 6);
    const sim = randomSimilarity(L, seed);
    for (let k = 1; k <= L; k++) {
      const got = contiguousLayerGroups(sim, k);
      assert.equal(got.length, k);
      assert.deepEqual(got.flat(), [...Array(L).keys()], 'a contiguous partition of all layers');
      let best = Infinity;
      for (const c of cuts(L, k)) best = Math.min(best, spreadOf(sim, c));
      assert.ok(Math.abs(spreadOf(sim, got) - best) < 1e-12, `L=${L} k=${k}: ${spreadOf(sim, got)} vs optimum ${best}`);
    }
  }
});

test('layer groups: planted blocks of similar layers are recovered', () => {
  // Layers 0-1, 2-4 and 5-7 are functionally alike (CKA 0.95 inside, 0.3 across).
  const block = [0, 0, 1, 1, 1, 2, 2, 2];
  const sim = block.map((a) => block.map((b) => (a === b ? 0.95 : 0.3)));
  assert.deepEqual(contiguousLayerGroups(sim, 3), [[0, 1], [2, 3, 4], [5, 6, 7]]);
  assert.deepEqual(contiguousLayerGroups(sim, 1), [[0, 1, 2, 3, 4, 5, 6, 7]]);
  assert.deepEqual(contiguousLayerGroups(sim, 8), block.map((_, i) => [i]));
});

test('layer groups: NaN similarity counts as dissimilar; bad K and shapes are refused', () => {
  const sim = [[1, NaN, 0.9], [NaN, 1, 0.1], [0.9, 0.1, 1]];
  // [[0],[1,2]] spreads (1 - 0.1)/2 = 0.45; [[0,1],[2]] would spread (1 - 0)/2 = 0.5 with NaN as 0.
  assert.deepEqual(contiguousLayerGroups(sim, 2), [[0], [1, 2]]);
  assert.throws(() => contiguousLayerGroups(sim, 0), LayerGroupingError);
  assert.throws(() => contiguousLayerGroups(sim, 4), LayerGroupingError);
  assert.throws(() => contiguousLayerGroups([[1, 2]], 1), /1×1/);
});
