import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partitionDirichlet, partitionIid, partitionNatural } from '../src/data/partition';
import { SeededRandom, stableHash32, stableHashUnit } from '../src/data/seededRandom';

/** Asserts the partition is disjoint, covers 0..n-1 exactly once, and each client is sorted. */
function assertPartition(parts: number[][], n: number): void {
  const seen = new Uint8Array(n);
  for (const client of parts) {
    for (let i = 0; i < client.length; i++) {
      const idx = client[i];
      assert.ok(Number.isInteger(idx) && idx >= 0 && idx < n, `index ${idx} out of range`);
      assert.equal(seen[idx], 0, `index ${idx} assigned twice`);
      seen[idx] = 1;
      if (i > 0) assert.ok(client[i - 1] < idx, 'client indices must be sorted ascending');
    }
  }
  assert.equal(seen.reduce((a, b) => a + b, 0), n, 'every index must be assigned');
}

/** Mean over clients of the total-variation distance between client and global label distributions. */
function labelSkew(parts: number[][], labels: number[], numClasses: number): number {
  const global = new Array(numClasses).fill(0);
  for (const l of labels) global[l] += 1 / labels.length;
  let total = 0;
  for (const client of parts) {
    const dist = new Array(numClasses).fill(0);
    for (const i of client) dist[labels[i]] += 1 / client.length;
    total += dist.reduce((acc, p, c) => acc + Math.abs(p - global[c]), 0) / 2;
  }
  return total / parts.length;
}

// 10 classes x 200 examples, interleaved.
const LABELS = Array.from({ length: 2000 }, (_, i) => i % 10);

test('SeededRandom is deterministic per seed and differs across seeds', () => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  const c = new SeededRandom(43);
  const sa = Array.from({ length: 5 }, () => a.nextUint32());
  assert.deepEqual(sa, Array.from({ length: 5 }, () => b.nextUint32()));
  assert.notDeepEqual(sa, Array.from({ length: 5 }, () => c.nextUint32()));
  // Golden values: the generator must never change, or every derived split/partition would.
  assert.deepEqual(sa.slice(0, 2), [2837322924, 544945897]);
  assert.throws(() => new SeededRandom(Number.NaN), /finite/);
});

test('SeededRandom samplers: ranges, moments, Dirichlet on the simplex', () => {
  const rng = new SeededRandom(7);
  let mean = 0;
  for (let i = 0; i < 20000; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    mean += u / 20000;
  }
  assert.ok(Math.abs(mean - 0.5) < 0.01, `uniform mean ${mean}`);
  for (let i = 0; i < 1000; i++) {
    const k = rng.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
  }
  assert.throws(() => rng.int(0), /positive integer/);
  let nMean = 0;
  let nVar = 0;
  for (let i = 0; i < 20000; i++) {
    const x = rng.normal();
    nMean += x / 20000;
    nVar += (x * x) / 20000;
  }
  assert.ok(Math.abs(nMean) < 0.03 && Math.abs(nVar - 1) < 0.05, `normal mean ${nMean} var ${nVar}`);
  for (const alpha of [0.3, 1, 4.5]) {
    let g = 0;
    for (let i = 0; i < 20000; i++) g += rng.gamma(alpha) / 20000;
    assert.ok(Math.abs(g - alpha) < 0.05 * Math.max(1, alpha), `gamma(${alpha}) mean ${g}`);
  }
  assert.throws(() => rng.gamma(0), /alpha/);
  for (const alpha of [0.001, 0.1, 10]) {
    const p = rng.dirichlet(alpha, 8);
    assert.equal(p.length, 8);
    assert.ok(p.every((x) => x >= 0 && Number.isFinite(x)));
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  }
  const arr = Array.from({ length: 50 }, (_, i) => i);
  const shuffled = rng.shuffle(arr.slice());
  assert.deepEqual(shuffled.slice().sort((a, b) => a - b), arr);
  assert.notDeepEqual(shuffled, arr);
});

test('stableHash32 is FNV-1a over UTF-8 + fmix32, with pinned values', () => {
  assert.equal(stableHash32(''), 2872998923);
  assert.equal(stableHash32('ca01'), 2896917033);
  assert.equal(stableHash32('héllo✓😀'), 1655057919);
  const u = stableHashUnit('anything');
  assert.ok(u >= 0 && u < 1);
});

