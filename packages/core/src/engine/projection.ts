import { allocLike, type FloatArray } from './floatArray';
import { addBias, biasGrad, linearBackwardInput, linearBackwardWeight, linearForward } from './linear';
import type { LoraPair } from '../model/lora';
import type { ParamTensor } from './paramTensor';

/** A frozen (or fully trained) linear layer with an optional bias and LoRA pair. */
export interface Projection {
  w: ParamTensor; // [out, in]
  bias?: ParamTensor;
  lora?: LoraPair<ParamTensor>;
  loraScale: number;
}

/** Gradient slots of one projection; only the ones present are computed. */
export interface ProjectionGrads {
  w?: FloatArray;
  bias?: FloatArray;
  loraA?: FloatArray;
  loraB?: FloatArray;
}

export interface ProjectionOutput {
  y: FloatArray;
  /** x·Aᵀ [M, rank], kept for the LoRA backward. */
  mid?: FloatArray;
}

/** y[M,out] = x·Wᵀ + bias + scale·(x·Aᵀ)·Bᵀ. */
export function projectionForward(p: Projection, x: FloatArray, M: number): ProjectionOutput {
  const [fout, fin] = p.w.shape;
  const y = allocLike(x, M * fout);
  linearForward(x, p.w.data, y, M, fin, fout);
  if (p.bias) addBias(y, p.bias.data, M, fout);
  if (!p.lora) return { y };
  const r = p.lora.A.shape[0];
  const mid = allocLike(x, M * r);
  linearForward(x, p.lora.A.data, mid, M, fin, r);
  linearForward(mid, p.lora.B.data, y, M, r, fout, true, p.loraScale);
  return { y, mid };
}

/**
 * Backward of projectionForward. Accumulates parameter gradients into `g`, and, when dx is
 * given, accumulates the input gradient into it.
 */
export function projectionBackward(
  p: Projection, x: FloatArray, out: ProjectionOutput, dy: FloatArray, M: number, g: ProjectionGrads,
  dx: FloatArray | undefined,
): void {
  const [fout, fin] = p.w.shape;
  if (g.w) linearBackwardWeight(dy, x, g.w, M, fin, fout);
  if (g.bias) biasGrad(dy, g.bias, M, fout);
  if (p.lora && out.mid) {
    const r = p.lora.A.shape[0];
    if (g.loraB) linearBackwardWeight(dy, out.mid, g.loraB, M, r, fout, p.loraScale);
    if (g.loraA || dx) {
      const dMid = allocLike(x, M * r);
      linearBackwardInput(dy, p.lora.B.data, dMid, M, r, fout, false, p.loraScale);
      if (g.loraA) linearBackwardWeight(dMid, x, g.loraA, M, fin, r);
      if (dx) linearBackwardInput(dMid, p.lora.A.data, dx, M, fin, r, true);
    }
  }
  if (dx) linearBackwardInput(dy, p.w.data, dx, M, fin, fout, true);
}
