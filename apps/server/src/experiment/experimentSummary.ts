/** Per-strategy figures of a study, from the raw simulation results (what the report tabulates). */
import type { SimulationJobResult } from './simulationJob';

export interface Spread {
  mean: number;
  std: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: readonly number[]): Spread {
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, min: Math.min(...xs), max: Math.max(...xs), n };
}

export interface TierFigures {
  tier: string;
  budgetBytes: number;
  /** Fraction of (round, tab) slots of this tier that trained. */
  participation: number;
  /** Largest predicted peak of the tier's tasks (bytes), undefined if it never trained. */
  maxEstimateBytes?: number;
  meanLayersKept?: number;
  weightFormat?: string;
  excludedReason?: string;
}

export interface StrategyFigures {
  strategy: string;
  seeds: number[];
  finalAccuracy: Spread;
  finalEvalLoss: Spread;
  bestAccuracy: Spread;
  /** Rounds (1-based count) until accuracy ≥ target, for the seeds that got there. */
  roundsToTarget: Spread;
  reachedTarget: number;
  /** Adapter bytes up + down until the target was reached (seeds that reached it). */
  bytesToTarget: Spread;
  bytesUp: Spread;
  bytesDown: Spread;
  weightBytesDown: Spread;
  trainSeconds: Spread;
  tiers: TierFigures[];
  /** Mean accuracy / eval loss per round over the seeds. */
  accuracyByRound: number[];
  evalLossByRound: number[];
  /** Mean cumulative adapter bytes (up + down) after each round. */
  cumulativeBytesByRound: number[];
}

export function roundsToReach(accuracies: readonly number[], target: number): number | undefined {
  const i = accuracies.findIndex((a) => a >= target);
  return i < 0 ? undefined : i + 1;
}

export function strategyFigures(results: readonly SimulationJobResult[], target: number): StrategyFigures {
  if (results.length === 0) throw new Error('strategyFigures: no results');
  const R = Math.min(...results.map((r) => r.rounds.length));
  const cum = (r: SimulationJobResult) => {
    let s = 0;
    return r.rounds.map((x) => (s += x.bytesUp + x.bytesDown));
  };
  const reached = results.map((r) => roundsToReach(r.rounds.map((x) => x.accuracy), target));
  const tiers = [...new Set(results[0].clients.map((c) => c.tier))].map((tier): TierFigures => {
    const tasks = results.flatMap((r) => r.rounds.flatMap((x) => x.tasks.filter((t) => t.tier === tier)));
    const trained = tasks.filter((t) => !t.excluded);
    return {
      tier, budgetBytes: tasks[0]?.budgetBytes ?? NaN, participation: tasks.length ? trained.length / tasks.length : 0,
      maxEstimateBytes: trained.length ? Math.max(...trained.map((t) => t.estimateBytes!)) : undefined,
      meanLayersKept: trained.length ? trained.reduce((a, t) => a + t.layersKept!, 0) / trained.length : undefined,
      weightFormat: trained[0]?.weightFormat, excludedReason: tasks.find((t) => t.excluded)?.excluded,
    };
  });
  const meanBy = (f: (r: SimulationJobResult, i: number) => number) => Array.from({ length: R }, (_, i) => results.reduce((a, r) => a + f(r, i), 0) / results.length);
  return {
    strategy: results[0].strategy, seeds: results.map((r) => r.seed),
    finalAccuracy: spread(results.map((r) => r.rounds[r.rounds.length - 1].accuracy)),
    finalEvalLoss: spread(results.map((r) => r.rounds[r.rounds.length - 1].evalLoss)),
    bestAccuracy: spread(results.map((r) => Math.max(...r.rounds.map((x) => x.accuracy)))),
    roundsToTarget: spread(reached.filter((x): x is number => x !== undefined)),
    reachedTarget: reached.filter((x) => x !== undefined).length,
    bytesToTarget: spread(results.flatMap((r, i) => (reached[i] === undefined ? [] : [cum(r)[reached[i]! - 1]]))),
    bytesUp: spread(results.map((r) => r.rounds.reduce((a, x) => a + x.bytesUp, 0))),
    bytesDown: spread(results.map((r) => r.rounds.reduce((a, x) => a + x.bytesDown, 0))),
    weightBytesDown: spread(results.map((r) => r.rounds.reduce((a, x) => a + x.weightBytesDown, 0))),
    trainSeconds: spread(results.map((r) => r.rounds.reduce((a, x) => a + x.trainSeconds, 0))),
    tiers,
    accuracyByRound: meanBy((r, i) => r.rounds[i].accuracy),
    evalLossByRound: meanBy((r, i) => r.rounds[i].evalLoss),
    cumulativeBytesByRound: meanBy((r, i) => cum(r)[i]),
  };
}
