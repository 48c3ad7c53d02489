/** Per-strategy figures of a study, from the raw simulation results (what the report tabulates). */
import { parsePlanDescription, type ModelConfig } from '@fedllm/core';
import type { SimulationJobResult } from './simulationJob';

/**
 * Bytes of the model parts a tab downloads (float32 safetensors payloads, as ModelParts cuts them:
 * one shared part, one per attention and per MLP sub-block). FedSODA tabs download the float32
 * quantize-dequantize image too and pack it themselves.
 */
export function modelPartBytes(c: ModelConfig): { shared: number; attention: number; mlp: number } {
  const H = c.hiddenSize, F = c.intermediateSize, qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim, V = c.vocabSize;
  const attention = H + qd * H + 2 * kvd * H + H * qd + (c.attentionBias ? qd + 2 * kvd : 0) + (c.oProjBias ? H : 0);
  const mlp = H + 3 * F * H + (c.mlpBias ? 2 * F + H : 0);
  return { shared: 4 * (V * H * (c.tieWordEmbeddings ? 1 : 2) + H), attention: 4 * attention, mlp: 4 * mlp };
}

/**
 * Base-weight bytes each round's tabs download: the parts of their plan they do not hold yet. A
 * part is held per served model (a DevFT stage or a FedSODA alignment epoch is a new model, with new
 * content-addressed URLs), and kept by the tab across rounds (the volunteer client caches parts).
 */
export function weightDownloadsByRound(r: SimulationJobResult, model: ModelConfig): number[] {
  const p = modelPartBytes(model);
  const held = new Map<string, Set<string>>();
  return r.rounds.map((round) => {
    let bytes = 0;
    for (const t of round.tasks) {
      if (t.excluded || t.plan === undefined) continue;
      const mine = held.get(t.clientId) ?? held.set(t.clientId, new Set()).get(t.clientId)!;
      const need: [string, number][] = [[`${t.modelKey}|shared`, p.shared]];
      for (const l of parsePlanDescription(t.plan).layers) {
        if (l.attention) need.push([`${t.modelKey}|${l.index}a`, p.attention]);
        if (l.mlp) need.push([`${t.modelKey}|${l.index}m`, p.mlp]);
      }
      for (const [k, b] of need) {
        if (mine.has(k)) continue;
        mine.add(k);
        bytes += b;
      }
    }
    return bytes;
  });
}

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
  /** The same per seed (seeds that reached the target), for paired comparisons. */
  bytesToTargetBySeed: Record<number, number>;
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

export function strategyFigures(results: readonly SimulationJobResult[], target: number, model: ModelConfig): StrategyFigures {
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
    bytesToTargetBySeed: Object.fromEntries(results.flatMap((r, i) => (reached[i] === undefined ? [] : [[r.seed, cum(r)[reached[i]! - 1]]]))),
    bytesUp: spread(results.map((r) => r.rounds.reduce((a, x) => a + x.bytesUp, 0))),
    bytesDown: spread(results.map((r) => r.rounds.reduce((a, x) => a + x.bytesDown, 0))),
    weightBytesDown: spread(results.map((r) => weightDownloadsByRound(r, model).reduce((a, b) => a + b, 0))),
    trainSeconds: spread(results.map((r) => r.rounds.reduce((a, x) => a + x.trainSeconds, 0))),
    tiers,
    accuracyByRound: meanBy((r, i) => r.rounds[i].accuracy),
    evalLossByRound: meanBy((r, i) => r.rounds[i].evalLoss),
    cumulativeBytesByRound: meanBy((r, i) => cum(r)[i]),
  };
}
