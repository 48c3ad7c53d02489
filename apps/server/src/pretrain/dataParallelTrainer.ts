import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../threads/startTsWorker';
import {
  AdamW, clipGradNorm, listModelParams, zeroGradsLike,
  type FloatArray, type LlamaWeights, type ModelConfig, type ParamTensor, type TokenBatch,
} from '@fedllm/core';
import type { GradReply, GradRequest, GradWorkerInit } from './gradWorker';
import { shareWeights } from './sharedWeights';

export interface DataParallelOptions {
  workers: number;
  lr: number;
  weightDecay: number;
  beta2?: number;
  clipNorm: number;
  maxSeqLen: number;
}

/**
 * Full-parameter training of a LlamaModel on several CPU cores: each worker thread computes the
 * gradient of one shard of the batch (divided by the whole batch's token count, so the shards'
 * gradients sum to the batch gradient); the main thread sums them, clips and steps AdamW on the
 * shared weights. Numerically the same as one thread up to float32 summation order.
 */
export class DataParallelTrainer {
  readonly weights: LlamaWeights<ParamTensor>;
  private readonly workers: Worker[] = [];
  private readonly workerGrads: FloatArray[][] = [];
  private readonly optimizer: AdamW;

  constructor(readonly config: ModelConfig, weights: LlamaWeights<ParamTensor>, readonly opts: DataParallelOptions) {
    this.weights = shareWeights(weights);
    const params = listModelParams(this.weights);
    // No decay on norms (1-D): decaying them toward 0 fights the normalisation.
    this.optimizer = new AdamW(
      params.map((p) => ({ tensor: p.tensor, decay: p.tensor.shape.length > 1 })),
      { lr: opts.lr, weightDecay: opts.weightDecay, beta2: opts.beta2 ?? 0.95 },
    );
    for (let i = 0; i < opts.workers; i++) {
      const grads = shareWeights(zeroGradsLike(this.weights));
      this.workerGrads.push(listModelParams(grads).map((p) => p.tensor.data));
      const init: GradWorkerInit = { config, weights: this.weights, grads, maxSeqLen: opts.maxSeqLen };
      this.workers.push(startTsWorker(new URL('./gradWorker.ts', import.meta.url), init));
    }
  }

  private run(w: Worker, req: GradRequest): Promise<{ lossSum: number; count: number }> {
    return new Promise((resolve, reject) => {
      const done = () => { w.off('message', onMsg); w.off('error', onErr); w.off('exit', onExit); };
      const onMsg = (r: GradReply) => {
        done();
        if ('error' in r) reject(new Error(`gradient worker: ${r.error}`));
        else resolve(r);
      };
      const onErr = (e: Error) => { done(); reject(e); };
      const onExit = (code: number) => { done(); reject(new Error(`gradient worker exited (code ${code})`)); };
      w.on('message', onMsg);
      w.on('error', onErr);
      w.on('exit', onExit);
      w.postMessage(req);
    });
  }

  /** One optimizer step on the batch; returns its mean loss and the gradient norm before clipping. */
  async step(batch: TokenBatch, lr: number): Promise<{ loss: number; gradNorm: number }> {
    let count = 0;
    for (const t of batch.targets) if (t !== -1) count++;
    if (count === 0) throw new Error('step: batch has no counted targets');
    const n = this.workers.length, per = Math.ceil(batch.B / n);
    const jobs: Promise<{ lossSum: number; count: number }>[] = [];
    for (let i = 0; i < n; i++) {
      const b0 = i * per, b1 = Math.min(batch.B, b0 + per);
      if (b0 >= b1) break;
      const shard: TokenBatch = {
        B: b1 - b0, T: batch.T,
        inputIds: batch.inputIds.slice(b0 * batch.T, b1 * batch.T),
        targets: batch.targets.slice(b0 * batch.T, b1 * batch.T),
      };
      jobs.push(this.run(this.workers[i], { batch: shard, gradDivisor: count }));
    }
    const replies = await Promise.all(jobs);
    const total = this.workerGrads[0];
    for (let i = 1; i < replies.length; i++) {
      const g = this.workerGrads[i];
      for (let p = 0; p < total.length; p++) {
        const a = total[p], b = g[p];
        for (let j = 0; j < a.length; j++) a[j] += b[j];
      }
    }
    const gradNorm = clipGradNorm(total, this.opts.clipNorm);
    this.optimizer.update(total, lr);
    const lossSum = replies.reduce((s, r) => s + r.lossSum, 0);
    return { loss: lossSum / count, gradNorm };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
