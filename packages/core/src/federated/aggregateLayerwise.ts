/**
 * Layer-wise aggregation of heterogeneous LoRA updates: every client trained a different submodel
 * (some layers, maybe only one sub-block of a layer), so each layer and target is averaged over
 * just the clients that trained it, weighted by their sample counts n_k (p_k = n_k / Σ n_j over those
 * clients). A layer or target that nobody trained keeps its previous global value.
 */
import { LORA_MODULE_NAMES, LORA_TARGETS, targetDims, type LayerLora, type LoraAdapter, type LoraConfig, type LoraTarget } from '../model/lora';
import { validatePlan, type SubmodelPlan } from '../model/submodelPlan';
import type { ModelConfig } from '../model/modelConfig';
import { planKeepsTarget } from '../model/peftAdapter';
import { tensor, type Tensor } from '../model/tensor';
import { meanOfProductsAtRank, type WeightedLoraPair } from './loraProductMean';

/**
 * How the clients' LoRA pairs of one layer and target are combined.
 * - 'fedavg-factors': A = Σ p_k·A_k and B = Σ p_k·B_k separately (FedIT, HeteroFL-style; what
 *   FedPruner and DevFT use). Cheap and keeps the factors' scale, but B·A of the result is not the
 *   mean of the clients' B_k·A_k: the cross terms B_j·A_k (j ≠ k) creep in.
 * - 'svd-product': the exact weighted mean of the products Σ p_k·B_k·A_k, re-factored to rank r by
 *   truncated SVD (FlexLoRA-style): the best rank-r approximation of the mean update, exact when the
 *   mean has rank ≤ r. A comes back with orthonormal rows (V_rᵀ) and B = U_r·Σ_r.
 */
export type LoraAggregationRule = 'fedavg-factors' | 'svd-product';
export const LORA_AGGREGATION_RULES: readonly LoraAggregationRule[] = ['fedavg-factors', 'svd-product'];

/**
 * Combines the contributors' pairs of one layer and target (weights sum to 1) into the new global
 * pair at `rank`; `previous` is the global pair before the round. The named rules are combiners;
 * a robust or private aggregation (a strategy wrapper) brings its own.
 */
export type PairCombiner = (pairs: readonly WeightedLoraPair[], rank: number, previous: { A: Tensor; B: Tensor }) => { A: Tensor; B: Tensor };

export const PAIR_COMBINERS: Record<LoraAggregationRule, PairCombiner> = {
  'fedavg-factors': (pairs) => ({ A: weightedMean(pairs.map((p) => [p.A, p.weight])), B: weightedMean(pairs.map((p) => [p.B, p.weight])) }),
  'svd-product': (pairs, rank, previous) => meanOfProductsAtRank(pairs, rank, previous.A),
};

/** One client's result of a round. */
export interface LayerwiseClientUpdate {
  /** Names the client in error messages. */
  clientId: string;
  /** The LoRA pairs it trained: exactly the targets of the sub-blocks its plan kept. */
  adapter: LoraAdapter;
  /** The submodel it trained. */
  plan: SubmodelPlan;
  /** Training samples behind the update (its aggregation weight n_k); positive and finite. */
  numSamples: number;
}

export interface AggregateLayerwiseOptions {
  /** A named rule or a combiner of one's own. */
  rule: LoraAggregationRule | PairCombiner;
  /** When given, the global adapter's tensor shapes are checked against the model's dimensions too. */
  model?: ModelConfig;
}

/** An update or global adapter that cannot be aggregated; names the client and tensor at fault. */
export class LoraAggregationError extends Error {
  override name = 'LoraAggregationError';
  constructor(message: string, readonly clientId?: string, readonly tensorName?: string) {
    super(message);
  }
}

/**
 * The new global adapter after a round: per layer and target, the sample-weighted aggregate (by
 * `rule`) of the clients whose plan kept that target's sub-block; untouched parts are copied from
 * `global`. Inputs are validated first (shapes, ranks, finite values, sample counts) and nothing is
 * mutated; the result holds fresh tensors.
 */
export function aggregateLayerwise(
  global: LoraAdapter, updates: readonly LayerwiseClientUpdate[], opts: AggregateLayerwiseOptions,
): LoraAdapter {
  const combine = typeof opts.rule === 'function' ? opts.rule : Object.hasOwn(PAIR_COMBINERS, opts.rule) ? PAIR_COMBINERS[opts.rule] : undefined;
  if (!combine) {
    throw new LoraAggregationError(`unknown aggregation rule "${String(opts.rule)}"; valid rules: ${LORA_AGGREGATION_RULES.join(', ')}`);
  }
  validateGlobal(global, opts.model);
  for (const u of updates) validateUpdate(global, u);

  const out: LoraAdapter = { config: { ...global.config, targets: [...global.config.targets] }, layers: new Map() };
  for (const [index, layer] of global.layers) {
    const next: LayerLora = {};
    for (const t of global.config.targets) {
      const prev = layer[t];
      if (!prev) continue;
      const contributors = updates.filter((u) => trainedTarget(u.plan, index, t));
      if (contributors.length === 0) {
        next[t] = { A: copy(prev.A), B: copy(prev.B) };
        continue;
      }
      const total = contributors.reduce((s, u) => s + u.numSamples, 0);
      const pairs = contributors.map((u) => ({ ...u.adapter.layers.get(index)![t]!, weight: u.numSamples / total }));
      next[t] = combine(pairs, global.config.rank, prev);
    }
    out.layers.set(index, next);
  }
  return out;
}

