/** Held-out evaluation of global adapters, in a worker thread (see evaluationWorker.ts). */
import type { Worker } from 'node:worker_threads';
import { loraToPeftTensors, peftAdapterConfig, serializeSafetensors, type LoraAdapter, type ModelConfig } from '@fedllm/core';
import { startTsWorker } from '../threads/startTsWorker';
import type { EvaluationReply, EvaluationRequest, EvaluationWorkerInit } from './evaluationWorker';

export interface EvaluationResult {
  accuracy: number;
  evalLoss: number;
  majorityBaseline: number;
  n: number;
}

export class Evaluator {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: EvaluationResult) => void; reject: (e: Error) => void }>();

  constructor(init: EvaluationWorkerInit, private readonly config: ModelConfig) {
    this.worker = startTsWorker(new URL('./evaluationWorker.ts', import.meta.url), init);
    this.worker.on('message', (r: EvaluationReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (!p) return;
      if ('error' in r) p.reject(new Error(`evaluation failed: ${r.error}`));
      else p.resolve(r);
    });
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`evaluation worker exited (code ${code})`)));
  }

  evaluate(adapter?: LoraAdapter): Promise<EvaluationResult> {
    const id = this.nextId++;
    const req: EvaluationRequest = adapter
      ? { id, adapter: { configJson: JSON.stringify(peftAdapterConfig(adapter, this.config, 'base')), weights: serializeSafetensors(loraToPeftTensors(adapter)) } }
      : { id };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(req);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
