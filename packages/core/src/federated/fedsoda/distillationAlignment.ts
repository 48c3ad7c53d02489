import { SeededRandom } from '../../data/seededRandom';
import { AdamW, clipGradNorm, type OptimizedParam } from '../../engine/adamw';
import type { FloatArray } from '../../engine/floatArray';
import { zeroGradsLike } from '../../engine/gradBuffers';
import { LlamaModel, type RunOptions, type TokenBatch } from '../../engine/llamaModel';
import type { LoraAdapter } from '../../model/lora';
import type { ParamTensor } from '../../engine/paramTensor';
import { validatePlan, type PlannedLayer, type SubmodelPlan } from '../../model/submodelPlan';
import type { LayerWeights, LlamaWeights } from '../../model/llamaWeights';
import type { ModelConfig } from '../../model/modelConfig';
import type { Tensor } from '../../model/tensor';

/**
 * FedSODA's orchestrated distillation alignment (ODA), as this project implements it (the paper's
 * internals are unverified; the design follows FedBiOT / offsite-tuning's emulator alignment):
 *
 * - student: the submodel of `plan`. The kept layers' weights (every projection, bias and norm of
 *   the sub-blocks the plan runs) are trained; embeddings, final norm and LM head stay frozen and
 *   shared with the teacher, so tabs that later receive only the kept layers still pair them with
 *   the coordinator's unchanged embedding and head.
 * - teacher: the full model, optionally with a LoRA adapter. When given, the same adapter runs
 *   (frozen) on the student's kept layers too: tabs train that adapter on this submodel, so the
 *   pair to align is "submodel + adapter" against "full model + adapter".
 * - loss: mean KL(teacher ‖ student) of the next-token distributions at temperature τ over every
 *   counted position (target ≠ -1) of public calibration batches, minimised with AdamW. Matching
 *   the output distributions makes the LoRA gradients tabs compute on the submodel resemble those
 *   of the full model (they share dLoss/dLogits up to the student's error).
 */
export interface AlignSubmodelOptions {
  /** The full model the submodel is aligned to (any precision; its logits are the targets). */
  teacher: LlamaModel;
  /** Adapter applied to the teacher (and, frozen, to the student's kept layers). */
  teacherLora?: LoraAdapter<ParamTensor>;
  config: ModelConfig;
  /** Full float32 weights the student starts from; never mutated. */
  weights: LlamaWeights;
  plan: SubmodelPlan;
  /** Calibration batches the student trains on, cycled in a seeded shuffled order. */
  batches: TokenBatch[];
  /** Batches for klBefore / klAfter; default `batches`. Pass held-out ones to measure generalisation. */
  evalBatches?: TokenBatch[];
  steps: number;
  lr: number;
  /** Softmax temperature τ of both distributions (default 1). */
  temperature?: number;
  /** Seed of the batch order (default 0). */
  rngSeed?: number;
  /** Decoupled weight decay on projection weights (norms and biases exempt); default 0. */
  weightDecay?: number;
  /** Global gradient-norm clip per step; default 1. Infinity disables it. */
  maxGradNorm?: number;
}

export interface AlignSubmodelResult {
  /**
   * Full-size weights: the plan's kept layers are the aligned float32 copies; every other tensor
   * (dropped layers, embeddings, final norm, LM head) is the input's own object, shared rather
   * than copied because a full model may not fit twice in memory. Treat them as read-only.
   */
  weights: LlamaWeights;
  /** Mean KL(teacher ‖ student) per counted position over the eval batches, before and after. */
  klBefore: number;
  klAfter: number;
  /** Mean KL of the training batch at each step, measured before that step's update. */
  curve: number[];
}

const copyTensor = (t: Tensor): Tensor => ({ shape: [...t.shape], data: t.data.slice() });

function copyLayer(l: LayerWeights): LayerWeights {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(l) as [string, Tensor | undefined][]) if (v) out[k] = copyTensor(v);
  return out as unknown as LayerWeights;
}

const ATTENTION_KEYS = ['inputNorm', 'qProj', 'kProj', 'vProj', 'oProj', 'qBias', 'kBias', 'vBias', 'oBias'] as const;
const MLP_KEYS = ['postNorm', 'gateProj', 'upProj', 'downProj', 'gateBias', 'upBias', 'downBias'] as const;

/**
 * Parameters of the sub-blocks the plan runs, paired with their gradient buffers. Skipped
 * sub-blocks are left out: they get no gradient, and weight decay must not shrink them.
 */
