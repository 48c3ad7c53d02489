// Worker thread that scores adapters on the task's held-out split with the CPU engine, and measures
// layer importance and layer similarity on calibration batches, so the coordinator's event loop keeps answering sockets
// (heartbeats, hellos, updates, the volunteer page) while it runs.
import { parentPort, workerData } from 'node:worker_threads';
import {
  blockInfluenceImportance, classificationAccuracy, layerLossOnSkip, layerOutputCka, LlamaModel, loraFromPeft, parseSafetensors, taskForModel,
  type ImportanceMeasure, type LayerImportance, type RunTask, type TokenBatch,
} from '@fedllm/core';
import { loadModelDir, loadTask, loadTokenizerDir } from '@fedllm/core/node';

export interface EvaluationWorkerInit {
  modelDir: string;
  task: RunTask;
  examples: number;
  maxLen: number;
}

export type EvaluationRequest =
  /** PEFT adapter (config JSON + safetensors bytes); none scores the base model. */
  | { id: number; kind: 'evaluate'; adapter?: { configJson: string; weights: Uint8Array } }
  /** Importance of every layer and sub-block of the base model on these batches. */
  | { id: number; kind: 'importance'; measure: ImportanceMeasure; batches: TokenBatch[] }
  /** L×L linear CKA of the base model's layer outputs on these batches (layerSimilarity.ts). */
  | { id: number; kind: 'layer-similarity'; batches: TokenBatch[] };

export type EvaluationReply =
  | { id: number; accuracy: number; evalLoss: number; majorityBaseline: number; n: number }
  | { id: number; importance: LayerImportance[] }
  | { id: number; similarity: number[][] }
  /** Progress of an importance request: layers scored so far (several per request, then the result). */
  | { id: number; layersDone: number; layers: number }
  | { id: number; error: string };

const init = workerData as EvaluationWorkerInit;
const loaded = await loadModelDir(init.modelDir);
const model = new LlamaModel(loaded.config, loaded.weights);
const tok = await loadTokenizerDir(init.modelDir);
const task = taskForModel(loadTask(init.task), tok);
const examples = task.test.slice(0, init.examples);

parentPort!.on('message', (req: EvaluationRequest) => {
  try {
    if (req.kind === 'layer-similarity') {
      parentPort!.postMessage({ id: req.id, similarity: layerOutputCka(model, req.batches) } satisfies EvaluationReply);
      return;
    }
    if (req.kind === 'importance') {
      const importance = req.measure === 'block-influence'
        ? blockInfluenceImportance(model, req.batches)
        : layerLossOnSkip(model, req.batches, (layersDone, layers) => parentPort!.postMessage({ id: req.id, layersDone, layers } satisfies EvaluationReply));
      parentPort!.postMessage({ id: req.id, importance } satisfies EvaluationReply);
      return;
    }
    const lora = req.adapter ? loraFromPeft(JSON.parse(req.adapter.configJson), parseSafetensors(req.adapter.weights), loaded.config) : undefined;
    const m = classificationAccuracy(model, tok, task, examples, { maxLen: init.maxLen, lora });
    // evalLoss: mean negative log-probability of the true label's completion.
    parentPort!.postMessage({ id: req.id, accuracy: m.accuracy, evalLoss: -m.meanTrueLogProb, majorityBaseline: m.majorityBaseline, n: m.n } satisfies EvaluationReply);
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: (e as Error).message } satisfies EvaluationReply);
  }
});
