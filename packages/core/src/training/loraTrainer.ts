import { AdamW, clipGradNorm } from '../engine/adamw';
import { listLoraParams, zeroLoraGradsLike } from '../engine/gradBuffers';
import type { LlamaModel, TokenBatch } from '../engine/llamaModel';
import type { LoraAdapter } from '../model/lora';
import type { ParamTensor } from '../engine/paramTensor';
import type { SubmodelPlan } from '../model/submodelPlan';

export interface LoraTrainingOptions {
  lr: number;
  weightDecay?: number;
  clipNorm?: number;
  /** AdamW epsilon (default 1e-8). */
  eps?: number;
  plan?: SubmodelPlan;
}

/**
 * Local LoRA training on the CPU engine: the base model stays frozen, AdamW updates the adapter
 * in place. This is what a client does in a federated round, and the reference the WGSL
 * engine's training curve is compared with.
 */
export class LoraTrainer {
  private readonly optimizer: AdamW;
  private readonly grads: LoraAdapter<ParamTensor>;
  private readonly gradList;

  constructor(readonly model: LlamaModel, readonly adapter: LoraAdapter<ParamTensor>, readonly opts: LoraTrainingOptions) {
    this.grads = zeroLoraGradsLike(adapter);
    this.gradList = listLoraParams(this.grads).map((p) => p.tensor.data);
    this.optimizer = new AdamW(listLoraParams(adapter).map((p) => ({ tensor: p.tensor })), {
      lr: opts.lr, weightDecay: opts.weightDecay ?? 0, eps: opts.eps,
    });
  }

  /** One optimizer step; returns the batch's mean loss (before the update). */
  step(batch: TokenBatch, lr = this.opts.lr): number {
    for (const g of this.gradList) g.fill(0);
    const r = this.model.lossAndGrad(batch, { plan: this.opts.plan, lora: this.adapter }, { lora: this.grads });
    if (r.count === 0) throw new Error('LoraTrainer.step: the batch has no counted targets');
    const loss = r.lossSum / r.count;
    if (!Number.isFinite(loss)) throw new Error(`LoraTrainer.step: loss is ${loss}`);
    if (this.opts.clipNorm) clipGradNorm(this.gradList, this.opts.clipNorm);
    this.optimizer.update(this.gradList, lr);
    return loss;
  }
}
