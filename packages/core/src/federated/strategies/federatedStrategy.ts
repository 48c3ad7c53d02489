/**
 * A federated fine-tuning strategy: which submodel each tab trains in a round, on which frozen base
 * (the full model, a DevFT stage model of fused layers, or a FedSODA aligned and quantized
 * sub-model), from which LoRA, and how the updates fold back into the global adapter of the full
 * model. It is the one seam between the round loop and the methods, as Flower's `Strategy` is: the
 * coordinator and the experiment simulator drive every method (the default budget planner too)
 * through it, so the methods are compared in one harness. The round loop owns the global adapter
 * (it checkpoints and restores it); a strategy reads it and returns the next one, and keeps only
 * its own derived state, which `snapshot()` hands to the loop to persist with each round. Because
 * nothing else is hidden inside, a strategy can wrap another (wrappers/).
 */
import { SeededRandom } from '../../data/seededRandom';
import type { TokenBatch } from '../../engine/llamaModel';
import { createLoraAdapter, type LoraAdapter, type LoraConfig } from '../../model/lora';
import type { SubmodelPlan } from '../../model/submodelPlan';
import type { LlamaWeights } from '../../model/llamaWeights';
import type { ModelConfig } from '../../model/modelConfig';
import type { WeightFormat } from '../../model/weightQuantization';
import type { LayerImportance } from '../layerImportance';
import type { LoraAggregationRule, PairCombiner } from '../aggregateLayerwise';

export const STRATEGY_NAMES = [
  'budget-planner', 'fedpruner', 'fedpruner-plus', 'devft', 'fedsoda',
  'exclusive', 'unlimited', 'random-drop', 'uniform-drop', 'top-k', 'flexlora',
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export const STRATEGY_DESCRIPTIONS: Record<StrategyName, string> = {
  'budget-planner': 'Budget planner (the default): the most layers or sub-blocks whose predicted peak fits, by importance (top or sampled)',
  fedpruner: 'FedPruner: CKA-contiguous layer groups, one importance-sampled layer per group, K groups from the budget',
  'fedpruner-plus': 'FedPruner+: the same, with attention and MLP sub-blocks grouped and chosen independently',
  devft: 'DevFT: stages of growing depth; spectral grouping, differential fusion (beta), LoRA transfer to group members',
  fedsoda: 'FedSODA: similarity group pruning, distillation alignment on public data, quantized frozen sub-model',
  exclusive: 'Full-depth FedAvg-LoRA; only tabs that fit the full model take part',
  unlimited: 'Full-depth FedAvg-LoRA as if memory were unlimited (upper bound)',
  'random-drop': 'Random layer dropping: K layers drawn uniformly every round',
  'uniform-drop': 'Uniform dropping: K evenly spaced layers',
  'top-k': 'Static top-k layers by loss-on-skip importance',
  flexlora: 'FlexLoRA: full depth, LoRA rank from the budget, SVD aggregation of the products',
};

/** What a strategy knows about the run (measured once by the coordinator on calibration data). */
export interface StrategyEnv {
  config: ModelConfig;
  /** The full frozen base, float32. */
  weights: LlamaWeights;
  lora: LoraConfig;
  batch: number;
  seqLen: number;
  clipNorm?: number;
  /** LM head and loss in chunks of this many token rows (a memory saving the WGSL session supports). */
  logitsChunkRows?: number;
  /** Loss-on-skip per layer and sub-block (layerImportance.ts). */
  importance: readonly LayerImportance[];
  /** L×L linear CKA of layer outputs (layerSimilarity.ts). */
  layerSimilarity: readonly (readonly number[])[];
  /** Public calibration data the coordinator may train on (FedSODA's distillation alignment). */
  publicBatches: readonly TokenBatch[];
  totalRounds: number;
  seed: number;
  /**
   * How the run's own base is served to tabs (default f32): a GGUF base keeps its packed formats
   * (q4_1 projections, q8_0 embedding), so the 'base' model's estimates count packed bytes.
   * Models a strategy derives in float32 (DevFT's stages, FedSODA's sub-models) use their own.
   */
  weightFormat?: WeightFormat;
  vocabFormat?: WeightFormat;
  /**
   * How the tabs' LoRA pairs of one layer and target are combined (aggregateLayerwise.ts); absent:
   * the method's own rule ('fedavg-factors', FlexLoRA's 'svd-product').
   */
  aggregation?: LoraAggregationRule | PairCombiner;
}

/** The frozen base a tab holds: `key` identifies it for serving and caching. */
export interface ServedModel {
  key: string;
  config: ModelConfig;
  /** Float32 weights (for FedSODA: the quantize-dequantize image of what the tab stores). */
  weights: LlamaWeights;
  weightFormat: WeightFormat;
}

export interface ClientTask {
  clientId: string;
  budgetBytes: number;
  model: ServedModel;
  /** In the served model's layer indices. */
  plan: SubmodelPlan;
  /** The LoRA the tab starts from: exactly the pairs of the plan's kept sub-blocks, at the task's rank. */
  adapter: LoraAdapter;
  /** Predicted peak GPU bytes of the tab's training session (planPeakBytes in submodelPlanner.ts). */
  estimateBytes: number;
}

export interface ExcludedClient {
  clientId: string;
  budgetBytes: number;
  excluded: string;
  /** The smallest budget that would hold a task, where the method knows it. */
  minBytes?: number;
}

/** A tab offered to a round: who it is and what its GPU holds. */
export interface ClientOffer {
  clientId: string;
  budgetBytes: number;
}

export type StrategyAssignment = ClientTask | ExcludedClient;

export function isExcluded(a: StrategyAssignment): a is ExcludedClient {
  return 'excluded' in a;
}

export interface StrategyUpdate {
  task: ClientTask;
  /** The trained LoRA of the task's plan (same layers, targets and rank as task.adapter). */
  adapter: LoraAdapter;
  numSamples: number;
}

/** A method's own derived state, as JSON: persisted with each committed round (null: none). */
export type StrategyState = { [key: string]: unknown } | null;

export interface FederatedStrategy {
  readonly name: StrategyName;
  /** The global adapter a run starts from: every layer's LoRA, seeded by the run's seed. */
  initialGlobal(): LoraAdapter;
  /**
   * The tasks of one round attempt, one per offered tab in order: a task (plan, base, starting
   * LoRA cut from `global`) or why the tab cannot take part. Derived state is brought up to date
   * first (DevFT may enter a new stage, FedSODA aligns the sub-models these budgets need). `rng`
   * is consumed in client order, so the same seed gives the same plans.
   */
  configureRound(round: number, global: LoraAdapter, clients: readonly ClientOffer[], rng: SeededRandom): StrategyAssignment[];
  /**
   * The next global adapter from a round's updates (none: `global` itself). Neither `global` nor
   * the updates are mutated; only derived state the round already fixed is read.
   */
  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter;
  /** The derived state to persist with the round just aggregated (DevFT's stage and groups). */
  snapshot(): StrategyState;
  /**
   * Continue from a committed round (a restarted coordinator): its global adapter and the state
   * `snapshot()` returned when it committed (undefined: none stored, e.g. a run from before).
   */
  restore(global: LoraAdapter, state: StrategyState | undefined): void;
  /** Text for logs and the report (stage, groups). */
  describe(): string;
}

/** The seeded initial adapter every method starts from (the same for every method of a seed). */
export function seededGlobalAdapter(env: Pick<StrategyEnv, 'config' | 'lora' | 'seed'>): LoraAdapter {
  return createLoraAdapter(env.config, env.lora, [...Array(env.config.numLayers).keys()], new SeededRandom(env.seed));
}
