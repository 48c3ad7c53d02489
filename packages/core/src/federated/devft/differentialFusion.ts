/**
 * DBLF, DevFT's differential-based layer fusion (arXiv 2508.00041, stage step 2): each group of
 * layers becomes one layer,
 *   ϑ_g = θ_anchor + β · Σ_{j∈g} (θ_j − θ_anchor),   anchor = the group's first (lowest-index) layer,
 * applied to every tensor of the layer (projections, norm gains, biases). β = 1 is LaCo's "reserve
 * differences while seeking common" merge; the paper uses β = 0.1 (0.15 for 13B) and reports that the
 * plain sum and the anchor alone (β = 0) are both clearly worse. The fused layers, in group order,
 * form the stage submodel that is then LoRA-tuned with FedAvg.
 */
import type { LayerWeights, LlamaWeights } from '../../model/llamaWeights';
import type { ModelConfig } from '../../model/modelConfig';
import { tensor, type Tensor } from '../../model/tensor';
import { validateLayerGroups } from './layerGroups';

/** The paper's β for 7B/8B models. */
export const DEVFT_DEFAULT_BETA = 0.1;

/**
 * One fused layer from the group's layer weights; members[0] is the anchor. Every member must carry
 * the same tensors with the same shapes. Sums run in float64 and are rounded once to float32, so a
 * one-layer group (or β = 0) returns an exact copy of the anchor.
 */
export function fuseLayerGroup(members: readonly LayerWeights[], beta = DEVFT_DEFAULT_BETA): LayerWeights {
  if (members.length === 0) throw new Error('fuseLayerGroup: empty group');
  if (!Number.isFinite(beta)) throw new Error(`fuseLayerGroup: beta must be finite, got ${beta}`);
  const anchor = members[0];
  const keys = (Object.keys(anchor) as (keyof LayerWeights)[]).filter((k) => anchor[k]);
  const out: Record<string, Tensor> = {};
  for (const key of keys) {
    const a = anchor[key]!;
    const diff = new Float64Array(a.data.length);
    members.forEach((m, j) => {
      const t = m[key];
      if (!t || t.data.length !== a.data.length || t.shape.join() !== a.shape.join()) {
        throw new Error(`fuseLayerGroup: member ${j} ${t ? `has ${key} of shape [${t.shape}], the anchor [${a.shape}]` : `lacks ${key}`}`);
      }
      if (j === 0) return;
      for (let e = 0; e < diff.length; e++) diff[e] += t.data[e] - a.data[e];
    });
    const fused = tensor([...a.shape]);
    for (let e = 0; e < diff.length; e++) fused.data[e] = a.data[e] + beta * diff[e];
    out[key] = fused;
  }
  members.forEach((m, j) => {
    for (const k of Object.keys(m) as (keyof LayerWeights)[]) {
      if (m[k] && !anchor[k]) throw new Error(`fuseLayerGroup: member ${j} has ${k}, the anchor does not`);
    }
  });
  return out as unknown as LayerWeights;
}

export interface StageModel {
  /** The full config with numLayers = number of groups. */
  config: ModelConfig;
  /** Layer s is the fused layer of groups[s]; embed, finalNorm and lmHead are the full model's (shared, not copied). */
  weights: LlamaWeights;
  /** representativeOf[s]: the anchor (lowest index) of groups[s] in the full model. */
  representativeOf: number[];
}

/**
 * The stage submodel of a grouping: `groups` must partition the full model's layers (as
 * spectralLayerGrouping returns them); stage layer s fuses groups[s], so the stage runs its layers in
 * the order the groups are given (by anchor, for spectralLayerGrouping's output). Pass base weights:
 * LoRA travels separately (loraTransfer.ts), fusing merged weights would count it twice.
 */
export function buildStageModel(
  cfg: ModelConfig, weights: LlamaWeights, groups: readonly (readonly number[])[], beta = DEVFT_DEFAULT_BETA,
): StageModel {
  if (weights.layers.length !== cfg.numLayers) throw new Error(`buildStageModel: ${weights.layers.length} layers of weights for a ${cfg.numLayers}-layer config`);
  validateLayerGroups(groups, cfg.numLayers);
  const sorted = groups.map((g) => [...g].sort((a, b) => a - b));
  const layers = sorted.map((g) => fuseLayerGroup(g.map((i) => {
    const l = weights.layers[i];
    if (!l) throw new Error(`buildStageModel: weights of layer ${i} are not loaded`);
    return l;
  }), beta));
  return {
    config: { ...cfg, numLayers: groups.length },
    weights: { embed: weights.embed, layers, finalNorm: weights.finalNorm, lmHead: weights.lmHead },
    representativeOf: sorted.map((g) => g[0]),
  };
}
