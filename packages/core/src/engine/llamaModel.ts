import type { LlamaWeights } from '../model/llamaWeights';
import type { ModelConfig } from '../model/modelConfig';
import { crossEntropy, IGNORE_INDEX, logProbAt, softCrossEntropy, type CrossEntropyResult, type SoftCrossEntropyResult } from './crossEntropy';
import { layerBackward, layerForward, type LayerCache, type LayerContext, type LayerGrads } from './decoderLayer';
import { allocLike, type FloatArray } from './floatArray';
import { linearBackwardInput, linearBackwardWeight, linearForward } from './linear';
import { loraScale, type LoraAdapter } from '../model/lora';
import type { ParamTensor } from './paramTensor';
import { rmsNormBackward, rmsNormForward } from './rmsNorm';
import { buildRopeTables, type RopeTables } from './rope';
import { fullPlan, validatePlan, type SubmodelPlan } from '../model/submodelPlan';

/**
 * A batch of B sequences of T tokens. targets[i] is the token to predict at position i
 * (usually inputIds[i+1]) or IGNORE_INDEX (-1) where the position does not count.
 */
export interface TokenBatch {
  B: number;
  T: number;
  inputIds: Int32Array;
  targets: Int32Array;
}

/** What one forward/backward runs: a submodel plan and an optional LoRA adapter. */
export interface RunOptions {
  plan?: SubmodelPlan;
  lora?: LoraAdapter<ParamTensor>;
}

/**
 * Start a forward pass part-way: `hidden` is the residual stream [B*T, H] entering decoder layer
 * `layer` (a hiddenStates() entry of a run that kept every layer before it), and only the plan's
 * layers with index ≥ `layer` run. Forward-only (no gradients reach the skipped prefix).
 */
/** One token whose log-probability is wanted, at flat position `at` (b*T + t) of a batch. */
export interface TokenPick {
  at: number;
  token: number;
}

export interface ResumeFrom {
  layer: number;
  hidden: FloatArray;
}

/** Gradient buffers. `base` for full-parameter training, `lora` for LoRA training. */
export interface ModelGrads {
  base?: LlamaWeights<ParamTensor>;
  lora?: LoraAdapter<ParamTensor>;
}

interface ForwardState {
  hidden: FloatArray; // final residual stream [M, H]
  normed: FloatArray;
  invRms: FloatArray;
  caches: { ctx: LayerContext; cache: LayerCache }[];
}

/**
 * The CPU reference engine for Llama-family models: forward to logits, masked cross-entropy,
 * and backward into LoRA parameters (frozen base) or into every weight (pretraining).
 * It is the numeric oracle for the WGSL kernels, so it favours clarity over speed where the
 * two conflict (the matmuls are the exception: pretraining depends on them).
 */
export class LlamaModel {
  readonly rope: RopeTables;

  constructor(readonly config: ModelConfig, readonly weights: LlamaWeights<ParamTensor>, maxSeqLen?: number) {
    this.rope = buildRopeTables(config, maxSeqLen ?? config.maxPositionEmbeddings);
  }

  private checkBatch(b: TokenBatch): void {
    const n = b.B * b.T;
    if (b.inputIds.length !== n || b.targets.length !== n) {
      throw new Error(`batch: expected ${n} input ids and targets for B=${b.B}, T=${b.T}, got ${b.inputIds.length} and ${b.targets.length}`);
    }
    if (b.T > this.rope.maxPos) throw new Error(`batch: sequence length ${b.T} exceeds the model's maximum ${this.rope.maxPos}`);
    const V = this.config.vocabSize;
    for (let i = 0; i < n; i++) {
      const t = b.inputIds[i];
      if (t < 0 || t >= V) throw new Error(`batch: token id ${t} at position ${i} outside vocabulary [0, ${V})`);
    }
  }