test('partitionIid: deterministic, balanced, disjoint and complete', () => {
  const a = partitionIid(1003, 10, 1);
  assertPartition(a, 1003);
  assert.deepEqual(a, partitionIid(1003, 10, 1));
  assert.notDeepEqual(a, partitionIid(1003, 10, 2));
  const sizes = a.map((c) => c.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
  assert.throws(() => partitionIid(5, 10, 1), /at least one/);
  assert.throws(() => partitionIid(5, 0, 1), /numClients/);
});

test('partitionDirichlet: deterministic, disjoint and complete', () => {
  const a = partitionDirichlet(LABELS, 8, 0.5, 3);
  assertPartition(a, LABELS.length);
  assert.deepEqual(a, partitionDirichlet(LABELS, 8, 0.5, 3));
  assert.notDeepEqual(a, partitionDirichlet(LABELS, 8, 0.5, 4));
  assert.ok(a.every((c) => c.length >= 1));
});

test('partitionDirichlet: small alpha skews labels, large alpha is near-uniform', () => {
  const skewSmall = labelSkew(partitionDirichlet(LABELS, 10, 0.1, 11), LABELS, 10);
  const skewLarge = labelSkew(partitionDirichlet(LABELS, 10, 100, 11), LABELS, 10);
  const skewIid = labelSkew(partitionIid(LABELS.length, 10, 11), LABELS, 10);
  // alpha=0.1: clients hold a few classes, so their label distribution is far from the global one.
  assert.ok(skewSmall > 0.5, `alpha=0.1 skew ${skewSmall}`);
  assert.ok(skewLarge < 0.1, `alpha=100 skew ${skewLarge}`);
  assert.ok(skewIid < 0.1, `iid skew ${skewIid}`);
});

test('partitionDirichlet: honours minPerClient and fails clearly when impossible', () => {
  const parts = partitionDirichlet(LABELS, 10, 0.3, 5, { minPerClient: 50 });
  assertPartition(parts, LABELS.length);
  assert.ok(parts.every((c) => c.length >= 50));
  assert.throws(() => partitionDirichlet(LABELS.slice(0, 40), 40, 0.01, 1, { maxTries: 20 }), /no draw in 20 tries/);
  assert.throws(() => partitionDirichlet(LABELS.slice(0, 5), 10, 1, 1), /cannot give/);
  assert.throws(() => partitionDirichlet([0, 1, -1], 1, 1, 1), /labels\[2\]/);
  assert.throws(() => partitionDirichlet(LABELS, 2, 0, 1), /alpha/);
});

test('partitionNatural: each group goes wholly to one client; deterministic; validates client count', () => {
  const groups = Array.from({ length: 300 }, (_, i) => ['news', 'fiction', 'lore', 'humor', 'romance', 'religion', 'hobbies'][i % 7]);
  const a = partitionNatural(groups, 3, 9);
  assertPartition(a, groups.length);
  assert.deepEqual(a, partitionNatural(groups, 3, 9));
  const owners = new Map<string, number>();
  a.forEach((client, c) => {
    for (const i of client) {
      const owner = owners.get(groups[i]);
      assert.ok(owner === undefined || owner === c, `group ${groups[i]} split across clients`);
      owners.set(groups[i], c);
    }
  });
  // 7 groups over 3 clients round-robin: 3/2/2 groups.
  const groupsPerClient = a.map((client) => new Set(client.map((i) => groups[i])).size).sort();
  assert.deepEqual(groupsPerClient, [2, 2, 3]);
  // Different seeds eventually give a different assignment.
  assert.ok([10, 11, 12, 13, 14].some((s) => JSON.stringify(partitionNatural(groups, 3, s)) !== JSON.stringify(a)));
  assert.throws(() => partitionNatural(groups, 8, 1), /only 7 groups/);
  // Numbers and strings are distinct group keys.
  assert.equal(partitionNatural([1, '1', 1], 2, 0).filter((c) => c.length > 0).length, 2);
});