/** Whether the plan kept layer `index` with the sub-block target `t` lives in. */
function trainedTarget(plan: SubmodelPlan, index: number, t: LoraTarget): boolean {
  const l = plan.layers.find((p) => p.index === index);
  return !!l && planKeepsTarget(l, t);
}

function copy(t: Tensor): Tensor {
  return tensor([...t.shape], Float32Array.from(t.data));
}

/** Σ w·tensor, accumulated in float64. */
function weightedMean(terms: [Tensor, number][]): Tensor {
  const acc = new Float64Array(terms[0][0].data.length);
  for (const [t, w] of terms) for (let i = 0; i < acc.length; i++) acc[i] += w * t.data[i];
  return tensor([...terms[0][0].shape], Float32Array.from(acc));
}

function sameConfig(a: LoraConfig, b: LoraConfig): boolean {
  return a.rank === b.rank && a.alpha === b.alpha && a.targets.length === b.targets.length && a.targets.every((t) => b.targets.includes(t));
}

function tensorLabel(layer: number, t: LoraTarget, which: 'A' | 'B'): string {
  return `layer ${layer} ${LORA_MODULE_NAMES[t]}.lora_${which}`;
}

function checkTensor(x: Tensor | undefined, want: readonly number[], label: string, clientId?: string): void {
  const who = clientId === undefined ? 'global adapter' : `update from client ${clientId}`;
  if (!x) throw new LoraAggregationError(`${who}: ${label} is missing`, clientId, label);
  if (x.shape.length !== 2 || x.shape[0] !== want[0] || x.shape[1] !== want[1] || x.data.length !== want[0] * want[1]) {
    throw new LoraAggregationError(`${who}: ${label} has shape [${x.shape.join(', ')}], expected [${want.join(', ')}]`, clientId, label);
  }
  for (let i = 0; i < x.data.length; i++) {
    if (!Number.isFinite(x.data[i])) {
      throw new LoraAggregationError(`${who}: ${label} holds a non-finite value (${x.data[i]}) at element ${i}`, clientId, label);
    }
  }
}

function validateGlobal(global: LoraAdapter, model: ModelConfig | undefined): void {
  const { rank, targets } = global.config;
  if (!Number.isInteger(rank) || rank < 1) throw new LoraAggregationError(`global adapter: rank must be a positive integer, got ${rank}`);
  for (const [index, layer] of global.layers) {
    if (model && (!Number.isInteger(index) || index < 0 || index >= model.numLayers)) {
      throw new LoraAggregationError(`global adapter: layer ${index} is outside the model's layers 0..${model.numLayers - 1}`);
    }
    for (const t of targets) {
      const p = layer[t];
      if (!p) throw new LoraAggregationError(`global adapter: layer ${index} has no ${LORA_MODULE_NAMES[t]} LoRA pair`, undefined, tensorLabel(index, t, 'A'));
      const [fin, fout] = model ? targetDims(model, t) : [p.A.shape[1], p.B.shape[0]];
      checkTensor(p.A, [rank, fin], tensorLabel(index, t, 'A'));
      checkTensor(p.B, [fout, rank], tensorLabel(index, t, 'B'));
    }
  }
}

function validateUpdate(global: LoraAdapter, u: LayerwiseClientUpdate): void {
  const id = u.clientId;
  if (typeof u.numSamples !== 'number' || !Number.isFinite(u.numSamples) || u.numSamples <= 0) {
    throw new LoraAggregationError(`update from client ${id}: sample count must be a positive finite number, got ${u.numSamples}`, id);
  }
  if (!sameConfig(u.adapter.config, global.config)) {
    const c = u.adapter.config, g = global.config;
    throw new LoraAggregationError(
      `update from client ${id}: LoRA config (rank ${c.rank}, alpha ${c.alpha}, targets ${c.targets.join(',')}) differs from the global adapter's (rank ${g.rank}, alpha ${g.alpha}, targets ${g.targets.join(',')})`, id,
    );
  }
  const maxLayer = Math.max(-1, ...global.layers.keys());
  try {
    validatePlan(u.plan, maxLayer + 1);
  } catch (e) {
    throw new LoraAggregationError(`update from client ${id}: ${(e as Error).message}`, id);
  }
  for (const l of u.plan.layers) {
    const g = global.layers.get(l.index);
    const got = u.adapter.layers.get(l.index);
    for (const t of global.config.targets) {
      if (!planKeepsTarget(l, t)) continue;
      if (!g) throw new LoraAggregationError(`update from client ${id}: its plan keeps layer ${l.index}, which the global adapter does not hold`, id);
      checkTensor(got?.[t]?.A, g[t]!.A.shape, tensorLabel(l.index, t, 'A'), id);
      checkTensor(got?.[t]?.B, g[t]!.B.shape, tensorLabel(l.index, t, 'B'), id);
    }
  }
  // Anything else in the update was not trained under its plan: refuse rather than silently drop it.
  // A target outside the adapter config is never trained, even in a layer and sub-block the plan kept.
  for (const [index, layer] of u.adapter.layers) {
    const l = u.plan.layers.find((p) => p.index === index);
    for (const t of Object.keys(layer) as LoraTarget[]) {
      if (layer[t] === undefined) continue;
      if (!l || !global.config.targets.includes(t) || !planKeepsTarget(l, t)) {
        const label = LORA_TARGETS.includes(t) ? tensorLabel(index, t, 'A') : `layer ${index} LoRA target "${String(t)}"`;
        throw new LoraAggregationError(`update from client ${id}: holds ${label}, which its plan does not train`, id, label);
      }
    }
  }
}