  private forwardHidden(batch: TokenBatch, opts: RunOptions, resume?: ResumeFrom): ForwardState {
    this.checkBatch(batch);
    const cfg = this.config, H = cfg.hiddenSize, M = batch.B * batch.T;
    const plan = opts.plan ?? fullPlan(cfg);
    validatePlan(plan, cfg.numLayers);
    const embed = this.weights.embed.data;
    let h: FloatArray;
    if (resume) {
      if (resume.hidden.length !== M * H) throw new Error(`resume: hidden state of ${resume.hidden.length} values, the batch needs ${M * H}`);
      h = resume.hidden.slice();
    } else {
      h = allocLike(embed, M * H);
      for (let i = 0; i < M; i++) {
        const src = batch.inputIds[i] * H;
        for (let d = 0; d < H; d++) h[i * H + d] = embed[src + d];
      }
    }
    const caches: ForwardState['caches'] = [];
    const scale = opts.lora ? loraScale(opts.lora.config) : 0;
    for (const pl of plan.layers) {
      if (resume && pl.index < resume.layer) continue;
      const w = this.weights.layers[pl.index];
      if (!w) throw new Error(`plan keeps layer ${pl.index} but its weights were not loaded`);
      const ctx: LayerContext = {
        cfg, plan: pl, w, lora: opts.lora?.layers.get(pl.index), loraScale: scale, rope: this.rope, B: batch.B, T: batch.T,
      };
      const r = layerForward(ctx, h);
      caches.push({ ctx, cache: r.cache });
      h = r.out;
    }
    const normed = allocLike(h, M * H), invRms = allocLike(h, M);
    rmsNormForward(h, this.weights.finalNorm.data, normed, invRms, M, H, cfg.rmsNormEps);
    return { hidden: h, normed, invRms, caches };
  }

  private lmHead(normed: FloatArray, M: number): FloatArray {
    const V = this.config.vocabSize, H = this.config.hiddenSize;
    const logits = allocLike(normed, M * V);
    linearForward(normed, this.weights.lmHead.data, logits, M, H, V);
    return logits;
  }

  /** Next-token logits [B*T, vocab] at every position. */
  logits(batch: TokenBatch, opts: RunOptions = {}): FloatArray {
    const s = this.forwardHidden(batch, opts);
    return this.lmHead(s.normed, batch.B * batch.T);
  }

  /**
   * log p(target) at every position with a target (0 elsewhere), [B*T]. The LM head runs only on
   * those positions: for classification scoring that is a few rows instead of B*T (with a 49k
   * vocabulary the head costs as much as a dozen decoder layers per row).
   */
  targetLogProbs(batch: TokenBatch, opts: RunOptions = {}, resume?: ResumeFrom): Float64Array {
    const picks: TokenPick[] = [];
    for (let i = 0; i < batch.B * batch.T; i++) if (batch.targets[i] !== IGNORE_INDEX) picks.push({ at: i, token: batch.targets[i] });
    const lp = this.pickedLogProbs(batch, picks, opts, resume);
    const out = new Float64Array(batch.B * batch.T);
    picks.forEach((p, j) => (out[p.at] = lp[j]));
    return out;
  }

  /**
   * log p(token) at chosen flat positions (b*T + t), one value per pick. The LM head runs once per
   * distinct position, so several candidate tokens at one position (the labels of a classifier
   * sharing a prompt) cost one head row.
   */
  pickedLogProbs(batch: TokenBatch, picks: readonly TokenPick[], opts: RunOptions = {}, resume?: ResumeFrom): Float64Array {
    const H = this.config.hiddenSize, V = this.config.vocabSize, M = batch.B * batch.T;
    for (const p of picks) {
      if (!(p.at >= 0 && p.at < M)) throw new Error(`pickedLogProbs: position ${p.at} outside the batch's ${M}`);
      if (!(p.token >= 0 && p.token < V)) throw new Error(`pickedLogProbs: token ${p.token} outside the vocabulary of ${V}`);
    }
    const s = this.forwardHidden(batch, opts, resume);
    const rowOf = new Map<number, number>();
    for (const p of picks) if (!rowOf.has(p.at)) rowOf.set(p.at, rowOf.size);
    const picked = allocLike(s.normed, rowOf.size * H);
    rowOf.forEach((j, r) => picked.set(s.normed.subarray(r * H, (r + 1) * H), j * H));
    const logits = this.lmHead(picked, rowOf.size);
    return Float64Array.from(picks, (p) => logProbAt(logits, rowOf.get(p.at)!, V, p.token));
  }

