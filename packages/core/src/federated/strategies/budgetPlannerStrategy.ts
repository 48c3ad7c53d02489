/**
 * The default method, 'budget-planner': every tab holds the full frozen base and trains the most
 * whole layers (granularity 'layers') or attention / MLP sub-blocks ('subblocks') whose predicted
 * peak fits its budget, the most important first ('top') or sampled by importance ('sample',
 * FedPruner's micro-level sampling without its CKA groups); submodelPlanner.ts does the choosing.
 * It is a layerwise strategy (layerwiseStrategy.ts): it keeps no state of its own, and its updates
 * are combined by the run's aggregation rule.
 */
import type { StrategyEnv } from './federatedStrategy';
import type { Exclusion, Picker } from './layerwiseStrategy';
import type { StrategyOptions } from './strategyOptions';
import { planForBudget, PlanDoesNotFitError } from '../submodelPlanner';

export function budgetPlannerPicker(env: StrategyEnv, opts: Pick<StrategyOptions, 'granularity' | 'layerPick'>): Picker {
  return (budgetBytes, rng) => {
    try {
      return planForBudget({ ...env, budgetBytes, granularity: opts.granularity, pick: opts.layerPick, rng }).plan;
    } catch (e) {
      if (e instanceof PlanDoesNotFitError) return { excluded: e.message, minBytes: e.minBytes } satisfies Exclusion;
      throw e;
    }
  };
}
