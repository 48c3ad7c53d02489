/**
 * The strategies whose tabs all hold the full frozen base and differ only in which layers or
 * sub-blocks they keep (the budget planner, FedPruner, FedPruner+, the depth-dropping baselines,
 * full-depth FedAvg): the global adapter covers every layer, a tab gets the LoRA of its plan's
 * parts, and updates are combined layer by layer over the tabs that trained each part
 * (aggregateLayerwise.ts; by default 'fedavg-factors', the HeteroFL/DepthFL rule FedPruner's
 * reviewers inferred). They keep no state of their own between rounds.
 */
import type { LoraAdapter } from '../../model/lora';
import type { SeededRandom } from '../../data/seededRandom';
import { fullPlan, planKeepingLayers, type SubmodelPlan } from '../../model/submodelPlan';
import { loraForPlan } from '../../model/peftAdapter';
import { contiguousLayerGroups } from './contiguousLayerGroups';
import { foldUpdates } from './foldUpdates';
import {
  planOfSubblocks, randomLayers, sampleOnePerGroup, topKLayers, uniformLayers,
} from './depthPlans';
import {
  seededGlobalAdapter, type ClientOffer, type FederatedStrategy, type ServedModel, type StrategyAssignment, type StrategyEnv,
  type StrategyName, type StrategyState, type StrategyUpdate,
} from './federatedStrategy';
import type { StrategyOptions } from './strategyOptions';
import { maxLayersForBudget, planPeakBytes, type PlanMemoryShape } from '../submodelPlanner';
import { budgetPlannerPicker } from './budgetPlannerStrategy';

/** How a layerwise strategy picks a plan for a budget, or why the tab cannot take part. */
export type Picker = (budgetBytes: number, rng: SeededRandom) => SubmodelPlan | Exclusion;
export type Exclusion = { excluded: string; minBytes?: number };

export class LayerwiseStrategy implements FederatedStrategy {
  protected readonly base: ServedModel;

  constructor(readonly name: StrategyName, protected readonly env: StrategyEnv, private readonly pick: Picker) {
    this.base = { key: 'base', config: env.config, weights: env.weights, weightFormat: env.weightFormat ?? 'f32' };
  }

  initialGlobal(): LoraAdapter {
    return seededGlobalAdapter(this.env);
  }

  configureRound(_round: number, global: LoraAdapter, clients: readonly ClientOffer[], rng: SeededRandom): StrategyAssignment[] {
    return clients.map((client) => {
      const plan = this.pick(client.budgetBytes, rng);
      if ('excluded' in plan) return { ...client, ...plan };
      return { ...client, model: this.base, plan, adapter: loraForPlan(global, plan), estimateBytes: planPeakBytes(this.env, plan) };
    });
  }

  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter {
    return foldUpdates(global, updates, this.env.config, this.env.aggregation);
  }

  snapshot(): StrategyState {
    return null;
  }

  restore(): void {}

  describe(): string {
    return this.name;
  }
}

function tooSmall(shape: PlanMemoryShape, what: string): Exclusion {
  const one = planPeakBytes(shape, planKeepingLayers([0]));
  return { excluded: `budget below the smallest ${what} (one layer needs ${one} B)`, minBytes: one };
}

/** The layerwise strategies by name. */
export function createLayerwiseStrategy(name: StrategyName, env: StrategyEnv, opts: StrategyOptions): LayerwiseStrategy | undefined {
  const L = env.config.numLayers;
  const depthPicker = (choose: (k: number, rng: SeededRandom) => number[]): Picker => (budget, rng) => {
    const k = maxLayersForBudget(env, budget);
    return k === 0 ? tooSmall(env, 'submodel') : planKeepingLayers(choose(k, rng));
  };
  const score = (i: number) => env.importance[i].layer;
  switch (name) {
    case 'budget-planner':
      return new LayerwiseStrategy(name, env, budgetPlannerPicker(env, opts));
    case 'fedpruner':
      return new LayerwiseStrategy(name, env, depthPicker((k, rng) => sampleOnePerGroup(contiguousLayerGroups(env.layerSimilarity, k), score, rng).sort((a, b) => a - b)));
    case 'fedpruner-plus':
      return new LayerwiseStrategy(name, env, (budget, rng) => fedPrunerPlusPlan(env, budget, rng));
    case 'random-drop':
      return new LayerwiseStrategy(name, env, depthPicker((k, rng) => randomLayers(L, k, rng)));
    case 'uniform-drop':
      return new LayerwiseStrategy(name, env, depthPicker((k) => uniformLayers(L, k)));
    case 'top-k':
      return new LayerwiseStrategy(name, env, depthPicker((k) => topKLayers(env.importance, k)));
    case 'exclusive':
      return new LayerwiseStrategy(name, env, (budget) => {
        const full = fullPlan(env.config);
        const need = planPeakBytes(env, full);
        return need <= budget ? full : { excluded: `the full model needs ${need} B; exclusive FedAvg admits only tabs that hold it`, minBytes: need };
      });
    case 'unlimited':
      // The upper bound: every tab trains the full model whatever its budget (not deployable).
      return new LayerwiseStrategy(name, env, () => fullPlan(env.config));
    default:
      return undefined;
  }
}

/**
 * FedPruner+: attention and MLP sub-blocks are two chains, each cut into contiguous CKA groups with
 * one importance-sampled sub-block per group. (Ka, Kb) is the pair with the most sub-blocks whose
 * worst-case layout (attention and MLP in disjoint layers, one activation stream each) fits; ties
 * go to the balanced pair. We reuse the layer-output CKA for both chains: the paper does not say
 * how sub-block similarity is measured, and a sub-block's output is its layer's residual stream.
 */
export function fedPrunerPlusPlan(env: StrategyEnv, budget: number, rng: SeededRandom): SubmodelPlan | Exclusion {
  const L = env.config.numLayers;
  let best: [number, number] | undefined;
  for (let ka = 0; ka <= L; ka++) {
    for (let km = 0; km <= L; km++) {
      if (ka + km === 0) continue;
      const worst = planOfSubblocks([...Array(ka).keys()], Array.from({ length: km }, (_, i) => L - km + i));
      if (planPeakBytes(env, worst) > budget) continue;
      if (!best || ka + km > best[0] + best[1] || (ka + km === best[0] + best[1] && Math.abs(ka - km) < Math.abs(best[0] - best[1]))) best = [ka, km];
    }
  }
  if (!best) return tooSmall(env, 'sub-block plan');
  const [ka, km] = best;
  const attn = ka ? sampleOnePerGroup(contiguousLayerGroups(env.layerSimilarity, ka), (i) => env.importance[i].attention, rng) : [];
  const mlp = km ? sampleOnePerGroup(contiguousLayerGroups(env.layerSimilarity, km), (i) => env.importance[i].mlp, rng) : [];
  return planOfSubblocks(attn, mlp);
}
