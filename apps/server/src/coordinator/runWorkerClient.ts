/**
 * The coordinator's side of the run worker (runWorker.ts): held-out evaluation of global adapters,
 * layer importance and similarity, and calls on the strategy it hosts (workerStrategy.ts).
 */
import type { Worker } from 'node:worker_threads';
import { loraToPeftTensors, peftAdapterConfig, serializeSafetensors, type ImportanceMeasure, type LayerImportance, type LoraAdapter, type ModelConfig, type TokenBatch } from '@fedllm/core';
import { startTsWorker } from '../threads/startTsWorker';
import type { RunWorkerInit, RunWorkerReply, RunWorkerRequest, StrategyCall } from './runWorker';

export interface EvaluationResult {
  accuracy: number;
  evalLoss: number;
  majorityBaseline: number;
  n: number;
}

/** A final answer of the worker (not an error, not progress). */
type Answer = Exclude<RunWorkerReply, { error: string } | { layersDone: number }>;

export class RunWorker {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Answer) => void; reject: (e: Error) => void; progress?: (done: number, total: number) => void }>();

  constructor(init: RunWorkerInit, private readonly config: ModelConfig) {
    this.worker = startTsWorker(new URL('./runWorker.ts', import.meta.url), init);
    this.worker.on('message', (r: RunWorkerReply) => {
      if ('layersDone' in r) return this.pending.get(r.id)?.progress?.(r.layersDone, r.layers);
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (!p) return;
      if ('error' in r) p.reject(new Error(`run worker: ${r.error}`));
      else p.resolve(r);
    });
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`run worker exited (code ${code})`)));
  }

  async evaluate(adapter?: LoraAdapter): Promise<EvaluationResult> {
    const id = this.nextId++;
    const req: RunWorkerRequest = adapter
      ? { id, kind: 'evaluate', adapter: { configJson: JSON.stringify(peftAdapterConfig(adapter, this.config, 'base')), weights: serializeSafetensors(loraToPeftTensors(adapter)) } }
      : { id, kind: 'evaluate' };
    const r = await this.request(req);
    if (!('accuracy' in r)) throw new Error('run worker: answered an evaluation without metrics');
    return { accuracy: r.accuracy, evalLoss: r.evalLoss, majorityBaseline: r.majorityBaseline, n: r.n };
  }

  /** Importance of the base model's layers on calibration batches (layerImportance.ts); progress per layer scored. */
  async importance(measure: ImportanceMeasure, batches: TokenBatch[], progress?: (layersDone: number, layers: number) => void): Promise<LayerImportance[]> {
    const r = await this.request({ id: this.nextId++, kind: 'importance', measure, batches }, progress);
    if (!('importance' in r)) throw new Error('run worker: answered an importance request without importance');
    return r.importance;
  }

  /** Linear CKA between the base model's layer outputs on calibration batches (FedPruner's and FedSODA's groups). */
  async layerSimilarity(batches: TokenBatch[]): Promise<number[][]> {
    const r = await this.request({ id: this.nextId++, kind: 'layer-similarity', batches });
    if (!('similarity' in r)) throw new Error('run worker: answered a layer-similarity request without it');
    return r.similarity;
  }

  /** A call on the hosted strategy; its result as the worker posted it. */
  async strategy(call: StrategyCall): Promise<unknown> {
    const r = await this.request({ id: this.nextId++, kind: 'strategy', call });
    if (!('strategy' in r)) throw new Error(`run worker: answered strategy ${call.method} without a result`);
    return r.strategy;
  }

  private request(req: RunWorkerRequest, progress?: (done: number, total: number) => void): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject, progress });
      this.worker.postMessage(req);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
