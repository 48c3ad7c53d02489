/**
 * The strategy of a run, from its settings and what the coordinator measured before round 0: the
 * budget planner by default, or one of the seed methods and baselines (federated/strategies/).
 * The layer similarity and public calibration batches are measured only for methods that read them.
 */
import {
  createStrategy, type FederatedStrategy, type LayerImportance, type LlamaWeights, type RunSettings, type StrategyName, type TokenBatch,
} from '@fedllm/core';
import type { ModelParts } from './modelParts';

export interface RunStrategyInput {
  settings: RunSettings;
  parts: ModelParts;
  weights: LlamaWeights;
  importance: readonly LayerImportance[];
  /** Measured only for the methods that read it (off the event loop, in the evaluation worker). */
  layerSimilarity: () => Promise<number[][]>;
  publicBatches: () => TokenBatch[];
}

/** Methods that read the layer-output CKA; only FedSODA trains on the public batches. */
const READS_LAYER_SIMILARITY: readonly StrategyName[] = ['fedpruner', 'fedpruner-plus', 'fedsoda'];

export async function runStrategy(i: RunStrategyInput): Promise<FederatedStrategy> {
  const s = i.settings;
  const layerSimilarity = READS_LAYER_SIMILARITY.includes(s.strategy) ? await i.layerSimilarity() : [];
  return createStrategy(s.strategy, {
    config: i.parts.config, weights: i.weights, lora: s.lora, batch: s.batch, seqLen: s.seqLen, clipNorm: s.clipNorm, logitsChunkRows: s.logitsChunkRows,
    importance: i.importance, layerSimilarity,
    publicBatches: s.strategy === 'fedsoda' ? i.publicBatches() : [], totalRounds: s.rounds, seed: s.seed,
    weightFormat: i.parts.weightFormat, vocabFormat: i.parts.vocabFormat, aggregation: s.aggregation,
  }, { ...s.strategyOptions, granularity: s.granularity, layerPick: s.layerPick });
}
