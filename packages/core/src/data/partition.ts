/**
 * Splitting a dataset's examples over federated clients. Every partitioner is seeded and
 * reproducible, and returns `number[][]`: one list of example indices per client, each sorted
 * ascending, disjoint, together covering every index exactly once.
 */

import { SeededRandom } from './seededRandom';

function checkClientCount(fn: string, numClients: number): void {
  if (!Number.isSafeInteger(numClients) || numClients < 1) {
    throw new Error(`${fn}: numClients must be a positive integer, got ${numClients}`);
  }
}

function sortedAscending(clients: number[][]): number[][] {
  for (const c of clients) c.sort((a, b) => a - b);
  return clients;
}

/**
 * IID partition: indices 0..n-1 shuffled and dealt into `numClients` near-equal shares (sizes
 * differ by at most 1). Throws if there are fewer examples than clients.
 */
export function partitionIid(n: number, numClients: number, seed: number): number[][] {
  checkClientCount('partitionIid', numClients);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`partitionIid: n must be a non-negative integer, got ${n}`);
  if (n < numClients) throw new Error(`partitionIid: ${n} examples cannot give each of ${numClients} clients at least one`);
  const order = new SeededRandom(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const clients: number[][] = [];
  for (let c = 0; c < numClients; c++) {
    // Contiguous slices of the shuffled order with boundaries floor(c * n / numClients).
    clients.push(order.slice(Math.floor((c * n) / numClients), Math.floor(((c + 1) * n) / numClients)));
  }
  return sortedAscending(clients);
}

/** Options of {@link partitionDirichlet}. */
export interface DirichletPartitionOptions {
  /** Every client must end up with at least this many examples (default 1). */
  minPerClient?: number;
  /** How many Dirichlet draws to try before giving up (default 1000). */
  maxTries?: number;
}

/**
 * Label-skewed partition (Hsu et al. 2019): for each class, draw client proportions from a
 * symmetric Dirichlet(alpha) and split that class's (shuffled) indices accordingly. Small alpha
 * (e.g. 0.1) gives each client few classes; large alpha (e.g. 100) approaches IID.
 * Redraws everything until every client holds at least `minPerClient` examples; after `maxTries`
 * failed draws it throws (raise alpha, lower minPerClient or use fewer clients).
 * @param labels class id (non-negative integer) of each example.
 */
export function partitionDirichlet(
  labels: number[],
  numClients: number,
  alpha: number,
  seed: number,
  opts: DirichletPartitionOptions = {},
): number[][] {
  checkClientCount('partitionDirichlet', numClients);
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new Error(`partitionDirichlet: alpha must be a positive finite number, got ${alpha}`);
  const minPerClient = opts.minPerClient ?? 1;
  const maxTries = opts.maxTries ?? 1000;
  if (!Number.isSafeInteger(minPerClient) || minPerClient < 0) {
    throw new Error(`partitionDirichlet: minPerClient must be a non-negative integer, got ${minPerClient}`);
  }
  if (minPerClient * numClients > labels.length) {
    throw new Error(
      `partitionDirichlet: ${labels.length} examples cannot give each of ${numClients} clients at least ${minPerClient}`,
    );
  }
  const byClass = new Map<number, number[]>();
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0) throw new Error(`partitionDirichlet: labels[${i}] = ${label} is not a non-negative integer`);
    let list = byClass.get(label);
    if (!list) byClass.set(label, (list = []));
    list.push(i);
  });
  // Visit classes in label order so the result does not depend on which label appears first.
  const classes = [...byClass.keys()].sort((a, b) => a - b).map((k) => byClass.get(k)!);

  const rng = new SeededRandom(seed);
  for (let attempt = 0; attempt < maxTries; attempt++) {
    const clients: number[][] = Array.from({ length: numClients }, () => []);
    for (const members of classes) {
      const indices = rng.shuffle(members.slice());
      const proportions = rng.dirichlet(alpha, numClients);
      // Cut points at rounded cumulative proportions; the last client takes the remainder exactly.
      let start = 0;
      let cumulative = 0;
      for (let c = 0; c < numClients; c++) {
        cumulative += proportions[c];
        const end = c === numClients - 1 ? indices.length : Math.min(indices.length, Math.round(cumulative * indices.length));
        for (let i = start; i < end; i++) clients[c].push(indices[i]);
        start = Math.max(start, end);
      }
    }
    if (clients.every((c) => c.length >= minPerClient)) return sortedAscending(clients);
  }
  throw new Error(
    `partitionDirichlet: no draw in ${maxTries} tries gave all ${numClients} clients >= ${minPerClient} examples ` +
      `(alpha=${alpha}, ${labels.length} examples, ${classes.length} classes); raise alpha, lower minPerClient or use fewer clients`,
  );
}

/**
 * Natural partition: each group (e.g. a genre or an author) goes wholly to one client. Groups are
 * shuffled with the seed and dealt round-robin, so clients get near-equal numbers of groups (not
 * of examples). Throws if there are more clients than groups (some client would get nothing).
 * @param groups the group key of each example.
 */
export function partitionNatural(groups: (string | number)[], numClients: number, seed: number): number[][] {
  checkClientCount('partitionNatural', numClients);
  const byGroup = new Map<string, number[]>();
  groups.forEach((g, i) => {
    // Key by type and value, so the number 1 and the string "1" stay distinct groups.
    const key = `${typeof g}:${g}`;
    let list = byGroup.get(key);
    if (!list) byGroup.set(key, (list = []));
    list.push(i);
  });
  if (numClients > byGroup.size) {
    throw new Error(`partitionNatural: ${numClients} clients but only ${byGroup.size} groups; every client needs a whole group`);
  }
  // Sort keys first so the result depends only on the grouping and the seed, not on example order.
  const keys = [...byGroup.keys()].sort();
  new SeededRandom(seed).shuffle(keys);
  const clients: number[][] = Array.from({ length: numClients }, () => []);
  keys.forEach((key, i) => {
    for (const index of byGroup.get(key)!) clients[i % numClients].push(index);
  });
  return sortedAscending(clients);
}
