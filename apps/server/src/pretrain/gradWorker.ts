// Worker thread of the data-parallel pretrainer: computes full-parameter gradients of its shard
// of each batch into its own shared gradient buffers. Weights are shared memory owned by the
// main thread, which applies the optimizer step between batches.
import { parentPort, workerData } from 'node:worker_threads';
import { LlamaModel, type LlamaWeights, type ModelConfig, type ParamTensor, type TokenBatch } from '@fedllm/core';
import { listModelParams } from '@fedllm/core';

export interface GradWorkerInit {
  config: ModelConfig;
  weights: LlamaWeights<ParamTensor>;
  grads: LlamaWeights<ParamTensor>;
  maxSeqLen: number;
}

export interface GradRequest {
  batch: TokenBatch;
  gradDivisor: number;
}

export type GradReply = { lossSum: number; count: number } | { error: string };

const init = workerData as GradWorkerInit;
const model = new LlamaModel(init.config, init.weights, init.maxSeqLen);
const gradParams = listModelParams(init.grads);

parentPort!.on('message', (req: GradRequest) => {
  // Errors go back as a reply: an exception here would kill the thread and leave the trainer waiting.
  try {
    for (const p of gradParams) p.tensor.data.fill(0);
    const r = model.lossAndGrad(req.batch, {}, { base: init.grads }, req.gradDivisor);
    parentPort!.postMessage({ lossSum: r.lossSum, count: r.count } satisfies GradReply);
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message } satisfies GradReply);
  }
});
