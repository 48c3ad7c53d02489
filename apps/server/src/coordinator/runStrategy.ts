/**
 * How a run chooses each tab's task and folds updates back, from its settings: the budget planner
 * (submodelPlanner.ts: granularity, layerPick, aggregation rule) or one of the seed methods and
 * baselines (federated/strategies/), whose derived bases are served through ServedModels.
 */
import {
  aggregateLayerwise, createStrategy, isExcluded, loraForPlan, planForBudget, PlanDoesNotFitError, type FederatedStrategy,
  type LayerImportance, type LlamaWeights, type LoraAdapter, type RunSettings, type StrategyName, type TokenBatch,
} from '@fedllm/core';
import type { FederatedRunDeps, TaskPlan } from './federatedRun';
import type { ModelParts } from './modelParts';
import type { ServedModels } from './servedModels';
import { validateUpdateAdapter } from './updateValidation';

export interface RunStrategyInput {
  settings: RunSettings;
  parts: ModelParts;
  weights: LlamaWeights;
  served: ServedModels;
  importance: readonly LayerImportance[];
  /** Measured only when a strategy (not the budget planner) runs; the public batches only for FedSODA. */
  layerSimilarity: () => number[][];
  publicBatches: () => TokenBatch[];
  maxUpdateBytes: number;
  log: (m: string) => void;
}

export type RunStrategy = Pick<FederatedRunDeps, 'beginRound' | 'planFor' | 'aggregate' | 'validateAdapter'> & {
  /** Continue from a restored global adapter. */
  restore(global: LoraAdapter): void;
};

export function runStrategy(i: RunStrategyInput): RunStrategy {
  const s = i.settings, cfg = i.parts.config;
  const validateAdapter = (bytes: Uint8Array, t: TaskPlan) =>
    validateUpdateAdapter(bytes, { config: t.parts.config, lora: t.lora, plan: t.plan, maxBytes: i.maxUpdateBytes });
  if (s.strategy === 'budget-planner') {
    return {
      beginRound: () => {},
      planFor: (client, rng, global) => {
        try {
          const c = planForBudget({
            config: cfg, lora: s.lora, batch: s.batch, seqLen: s.seqLen, clipNorm: s.clipNorm, logitsChunkRows: s.logitsChunkRows, budgetBytes: client.budgetBytes,
            importance: i.importance, granularity: s.granularity, pick: s.layerPick, rng, weightFormat: i.parts.weightFormat, vocabFormat: i.parts.vocabFormat,
          });
          return { ...c, lora: s.lora, adapter: loraForPlan(global, c.plan), parts: i.parts, weightFormat: i.parts.weightFormat };
        } catch (e) {
          if (e instanceof PlanDoesNotFitError) return { error: e.message, minBytes: e.minBytes };
          throw e;
        }
      },
      aggregate: (g, updates) => aggregateLayerwise(g, updates, { rule: s.aggregation }),
      validateAdapter,
      restore: () => {},
    };
  }
  const strategy: FederatedStrategy = createStrategy(s.strategy as StrategyName, {
    config: cfg, weights: i.weights, lora: s.lora, batch: s.batch, seqLen: s.seqLen, clipNorm: s.clipNorm, logitsChunkRows: s.logitsChunkRows,
    importance: i.importance, layerSimilarity: i.layerSimilarity(),
    publicBatches: s.strategy === 'fedsoda' ? i.publicBatches() : [], totalRounds: s.rounds, seed: s.seed,
    weightFormat: i.parts.weightFormat, vocabFormat: i.parts.vocabFormat,
  }, s.strategyOptions);
  let lastState = '';
  return {
    beginRound: (round, budgets) => {
      i.served.beginRound(round);
      strategy.beginRound(round, budgets);
      const state = strategy.describe();
      if (state !== lastState) i.log(`strategy ${s.strategy}, round ${round}: ${(lastState = state)}`);
    },
    planFor: (client, rng) => {
      const a = strategy.assign(client, rng);
      if (isExcluded(a)) return { error: a.excluded };
      return {
        plan: a.plan, estimateBytes: a.estimateBytes, lora: a.adapter.config, adapter: a.adapter, parts: i.served.partsFor(a.model),
        weightFormat: a.model.weightFormat, handle: a,
      };
    },
    aggregate: (_g, updates) => {
      strategy.aggregate(updates.map((u) => ({ task: u.task.handle as Parameters<FederatedStrategy['aggregate']>[0][number]['task'], adapter: u.adapter, numSamples: u.numSamples })));
      return strategy.globalAdapter();
    },
    validateAdapter,
    restore: (g) => strategy.restore(g),
  };
}
