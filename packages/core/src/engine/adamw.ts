import { allocLike, type FloatArray } from './floatArray';
import type { ParamTensor } from './paramTensor';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (PyTorch AdamW semantics), applied to params with decay=true. */
  weightDecay?: number;
}

/** One optimized tensor. decay=false exempts it from weight decay (norms, biases). */
export interface OptimizedParam {
  tensor: ParamTensor;
  decay?: boolean;
}

/**
 * AdamW exactly as torch.optim.AdamW: p ← p − lr·wd·p, then the bias-corrected Adam step.
 * State (m, v, step) is exposed so a trainer can checkpoint and resume it.
 */
export class AdamW {
  readonly m: FloatArray[];
  readonly v: FloatArray[];
  step = 0;
  readonly opts: Required<AdamWOptions>;

  constructor(readonly params: OptimizedParam[], opts: AdamWOptions) {
    this.opts = { lr: opts.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
    // Explicitly undefined options keep their defaults.
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) (this.opts as Record<string, number>)[k] = v;
    if (!(this.opts.lr >= 0)) throw new Error(`AdamW: learning rate must be >= 0, got ${opts.lr}`);
    this.m = params.map((p) => allocLike(p.tensor.data, p.tensor.data.length));
    this.v = params.map((p) => allocLike(p.tensor.data, p.tensor.data.length));
  }

  /** Applies one update with the given gradients (same order as params); lr overrides the default. */
  update(grads: FloatArray[], lr = this.opts.lr): void {
    if (grads.length !== this.params.length) throw new Error(`AdamW: ${grads.length} gradients for ${this.params.length} params`);
    const { beta1, beta2, eps, weightDecay } = this.opts;
    this.step++;
    const bc1 = 1 - Math.pow(beta1, this.step), bc2 = 1 - Math.pow(beta2, this.step);
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i].tensor.data, g = grads[i], m = this.m[i], v = this.v[i];
      if (g.length !== p.length) throw new Error(`AdamW: gradient ${i} has ${g.length} elements, param has ${p.length}`);
      const decay = this.params[i].decay === false ? 0 : lr * weightDecay;
      for (let j = 0; j < p.length; j++) {
        const gj = g[j];
        m[j] = beta1 * m[j] + (1 - beta1) * gj;
        v[j] = beta2 * v[j] + (1 - beta2) * gj * gj;
        p[j] = p[j] * (1 - decay) - (lr * (m[j] / bc1)) / (Math.sqrt(v[j] / bc2) + eps);
      }
    }
  }
}

/** Global L2 norm of the gradients. */
export function gradNorm(grads: FloatArray[]): number {
  let s = 0;
  for (const g of grads) for (let j = 0; j < g.length; j++) s += g[j] * g[j];
  return Math.sqrt(s);
}

/** Scales gradients in place so their global norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(grads: FloatArray[], maxNorm: number): number {
  const n = gradNorm(grads);
  if (n > maxNorm && n > 0) {
    const s = maxNorm / n;
    for (const g of grads) for (let j = 0; j < g.length; j++) g[j] *= s;
  }
  return n;
}
