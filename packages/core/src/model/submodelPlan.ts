import type { ModelConfig } from './modelConfig';

/** One decoder layer a submodel keeps, with either sub-block possibly skipped. */
export interface PlannedLayer {
  /** Index of the layer in the full model (0-based). */
  index: number;
  /** false: the attention sub-block is skipped (the residual stream passes through). */
  attention: boolean;
  /** false: the MLP sub-block is skipped. */
  mlp: boolean;
}

/**
 * Which parts of the full model a submodel runs: the kept decoder layers in ascending order.
 * Skipped layers and sub-blocks are identity maps on the residual stream (the FedPruner /
 * ShortGPT view of a pruned Llama); embeddings, final norm and LM head are always kept.
 */
export interface SubmodelPlan {
  layers: PlannedLayer[];
}

export function fullPlan(cfg: Pick<ModelConfig, 'numLayers'>): SubmodelPlan {
  return { layers: Array.from({ length: cfg.numLayers }, (_, index) => ({ index, attention: true, mlp: true })) };
}

/** A plan keeping the given layer indices whole. */
export function planKeepingLayers(indices: number[]): SubmodelPlan {
  return { layers: [...indices].sort((a, b) => a - b).map((index) => ({ index, attention: true, mlp: true })) };
}

export class SubmodelPlanError extends Error {
  override name = 'SubmodelPlanError';
}

/** Throws SubmodelPlanError unless the plan is well-formed for a model with numLayers layers. */
export function validatePlan(plan: SubmodelPlan, numLayers: number): void {
  let prev = -1;
  for (const l of plan.layers) {
    if (!Number.isInteger(l.index) || l.index < 0 || l.index >= numLayers) {
      throw new SubmodelPlanError(`plan: layer index ${l.index} is outside the model's layers 0..${numLayers - 1}`);
    }
    if (l.index <= prev) throw new SubmodelPlanError(`plan: layer indices must be strictly ascending (saw ${l.index} after ${prev})`);
    if (typeof l.attention !== 'boolean' || typeof l.mlp !== 'boolean') {
      throw new SubmodelPlanError(`plan: layer ${l.index} needs boolean "attention" and "mlp" flags`);
    }
    prev = l.index;
  }
}

/** Compact text form, e.g. "0,1a,3m,5" (a = attention only, m = MLP only, - = both skipped). */
export function describePlan(plan: SubmodelPlan): string {
  return plan.layers
    .map((l) => `${l.index}${l.attention && l.mlp ? '' : l.attention ? 'a' : l.mlp ? 'm' : '-'}`)
    .join(',');
}

/** The inverse of describePlan ("0,1a,3m,5"); throws SubmodelPlanError on anything else. */
export function parsePlanDescription(text: string): SubmodelPlan {
  if (text === '') return { layers: [] };
  return {
    layers: text.split(',').map((part) => {
      const m = /^(\d+)([am-]?)$/.exec(part.trim());
      if (!m) throw new SubmodelPlanError(`plan description: "${part}" is not a layer index with an optional a, m or - suffix`);
      const index = Number(m[1]);
      return { index, attention: m[2] === '' || m[2] === 'a', mlp: m[2] === '' || m[2] === 'm' };
    }),
  };
}
