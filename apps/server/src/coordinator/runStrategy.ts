/**
 * The strategy of a run, from its settings and what the coordinator measured before round 0: the
 * budget planner by default, or one of the seed methods and baselines (federated/strategies/).
 * Built inside the run worker (runWorker.ts), where the strategy's work runs off the event loop.
 */
import {
  createStrategy, type FederatedStrategy, type LayerImportance, type LlamaWeights, type ModelConfig, type RunSettings, type StrategyName,
  type TokenBatch, type WeightFormat,
} from '@fedllm/core';

/** What the coordinator measured of the run's model, for the strategy. */
export interface RunMeasurements {
  importance: readonly LayerImportance[];
  /** Linear CKA of layer outputs; empty unless the method reads it (readsLayerSimilarity). */
  layerSimilarity: number[][];
  /** Public calibration batches; empty unless the method trains on them (FedSODA). */
  publicBatches: TokenBatch[];
  /** How the run's own base is served (a GGUF base stays packed). */
  weightFormat: WeightFormat;
  vocabFormat: WeightFormat;
}

/** Methods that read the layer-output CKA (measured only for them). */
export function readsLayerSimilarity(name: StrategyName): boolean {
  return name === 'fedpruner' || name === 'fedpruner-plus' || name === 'fedsoda';
}

export function createRunStrategy(settings: RunSettings, config: ModelConfig, weights: LlamaWeights, m: RunMeasurements): FederatedStrategy {
  const s = settings;
  return createStrategy(s.strategy, {
    config, weights, lora: s.lora, batch: s.batch, seqLen: s.seqLen, clipNorm: s.clipNorm, logitsChunkRows: s.logitsChunkRows,
    importance: m.importance, layerSimilarity: m.layerSimilarity, publicBatches: m.publicBatches, totalRounds: s.rounds, seed: s.seed,
    weightFormat: m.weightFormat, vocabFormat: m.vocabFormat, aggregation: s.aggregation,
  }, { ...s.strategyOptions, granularity: s.granularity, layerPick: s.layerPick });
}
