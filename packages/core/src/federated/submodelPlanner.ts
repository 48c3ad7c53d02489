/**
 * Chooses the submodel a tab trains from its GPU memory budget: as many decoder layers (or
 * attention / MLP sub-blocks) as fit, picked by importance. The memory of a plan comes from the
 * same buffer list the WebGPU session allocates (loraSessionLayout.ts), plus a reserve for the
 * per-dispatch uniform buffers that list leaves out, so an assigned plan never exceeds the budget
 * the tab's ledger enforces.
 */
import type { LoraConfig } from '../model/lora';
import { planKeepingLayers, type PlannedLayer, type SubmodelPlan } from '../model/submodelPlan';
import type { SeededRandom } from '../data/seededRandom';
import { estimateLoraSessionBytes } from '../memory/loraSessionLayout';
import type { ModelConfig } from '../model/modelConfig';
import type { WeightFormat } from '../model/weightQuantization';
import type { LayerImportance } from './layerImportance';

export type PlanGranularity = 'layers' | 'subblocks';
/**
 * 'top': the most important units that fit (static top-k).
 * 'sample': units drawn without replacement with probability proportional to importance plus a
 * floor, so every layer is trained over the rounds (FedPruner's micro-level sampling; the floor
 * of a quarter of the mean importance is our choice: the paper does not publish one).
 */
export type LayerPick = 'top' | 'sample';

/**
 * Uniform buffers: one per kernel dispatch (16-48 bytes each), measured at about 11 KB for the
 * 6-layer default model; this reserve is at least twice that for any plan.
 */
export function dispatchReserveBytes(plan: SubmodelPlan): number {
  return 8192 + 4096 * plan.layers.length;
}

export interface PlanMemoryShape {
  config: ModelConfig;
  lora: LoraConfig;
  batch: number;
  seqLen: number;
  clipNorm?: number;
  /** Rows of logits held at once (loraSessionLayout.ts); default all B·T rows. */
  logitsChunkRows?: number;
  /** Storage of the frozen projection weights (weightQuantization.ts); default f32. */
  weightFormat?: WeightFormat;
  /** Storage of the embedding / LM head (a GGUF's Q8_0 table stays packed); default f32. */
  vocabFormat?: WeightFormat;
}

/** Predicted peak GPU bytes of a LoRA training session of `plan` (buffers + dispatch reserve). */
export function planPeakBytes(s: PlanMemoryShape, plan: SubmodelPlan): number {
  return estimateLoraSessionBytes({ ...s, plan }).totalBytes + dispatchReserveBytes(plan);
}

/**
 * The most whole layers (0..numLayers) a budget holds. Every decoder layer of a Llama model has the
 * same shapes, so the count, not which layers, decides the memory.
 */
export function maxLayersForBudget(s: PlanMemoryShape, budgetBytes: number): number {
  let k = 0;
  while (k < s.config.numLayers && planPeakBytes(s, planKeepingLayers([...Array(k + 1).keys()])) <= budgetBytes) k++;
  return k;
}

export interface PlanRequest extends PlanMemoryShape {
  budgetBytes: number;
  /** Per-layer importance (layerImportance.ts), one entry per model layer. */
  importance: readonly LayerImportance[];
  granularity: PlanGranularity;
  pick: LayerPick;
  /** Needed for pick 'sample'. */
  rng?: SeededRandom;
}

export interface PlanChoice {
  plan: SubmodelPlan;
  estimateBytes: number;
}

/** Not even the smallest submodel (one sub-block) fits the budget. */
export class PlanDoesNotFitError extends Error {
  override name = 'PlanDoesNotFitError';
  constructor(message: string, readonly minBytes: number) {
    super(message);
  }
}

interface Unit {
  index: number;
  part: 'layer' | 'attention' | 'mlp';
  score: number;
}

/**
 * The largest plan (by units kept) whose predicted peak is within the budget. Units are ranked
 * (or sampled) by importance and taken greedily: a unit that would overflow is passed over and
 * cheaper ones later in the order may still fit.
 */
export function planForBudget(r: PlanRequest): PlanChoice {
  const L = r.config.numLayers;
  if (r.importance.length !== L) throw new Error(`planner: importance has ${r.importance.length} entries for a model of ${L} layers`);
  if (!(r.budgetBytes > 0)) throw new Error(`planner: budget must be a positive number of bytes, got ${r.budgetBytes}`);
  const units: Unit[] = r.granularity === 'layers'
    ? r.importance.map((x) => ({ index: x.index, part: 'layer', score: x.layer }))
    : r.importance.flatMap((x) => [
      { index: x.index, part: 'attention' as const, score: x.attention },
      { index: x.index, part: 'mlp' as const, score: x.mlp },
    ]);
  const order = r.pick === 'top' ? [...units].sort((a, b) => b.score - a.score || a.index - b.index) : sampleOrder(units, r.rng);

  const chosen: Unit[] = [];
  let estimate = 0;
  for (const u of order) {
    const bytes = planPeakBytes(r, planOf([...chosen, u]));
    if (bytes <= r.budgetBytes) {
      chosen.push(u);
      estimate = bytes;
    }
  }
  if (chosen.length === 0) {
    const minBytes = Math.min(...units.map((u) => planPeakBytes(r, planOf([u]))));
    throw new PlanDoesNotFitError(
      `the smallest submodel (one ${r.granularity === 'layers' ? 'layer' : 'sub-block'}) needs ${minBytes} bytes at batch ${r.batch} × ${r.seqLen} tokens; the budget is ${r.budgetBytes}`,
      minBytes,
    );
  }
  return { plan: planOf(chosen), estimateBytes: estimate };
}

/** The plan keeping exactly these units, layers ascending. */
function planOf(units: readonly Unit[]): SubmodelPlan {
  const byIndex = new Map<number, PlannedLayer>();
  for (const u of units) {
    const l = byIndex.get(u.index) ?? { index: u.index, attention: false, mlp: false };
    if (u.part !== 'mlp') l.attention = true;
    if (u.part !== 'attention') l.mlp = true;
    byIndex.set(u.index, l);
  }
  return { layers: [...byIndex.values()].sort((a, b) => a.index - b.index) };
}

/** Weighted sampling without replacement (the whole order), weights max(score, 0) + floor. */
function sampleOrder(units: readonly Unit[], rng: SeededRandom | undefined): Unit[] {
  if (!rng) throw new Error("planner: pick 'sample' needs an rng");
  const pos = units.map((u) => Math.max(0, Number.isFinite(u.score) ? u.score : 0));
  const mean = pos.reduce((a, b) => a + b, 0) / pos.length;
  const floor = mean > 0 ? mean / 4 : 1;
  const pool = units.map((u, i) => ({ u, w: pos[i] + floor }));
  const out: Unit[] = [];
  while (pool.length) {
    const total = pool.reduce((a, p) => a + p.w, 0);
    let x = rng.next() * total, k = 0;
    while (k < pool.length - 1 && x >= pool[k].w) x -= pool[k++].w;
    out.push(pool.splice(k, 1)[0].u);
  }
  return out;
}
