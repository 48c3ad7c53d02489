import type { LoraAdapter } from '../../model/lora';
import type { ModelConfig } from '../../model/modelConfig';
import { aggregateLayerwise, type LoraAggregationRule, type PairCombiner } from '../aggregateLayerwise';
import type { StrategyUpdate } from './federatedStrategy';

/**
 * The strategies' aggregation: each layer and target combined over the tabs that trained it, in
 * the coordinates of the model the tabs held, by the run's rule (default 'fedavg-factors', the
 * HeteroFL/DepthFL rule). No updates: `global` itself.
 */
export function foldUpdates(
  global: LoraAdapter, updates: readonly StrategyUpdate[], model: ModelConfig, rule: LoraAggregationRule | PairCombiner = 'fedavg-factors',
): LoraAdapter {
  if (updates.length === 0) return global;
  return aggregateLayerwise(global, updates.map((u) => ({
    clientId: u.task.clientId, adapter: u.adapter, plan: u.task.plan, numSamples: u.numSamples,
  })), { rule, model });
}