  /**
   * The residual stream [B*T, hidden] entering each kept layer of the plan, then the stream leaving
   * the last one (before the final norm): plan.layers.length + 1 arrays. For layer-importance
   * measures (ShortGPT's Block Influence, CKA); it reads what the forward pass keeps anyway.
   */
  hiddenStates(batch: TokenBatch, opts: RunOptions = {}): FloatArray[] {
    const s = this.forwardHidden(batch, opts);
    return [...s.caches.map((c) => c.cache.x), s.hidden];
  }

  /**
   * Masked cross-entropy (sum and count of the counted positions) with the LM head on those rows
   * only: loss()'s value, at a fraction of the cost when few positions count (a label completion).
   */
  targetLoss(batch: TokenBatch, opts: RunOptions = {}, resume?: ResumeFrom): CrossEntropyResult {
    const lp = this.targetLogProbs(batch, opts, resume);
    let lossSum = 0, count = 0;
    for (let i = 0; i < lp.length; i++) if (batch.targets[i] !== IGNORE_INDEX) (lossSum -= lp[i]), count++;
    return { lossSum, count };
  }

  /**
   * The residual stream entering each layer of the full model and after its attention (`mid`),
   * and the stream leaving the last layer: what Block Influence per sub-block compares.
   */
  residualStreams(batch: TokenBatch): { layers: { x: FloatArray; mid: FloatArray }[]; final: FloatArray } {
    const s = this.forwardHidden(batch, {});
    return { layers: s.caches.map((c) => ({ x: c.cache.x, mid: c.cache.mid })), final: s.hidden };
  }

  /** Masked cross-entropy without gradients. */
  loss(batch: TokenBatch, opts: RunOptions = {}): CrossEntropyResult {
    const logits = this.logits(batch, opts);
    return crossEntropy(logits, batch.targets, batch.B * batch.T, this.config.vocabSize);
  }

  /**
   * Mean masked cross-entropy over the batch and its gradient, accumulated into `grads`
   * (which the caller zeroes). Returns the loss sum and the count of counted positions;
   * the gradient is of lossSum / count. With `gradDivisor`, of lossSum / gradDivisor instead
   * (data-parallel workers share one divisor).
   */
  lossAndGrad(batch: TokenBatch, opts: RunOptions, grads: ModelGrads, gradDivisor?: number): CrossEntropyResult {
    if (!grads.base && !grads.lora) throw new Error('lossAndGrad: no gradient buffers given (base or lora)');
    if (grads.lora && !opts.lora) throw new Error('lossAndGrad: LoRA gradients requested without a LoRA adapter');
    const V = this.config.vocabSize, M = batch.B * batch.T;
    const s = this.forwardHidden(batch, opts);
    const logits = this.lmHead(s.normed, M);
    let count = 0;
    for (let i = 0; i < M; i++) if (batch.targets[i] !== -1) count++;
    const div = gradDivisor ?? count;
    const ce = crossEntropy(logits, batch.targets, M, V, div > 0 ? 1 / div : 0);
    if (ce.count === 0) return ce;
    this.backwardFromLogits(batch, s, logits, grads);
    return ce;
  }

