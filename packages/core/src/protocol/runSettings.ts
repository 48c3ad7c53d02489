/**
 * The settings of a federated run, as an operator sets them (admin socket, swarm CLI, dashboard).
 * One schema validates them everywhere; a refused setting names its field.
 */
import { z } from 'zod';
import { LORA_TARGETS } from '../model/lora';
import { STRATEGY_NAMES } from '../federated/strategies/federatedStrategy';
import { IMPORTANCE_MEASURES } from '../federated/layerImportance';
import { WEIGHT_FORMATS } from '../model/weightQuantization';
import { ProtocolError } from './federatedProtocol';

export const RUN_TASKS = ['spam', 'brown-genre', 'sst2', 'agnews'] as const;
export type RunTask = (typeof RUN_TASKS)[number];
export function isRunTask(name: string): name is RunTask {
  return (RUN_TASKS as readonly string[]).includes(name);
}
export const AGGREGATION_RULES = ['fedavg-factors', 'svd-product'] as const;
export const PLAN_GRANULARITIES = ['layers', 'subblocks'] as const;
export const LAYER_PICKS = ['top', 'sample'] as const;

export const runSettingsSchema = z.object({
  name: z.string().min(1).max(100).default('run'),
  task: z.enum(RUN_TASKS).default('spam'),
  rounds: z.number().int().min(1).max(10_000).default(5),
  /** Tabs sampled per round (all available when fewer are connected). */
  clientsPerRound: z.number().int().min(1).max(10_000).default(4),
  /** A round starts once this many tabs are available. */
  minClients: z.number().int().min(1).max(10_000).default(1),
  /** Fraction of a round's assignments that must return before its deadline, else it is re-sampled. */
  minCompletion: z.number().gt(0).max(1).default(0.5),
  deadlineMs: z.number().int().min(1_000).max(86_400_000).default(600_000),
  lora: z.object({
    rank: z.number().int().min(1).max(256).default(8),
    alpha: z.number().positive().max(10_000).default(16),
    targets: z.array(z.enum(LORA_TARGETS)).min(1).default([...LORA_TARGETS]),
  }).prefault({}),
  // Defaults: what the swarm measured to beat the base model on spam in 3 rounds (README, Swarm).
  lr: z.number().positive().max(1).default(5e-3),
  clipNorm: z.number().positive().max(1e6).default(1),
  localSteps: z.number().int().min(1).max(10_000).default(20),
  batch: z.number().int().min(1).max(256).default(8),
  seqLen: z.number().int().min(8).max(4096).default(64),
  /**
   * Tabs run the LM head and loss over this many token rows at a time (a multiple of 64, the usual
   * storage-offset alignment / 4): less memory for the logits, so small budgets hold more layers.
   * Plans are sized with it. Default: all batch × seqLen rows at once.
   */
  logitsChunkRows: z.number().int().min(64).max(1 << 20).multipleOf(64).optional(),
  partition: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('iid') }),
    z.object({ kind: z.literal('dirichlet'), alpha: z.number().positive().max(1000) }),
    // Whole classes (for brown-genre: genres) dealt to shards: the natural non-IID split.
    z.object({ kind: z.literal('natural') }),
  ]).default({ kind: 'iid' }),
  /** Data shards the training split is cut into; a tab trains on one shard per round. */
  shards: z.number().int().min(1).max(100_000).default(8),
  /**
   * The run's method (federated/strategies/): 'budget-planner' (granularity and layerPick below) or
   * one of the seed methods and baselines.
   */
  strategy: z.enum(STRATEGY_NAMES).default('budget-planner'),
  /**
   * How the coordinator scores layers before round 0 (layerImportance.ts): 'loss-on-skip' (the
   * loss a pruned model pays; about 1.5·L² layer passes on the CPU engine, an hour for SmolLM2-135M
   * here) or 'block-influence' (ShortGPT's 1 − cos between a block's input and output stream, per
   * layer and sub-block: one forward pass).
   */
  importance: z.enum(IMPORTANCE_MEASURES).default('loss-on-skip'),
  strategyOptions: z.object({
    devftStages: z.number().int().min(1).max(16).optional(),
    devftBeta: z.number().min(0).max(1).optional(),
    fedsodaFormat: z.enum(WEIGHT_FORMATS).optional(),
    fedsodaAlignSteps: z.number().int().min(0).max(10_000).optional(),
    fedsodaAlignLr: z.number().positive().max(1).optional(),
    fedsodaRealignEvery: z.number().int().min(0).max(10_000).optional(),
  }).prefault({}),
  /** How tabs' LoRA pairs are combined, for any method; absent: the method's own ('fedavg-factors'; FlexLoRA's 'svd-product'). */
  aggregation: z.enum(AGGREGATION_RULES).optional(),
  granularity: z.enum(PLAN_GRANULARITIES).default('layers'),
  layerPick: z.enum(LAYER_PICKS).default('sample'),
  /** Held-out examples the global adapter is scored on after each round. */
  evalExamples: z.number().int().min(1).max(100_000).default(200),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
});
export type RunSettings = z.infer<typeof runSettingsSchema>;
export type RunSettingsInput = z.input<typeof runSettingsSchema>;

/** Validates settings, refusing with the first field at fault (e.g. field "lora.rank"). */
export function parseRunSettings(value: unknown): RunSettings {
  const r = runSettingsSchema.safeParse(value ?? {});
  if (r.success) {
    const s = r.data;
    // The upper bound assigns the full model whatever a tab's budget: tabs below it would fail.
    if (s.strategy === 'unlimited') throw new ProtocolError('bad-settings', 'strategy "unlimited" is the experiment simulator\'s upper bound (the full model whatever the budget); a coordinator run cannot use it', 'strategy');
    if (s.minClients > s.clientsPerRound) throw new ProtocolError('bad-settings', `minClients (${s.minClients}) exceeds clientsPerRound (${s.clientsPerRound})`, 'minClients');
    return s;
  }
  const issue = r.error.issues[0];
  const field = issue.path.join('.');
  throw new ProtocolError('bad-settings', `invalid run setting ${field || '(root)'}: ${issue.message}`, field || undefined);
}

export type RunStatus = 'created' | 'running' | 'paused' | 'stopped' | 'completed' | 'failed';
