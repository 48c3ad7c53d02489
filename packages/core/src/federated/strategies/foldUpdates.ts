import type { LoraAdapter } from '../../engine/lora';
import type { ModelConfig } from '../../model/modelConfig';
import { aggregateLayerwise } from '../aggregateLayerwise';
import type { StrategyUpdate } from './federatedStrategy';

/**
 * The strategies' aggregation: each layer and target averaged over the tabs that trained it
 * ('fedavg-factors', the HeteroFL/DepthFL rule), in the coordinates of the model the tabs held.
 */
export function foldUpdates(global: LoraAdapter, updates: readonly StrategyUpdate[], model: ModelConfig): LoraAdapter {
  if (updates.length === 0) return global;
  return aggregateLayerwise(global, updates.map((u) => ({
    clientId: u.task.clientId, adapter: u.adapter, plan: u.task.plan, numSamples: u.numSamples,
  })), { rule: 'fedavg-factors', model });
}