function trainableParams(
  pl: PlannedLayer, w: LayerWeights, g: LayerWeights<ParamTensor>,
): { param: OptimizedParam; grad: FloatArray }[] {
  const keys = [...(pl.attention ? ATTENTION_KEYS : []), ...(pl.mlp ? MLP_KEYS : [])];
  const out: { param: OptimizedParam; grad: FloatArray }[] = [];
  for (const k of keys) {
    const t = w[k];
    if (!t) continue;
    out.push({ param: { tensor: t, decay: k.endsWith('Proj') }, grad: g[k]!.data });
  }
  return out;
}

/** Aligns the plan's kept layers to the full model by distillation; see the file comment above. */
export function alignSubmodel(o: AlignSubmodelOptions): AlignSubmodelResult {
  const { config: cfg, weights, plan, batches } = o;
  const tau = o.temperature ?? 1;
  validatePlan(plan, cfg.numLayers);
  if (batches.length === 0) throw new Error('alignSubmodel: no calibration batches');
  if (!(o.steps >= 0 && Number.isInteger(o.steps))) throw new Error(`alignSubmodel: steps must be a non-negative integer, got ${o.steps}`);
  const evalBatches = o.evalBatches ?? batches;

  const kept = new Set(plan.layers.map((l) => l.index));
  const layers = weights.layers.map((l, i) => {
    if (!kept.has(i)) return l;
    if (!l) throw new Error(`alignSubmodel: the plan keeps layer ${i} but its weights are missing`);
    return copyLayer(l);
  });
  const studentWeights: LlamaWeights = { embed: weights.embed, layers, finalNorm: weights.finalNorm, lmHead: weights.lmHead };
  // Rope tables only as long as the calibration sequences: a full context's tables can be large.
  const maxT = Math.max(...batches.map((b) => b.T), ...evalBatches.map((b) => b.T));
  const student = new LlamaModel(cfg, studentWeights, maxT);
  const studentOpts: RunOptions = { plan, lora: o.teacherLora };
  const teacherOpts: RunOptions = { lora: o.teacherLora };

  // Gradient buffers for the kept layers only (dropped ones never get a gradient). The backward
  // also fills embed / final-norm / head gradients; they are computed and ignored (frozen).
  const gradShape: LlamaWeights = { ...studentWeights, layers: layers.map((l, i) => (kept.has(i) ? l : undefined)) };
  const grads = zeroGradsLike(gradShape);
  const pairs = plan.layers.flatMap((pl) => trainableParams(pl, layers[pl.index]!, grads.layers[pl.index]!));
  const allGrads = [grads.embed, grads.finalNorm, grads.lmHead, ...grads.layers.flatMap((l) => (l ? Object.values(l) : []))].filter((t): t is ParamTensor => !!t);
  const opt = new AdamW(pairs.map((p) => p.param), { lr: o.lr, weightDecay: o.weightDecay ?? 0 });
  const paramGrads = pairs.map((p) => p.grad);

  // Teacher logits are fixed, so each batch's are computed once, when first needed. Memory:
  // one [B*T, vocab] array per distinct batch used.
  const teacherCache = new Map<TokenBatch, FloatArray>();
  const teacherLogits = (b: TokenBatch): FloatArray => {
    let t = teacherCache.get(b);
    if (!t) teacherCache.set(b, (t = o.teacher.logits(b, teacherOpts)));
    return t;
  };
  const meanKl = (): number => {
    let kl = 0, n = 0;
    for (const b of evalBatches) {
      const r = student.distillLoss(b, teacherLogits(b), studentOpts, tau);
      kl += r.klSum; n += r.count;
    }
    return n > 0 ? kl / n : 0;
  };

  const klBefore = meanKl();
  const rng = new SeededRandom(o.rngSeed ?? 0);
  let order: number[] = [];
  const curve: number[] = [];
  for (let step = 0; step < o.steps; step++) {
    if (step % batches.length === 0) order = rng.shuffle(batches.map((_, i) => i));
    const b = batches[order[step % batches.length]];
    for (const g of allGrads) g.data.fill(0);
    const r = student.distillLossAndGrad(b, teacherLogits(b), studentOpts, { base: grads }, tau);
    curve.push(r.count > 0 ? r.klSum / r.count : 0);
    if (r.count === 0) continue;
    clipGradNorm(paramGrads, o.maxGradNorm ?? 1);
    opt.update(paramGrads);
  }
  return { weights: studentWeights, klBefore, klAfter: meanKl(), curve };
}
