/**
 * One attempt at one federated round, as the coordinator and the experiment simulator both run
 * it: sample up to `clientsPerRound` of the available tabs with the attempt's seeded generator,
 * let the strategy configure their tasks from the global adapter, have the tasks trained, and,
 * given enough updates, aggregate them into the next global adapter, evaluate it and take the
 * strategy's state to persist with it. The two callers differ only in how a task is trained: over
 * a socket with a deadline (coordinator/federatedRun.ts) or in process (experiment/federatedSimulator.ts).
 */
import {
  isExcluded, SeededRandom, stableHash32, type ClientOffer, type LoraAdapter, type StrategyAssignment, type StrategyState,
  type StrategyUpdate,
} from '@fedllm/core';

/**
 * The strategy as the round routine drives it: a FederatedStrategy in this thread (the simulator),
 * or one hosted in a worker thread (the coordinator's WorkerStrategy), whose answers are promises.
 */
export interface RoundStrategy {
  readonly name: string;
  configureRound(round: number, global: LoraAdapter, clients: readonly ClientOffer[], rng: SeededRandom): StrategyAssignment[] | Promise<StrategyAssignment[]>;
  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter | Promise<LoraAdapter>;
  snapshot(): StrategyState | Promise<StrategyState>;
}

/** A round's held-out evaluation of the next global adapter. */
export interface RoundEvaluation {
  accuracy: number;
  evalLoss: number;
}

export interface FederatedRoundInput<C extends ClientOffer, E extends RoundEvaluation> {
  strategy: RoundStrategy;
  /** The committed global adapter the round starts from (not mutated). */
  global: LoraAdapter;
  round: number;
  attempt: number;
  /** The run's seed: the same seed, round and attempt sample the same tabs and plans. */
  seed: number;
  /** Tabs available for this attempt. */
  clients: readonly C[];
  clientsPerRound: number;
  /**
   * Trains the tasks (one per sampled tab, in sampling order, excluded tabs included): resolves
   * with the updates that came back, or undefined when the attempt was abandoned.
   */
  train(tasks: readonly { client: C; assignment: StrategyAssignment }[]): Promise<StrategyUpdate[] | undefined>;
  /** Whether `received` updates of `assigned` tasks are enough to aggregate (default: at least one). */
  enough?(received: number, assigned: number): boolean;
  evaluate(next: LoraAdapter): Promise<E>;
}

export type FederatedRoundResult<E extends RoundEvaluation> =
  | { kind: 'aggregated'; next: LoraAdapter; updates: StrategyUpdate[]; evaluation: E; strategyState: StrategyState }
  | { kind: 'abandoned' }
  | { kind: 'short'; received: number; assigned: number };

/** The generator of one round attempt: seeded by the run's settings, not its id. */
export function roundRandom(seed: number, round: number, attempt: number): SeededRandom {
  return new SeededRandom(stableHash32(`${seed}:${round}:${attempt}`));
}

export async function runFederatedRound<C extends ClientOffer, E extends RoundEvaluation>(i: FederatedRoundInput<C, E>): Promise<FederatedRoundResult<E>> {
  const rng = roundRandom(i.seed, i.round, i.attempt);
  const chosen = rng.shuffle([...i.clients]).slice(0, i.clientsPerRound);
  const assignments = await i.strategy.configureRound(i.round, i.global, chosen.map((c) => ({ clientId: c.clientId, budgetBytes: c.budgetBytes })), rng);
  if (assignments.length !== chosen.length || assignments.some((a, k) => a.clientId !== chosen[k].clientId)) {
    throw new Error(`strategy ${i.strategy.name} did not answer each offered tab in order`);
  }
  const updates = await i.train(chosen.map((client, k) => ({ client, assignment: assignments[k] })));
  if (!updates) return { kind: 'abandoned' };
  const assigned = assignments.filter((a) => !isExcluded(a)).length;
  const enough = i.enough ?? ((received: number) => received > 0);
  if (assigned === 0 || !enough(updates.length, assigned)) return { kind: 'short', received: updates.length, assigned };
  const next = await i.strategy.aggregate(i.global, updates);
  const evaluation = await i.evaluate(next);
  return { kind: 'aggregated', next, updates, evaluation, strategyState: await i.strategy.snapshot() };
}