  /**
   * Backward from d(loss)/d(logits) (in `dLogits`, which may be the logits buffer itself) through
   * the LM head, final norm, kept layers and embedding into `grads`. Shared by the hard-target and
   * distillation losses so both differentiate the model the same way.
   */
  private backwardFromLogits(batch: TokenBatch, s: ForwardState, dLogits: FloatArray, grads: ModelGrads): void {
    const H = this.config.hiddenSize, V = this.config.vocabSize, M = batch.B * batch.T;
    const dNormed = allocLike(dLogits, M * H);
    linearBackwardInput(dLogits, this.weights.lmHead.data, dNormed, M, H, V);
    if (grads.base) linearBackwardWeight(dLogits, s.normed, grads.base.lmHead.data, M, H, V);
    // Layers below the lowest trainable one need no input gradient.
    const lowestTrainable = grads.base ? -1 : s.caches.findIndex((c) => !!grads.lora?.layers.get(c.ctx.plan.index));
    if (lowestTrainable === -1 && !grads.base) return;
    let dh: FloatArray | undefined = allocLike(dLogits, M * H);
    rmsNormBackward(s.hidden, this.weights.finalNorm.data, s.invRms, dNormed, dh, grads.base?.finalNorm.data, M, H, false);
    for (let li = s.caches.length - 1; li >= 0 && dh; li--) {
      const { ctx, cache } = s.caches[li];
      const lg: LayerGrads = { base: grads.base?.layers[ctx.plan.index], lora: grads.lora?.layers.get(ctx.plan.index) };
      if (grads.base && !lg.base) throw new Error(`full-parameter gradients missing for layer ${ctx.plan.index}`);
      dh = layerBackward(ctx, cache, dh, lg, li > lowestTrainable);
    }
    if (grads.base && dh) {
      const dEmbed = grads.base.embed.data;
      for (let i = 0; i < M; i++) {
        const dst = batch.inputIds[i] * H;
        for (let d = 0; d < H; d++) dEmbed[dst + d] += dh[i * H + d];
      }
    }
  }

  /**
   * Distillation loss without gradients: soft-target cross-entropy of this model's next-token
   * distribution against `teacherLogits` [B*T, vocab] at temperature τ, over positions whose
   * target is not -1. klSum / count is the mean KL(teacher ‖ this model) per position.
   */
  distillLoss(batch: TokenBatch, teacherLogits: FloatArray, opts: RunOptions = {}, temperature = 1): SoftCrossEntropyResult {
    const logits = this.logits(batch, opts);
    return softCrossEntropy(logits, teacherLogits, batch.targets, batch.B * batch.T, this.config.vocabSize, temperature);
  }

  /**
   * lossAndGrad with the distillation loss: the gradient of the mean soft-target cross-entropy
   * (lossSum / count, over positions whose target is not -1) against `teacherLogits` at
   * temperature τ, accumulated into `grads` (which the caller zeroes). Its gradient equals that of
   * the mean KL(teacher ‖ this model): the teacher entropy does not depend on this model.
   */
  distillLossAndGrad(
    batch: TokenBatch, teacherLogits: FloatArray, opts: RunOptions, grads: ModelGrads, temperature = 1,
  ): SoftCrossEntropyResult {
    if (!grads.base && !grads.lora) throw new Error('distillLossAndGrad: no gradient buffers given (base or lora)');
    if (grads.lora && !opts.lora) throw new Error('distillLossAndGrad: LoRA gradients requested without a LoRA adapter');
    const V = this.config.vocabSize, M = batch.B * batch.T;
    if (teacherLogits.length !== M * V) throw new Error(`distillLossAndGrad: teacher logits hold ${teacherLogits.length} values, batch needs ${M * V}`);
    const s = this.forwardHidden(batch, opts);
    const logits = this.lmHead(s.normed, M);
    let count = 0;
    for (let i = 0; i < M; i++) if (batch.targets[i] !== -1) count++;
    const r = softCrossEntropy(logits, teacherLogits, batch.targets, M, V, temperature, count > 0 ? 1 / count : 0);
    if (r.count === 0) return r;
    this.backwardFromLogits(batch, s, logits, grads);
    return r;
  }
}
