import type { ModelConfig } from '../model/modelConfig';
import type { LayerWeights } from '../model/llamaWeights';
import { attentionBackward, attentionForward, type AttentionShape } from './attention';
import { allocLike, type FloatArray } from './floatArray';
import { LORA_TARGET_WEIGHTS, type LayerLora, type LoraTarget } from '../model/lora';
import type { ParamTensor } from './paramTensor';
import { projectionBackward, projectionForward, type Projection, type ProjectionGrads, type ProjectionOutput } from './projection';
import { rmsNormBackward, rmsNormForward } from './rmsNorm';
import { applyRope, type RopeTables } from './rope';
import { swigluBackward, swigluForward } from './swiglu';
import type { PlannedLayer } from '../model/submodelPlan';

/** Everything one decoder layer needs to run: its weights, LoRA, and which sub-blocks run. */
export interface LayerContext {
  cfg: ModelConfig;
  plan: PlannedLayer;
  w: LayerWeights<ParamTensor>;
  lora?: LayerLora<ParamTensor>;
  loraScale: number;
  rope: RopeTables;
  B: number;
  T: number;
}

/** Gradient buffers of one layer: base weights (full training) and/or LoRA pairs. */
export interface LayerGrads {
  base?: LayerWeights<ParamTensor>;
  lora?: LayerLora<ParamTensor>;
}

interface AttentionCache {
  norm: FloatArray;
  invRms: FloatArray;
  q: ProjectionOutput;
  k: ProjectionOutput;
  v: ProjectionOutput;
  probs: FloatArray;
  mixed: FloatArray;
  o: ProjectionOutput;
}

interface MlpCache {
  norm: FloatArray;
  invRms: FloatArray;
  gate: ProjectionOutput;
  up: ProjectionOutput;
  act: FloatArray;
  down: ProjectionOutput;
}

/** Activations saved by layerForward for layerBackward. */
export interface LayerCache {
  x: FloatArray;
  mid: FloatArray;
  attn?: AttentionCache;
  mlp?: MlpCache;
}

function projection(ctx: LayerContext, t: LoraTarget): Projection {
  const [wk, bk] = LORA_TARGET_WEIGHTS[t];
  return { w: ctx.w[wk], bias: ctx.w[bk], lora: ctx.lora?.[t], loraScale: ctx.loraScale };
}

function projectionGrads(g: LayerGrads, t: LoraTarget): ProjectionGrads {
  const [wk, bk] = LORA_TARGET_WEIGHTS[t];
  return { w: g.base?.[wk].data, bias: g.base?.[bk]?.data, loraA: g.lora?.[t]?.A.data, loraB: g.lora?.[t]?.B.data };
}

function attnShape(ctx: LayerContext): AttentionShape {
  const c = ctx.cfg;
  return { B: ctx.B, T: ctx.T, nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim, window: c.slidingWindow };
}

