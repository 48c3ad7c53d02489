/**
 * A federated fine-tuning strategy: which submodel each tab trains in a round, on which frozen base
 * (the full model, a DevFT stage model of fused layers, or a FedSODA aligned and quantized
 * sub-model), from which LoRA, and how the updates fold back into the global adapter of the full
 * model. The coordinator and the experiment simulator drive every strategy through this interface,
 * so the methods are compared in one harness.
 */
import type { SeededRandom } from '../../data/seededRandom';
import type { TokenBatch } from '../../engine/llamaModel';
import type { LoraAdapter, LoraConfig } from '../../engine/lora';
import type { SubmodelPlan } from '../../engine/submodelPlan';
import type { LlamaWeights } from '../../model/llamaWeights';
import type { ModelConfig } from '../../model/modelConfig';
import type { WeightFormat } from '../../model/weightQuantization';
import type { LayerImportance } from '../layerImportance';

export const STRATEGY_NAMES = [
  'fedpruner', 'fedpruner-plus', 'devft', 'fedsoda',
  'exclusive', 'unlimited', 'random-drop', 'uniform-drop', 'top-k', 'flexlora',
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export const STRATEGY_DESCRIPTIONS: Record<StrategyName, string> = {
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

export interface FederatedStrategy {
  readonly name: StrategyName;
  /**
   * Before a round's assignments: DevFT may enter a new stage, FedSODA builds the aligned sub-models
   * of the given budgets (else lazily, at the first assignment that needs one).
   */
  beginRound(round: number, budgets?: readonly number[]): void;
  assign(client: { clientId: string; budgetBytes: number }, rng: SeededRandom): StrategyAssignment;
  /** Folds a round's updates into the global adapter (no updates: unchanged). */
  aggregate(updates: readonly StrategyUpdate[]): void;
  /** The global adapter on the full base model: what is evaluated, checkpointed and exported. */
  globalAdapter(): LoraAdapter;
  /**
   * Continues from a committed global adapter (a restarted coordinator): derived state (DevFT's
   * stage model and stage LoRA, FedSODA's aligned sub-models) is rebuilt from it at the next round.
   */
  restore(global: LoraAdapter): void;
  /** Text for logs and the report (stage, groups). */
  describe(): string;
}
