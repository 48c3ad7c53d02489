/**
 * Seeded k-means (k-means++ initialisation, Lloyd iterations, several restarts, lowest inertia kept)
 * for the spectral step of DevFT's layer grouping. Points are few (one per layer) and low-dimensional
 * (k), so plain float64 loops suffice. Deterministic for a seed: all randomness comes from SeededRandom,
 * and every tie is broken by the lowest index.
 */
import { SeededRandom } from '../../data/seededRandom';

export interface KMeansOptions {
  /** Seed of the k-means++ draws (default 0). */
  seed?: number;
  /** Independent k-means++ starts; the lowest final inertia wins (default 10). */
  restarts?: number;
  /** Lloyd iterations per start (default 100); it usually converges in a handful. */
  maxIterations?: number;
}

export interface KMeansResult {
  /** Cluster (0..k-1) of each point; every cluster is non-empty. */
  assignment: number[];
  /** Sum of squared distances of the points to their cluster's centroid. */
  inertia: number;
}

function dist2(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; s += d * d; }
  return s;
}

function nearest(p: Float64Array, centers: Float64Array[]): number {
  let best = 0, bd = Infinity;
  centers.forEach((c, j) => { const d = dist2(p, c); if (d < bd) { bd = d; best = j; } });
  return best;
}

function centroid(points: readonly Float64Array[], members: number[], dim: number): Float64Array {
  const c = new Float64Array(dim);
  for (const i of members) for (let d = 0; d < dim; d++) c[d] += points[i][d];
  for (let d = 0; d < dim; d++) c[d] /= members.length;
  return c;
}

/** k-means++ seeding: first centre uniform, each next one with probability ∝ squared distance. */
function seedCenters(points: readonly Float64Array[], k: number, rng: SeededRandom): Float64Array[] {
  const n = points.length;
  const chosen = [rng.int(n)];
  const d2 = points.map((p) => dist2(p, points[chosen[0]]));
  while (chosen.length < k) {
    const total = d2.reduce((a, b) => a + b, 0);
    let pick = -1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < n && pick < 0; i++) { r -= d2[i]; if (r < 0) pick = i; }
      // Rounding can leave r >= 0 after the last point: take the last point with positive weight.
      for (let i = n - 1; pick < 0; i--) if (d2[i] > 0) pick = i;
    } else {
      // Fewer distinct points than k: take any unused point; the empty-cluster repair splits later.
      const unused = points.map((_, i) => i).filter((i) => !chosen.includes(i));
      pick = unused[rng.int(unused.length)];
    }
    chosen.push(pick);
    points.forEach((p, i) => { d2[i] = Math.min(d2[i], dist2(p, points[pick])); });
  }
  return chosen.map((i) => Float64Array.from(points[i]));
}

function membersOf(assignment: number[], k: number): number[][] {
  const m: number[][] = Array.from({ length: k }, () => []);
  assignment.forEach((c, i) => m[c].push(i));
  return m;
}

/**
 * Lloyd's algorithm from k-means++ seeds. A cluster left empty keeps its centre during the iterations;
 * if it is still empty at the end, the largest cluster is split: its point farthest from its centroid
 * (ties: the highest index, so a group's anchor stays put) moves to the empty cluster. So the result
 * always has k non-empty clusters, which DevFT needs (the stage must have exactly L_s layers).
 */
function lloyd(points: readonly Float64Array[], k: number, rng: SeededRandom, maxIterations: number): KMeansResult {
  const dim = points[0].length;
  const centers = seedCenters(points, k, rng);
  let assignment = points.map((p) => nearest(p, centers));
  for (let it = 0; it < maxIterations; it++) {
    membersOf(assignment, k).forEach((m, j) => { if (m.length) centers[j] = centroid(points, m, dim); });
    const next = points.map((p) => nearest(p, centers));
    const changed = next.some((c, i) => c !== assignment[i]);
    assignment = next;
    if (!changed) break;
  }
  let members = membersOf(assignment, k);
  for (let empty = members.findIndex((m) => m.length === 0); empty >= 0; empty = members.findIndex((m) => m.length === 0)) {
    let big = 0;
    members.forEach((m, j) => { if (m.length > members[big].length) big = j; });
    const c = centroid(points, members[big], dim);
    let far = members[big][0], fd = -1;
    for (const i of members[big]) { const d = dist2(points[i], c); if (d >= fd) { fd = d; far = i; } }
    assignment[far] = empty;
    members = membersOf(assignment, k);
  }
  let inertia = 0;
  members.forEach((m) => { const c = centroid(points, m, dim); for (const i of m) inertia += dist2(points[i], c); });
  return { assignment, inertia };
}

/** Best of several seeded k-means++/Lloyd runs. Needs 1 <= k <= points.length. */
export function seededKMeans(points: readonly Float64Array[], k: number, opts: KMeansOptions = {}): KMeansResult {
  const n = points.length;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`seededKMeans: k must be an integer in 1..${n}, got ${k}`);
  const restarts = opts.restarts ?? 10, maxIterations = opts.maxIterations ?? 100;
  if (!Number.isInteger(restarts) || restarts < 1) throw new Error(`seededKMeans: restarts must be a positive integer, got ${restarts}`);
  const rng = new SeededRandom(opts.seed ?? 0);
  let best: KMeansResult | undefined;
  for (let r = 0; r < restarts; r++) {
    const res = lloyd(points, k, rng, maxIterations);
    if (!best || res.inertia < best.inertia) best = res;
  }
  return best!;
}