function addInto(a: FloatArray, b: FloatArray): FloatArray {
  const out = allocLike(a, a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** Runs one decoder layer on the residual stream x[B*T, hidden]; returns the new stream. */
export function layerForward(ctx: LayerContext, x: FloatArray): { out: FloatArray; cache: LayerCache } {
  const { cfg } = ctx;
  const M = ctx.B * ctx.T, H = cfg.hiddenSize;
  const cache: LayerCache = { x, mid: x };
  let h = x;
  if (ctx.plan.attention) {
    const norm = allocLike(x, M * H), invRms = allocLike(x, M);
    rmsNormForward(h, ctx.w.inputNorm.data, norm, invRms, M, H, cfg.rmsNormEps);
    const q = projectionForward(projection(ctx, 'q'), norm, M);
    const k = projectionForward(projection(ctx, 'k'), norm, M);
    const v = projectionForward(projection(ctx, 'v'), norm, M);
    applyRope(q.y, ctx.rope, ctx.B, ctx.T, cfg.numHeads);
    applyRope(k.y, ctx.rope, ctx.B, ctx.T, cfg.numKvHeads);
    const mixed = allocLike(x, M * cfg.numHeads * cfg.headDim);
    const probs = attentionForward(q.y, k.y, v.y, mixed, attnShape(ctx));
    const o = projectionForward(projection(ctx, 'o'), mixed, M);
    cache.attn = { norm, invRms, q, k, v, probs, mixed, o };
    h = addInto(h, o.y);
  }
  cache.mid = h;
  if (ctx.plan.mlp) {
    const F = cfg.intermediateSize;
    const norm = allocLike(x, M * H), invRms = allocLike(x, M);
    rmsNormForward(h, ctx.w.postNorm.data, norm, invRms, M, H, cfg.rmsNormEps);
    const gate = projectionForward(projection(ctx, 'gate'), norm, M);
    const up = projectionForward(projection(ctx, 'up'), norm, M);
    const act = allocLike(x, M * F);
    swigluForward(gate.y, up.y, act, M * F);
    const down = projectionForward(projection(ctx, 'down'), act, M);
    cache.mlp = { norm, invRms, gate, up, act, down };
    h = addInto(h, down.y);
  }
  return { out: h, cache };
}

/**
 * Backward of one layer. dOut is the gradient of the layer's output; returns the gradient of its
 * input, or undefined when needInputGrad is false (nothing below it trains).
 */
export function layerBackward(
  ctx: LayerContext, cache: LayerCache, dOut: FloatArray, grads: LayerGrads, needInputGrad: boolean,
): FloatArray | undefined {
  const { cfg } = ctx;
  const M = ctx.B * ctx.T, H = cfg.hiddenSize;
  // Gradient of the stream between the two sub-blocks: the residual path plus the MLP branch.
  let dMid = dOut;
  const needMidGrad = needInputGrad || !!ctx.plan.attention;
  if (cache.mlp) {
    const c = cache.mlp, F = cfg.intermediateSize;
    const dAct = allocLike(dOut, M * F);
    projectionBackward(projection(ctx, 'down'), c.act, c.down, dOut, M, projectionGrads(grads, 'down'), dAct);
    const dGate = allocLike(dOut, M * F), dUp = allocLike(dOut, M * F);
    swigluBackward(c.gate.y, c.up.y, dAct, dGate, dUp, M * F);
    const dNorm = allocLike(dOut, M * H);
    projectionBackward(projection(ctx, 'gate'), c.norm, c.gate, dGate, M, projectionGrads(grads, 'gate'), dNorm);
    projectionBackward(projection(ctx, 'up'), c.norm, c.up, dUp, M, projectionGrads(grads, 'up'), dNorm);
    if (needMidGrad || grads.base) {
      dMid = dOut.slice();
      rmsNormBackward(cache.mid, ctx.w.postNorm.data, c.invRms, dNorm, dMid, grads.base?.postNorm.data, M, H, true);
    }
  }
  if (!cache.attn) return needInputGrad ? dMid : undefined;
  const c = cache.attn;
  const qDim = cfg.numHeads * cfg.headDim, kvDim = cfg.numKvHeads * cfg.headDim;
  const dMixed = allocLike(dOut, M * qDim);
  projectionBackward(projection(ctx, 'o'), c.mixed, c.o, dMid, M, projectionGrads(grads, 'o'), dMixed);
  const dq = allocLike(dOut, M * qDim), dk = allocLike(dOut, M * kvDim), dv = allocLike(dOut, M * kvDim);
  attentionBackward(c.q.y, c.k.y, c.v.y, c.probs, dMixed, dq, dk, dv, attnShape(ctx));
  applyRope(dq, ctx.rope, ctx.B, ctx.T, cfg.numHeads, true);
  applyRope(dk, ctx.rope, ctx.B, ctx.T, cfg.numKvHeads, true);
  const needNormGrad = needInputGrad || !!grads.base;
  const dNorm = needNormGrad ? allocLike(dOut, M * H) : undefined;
  projectionBackward(projection(ctx, 'q'), c.norm, c.q, dq, M, projectionGrads(grads, 'q'), dNorm);
  projectionBackward(projection(ctx, 'k'), c.norm, c.k, dk, M, projectionGrads(grads, 'k'), dNorm);
  projectionBackward(projection(ctx, 'v'), c.norm, c.v, dv, M, projectionGrads(grads, 'v'), dNorm);
  if (!dNorm) return undefined;
  const dx = dMid.slice();
  rmsNormBackward(cache.x, ctx.w.inputNorm.data, c.invRms, dNorm, dx, grads.base?.inputNorm.data, M, H, true);
  return needInputGrad ? dx : undefined;
}
