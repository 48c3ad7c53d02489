// The run's worker thread: everything slow a run does with the model on the CPU engine, so the
// coordinator's event loop keeps answering sockets (heartbeats, hellos, updates, the volunteer
// page, health checks) meanwhile. It scores adapters on the task's held-out split, measures layer
// importance and similarity on calibration batches, and hosts the run's strategy (plans, DevFT's
// fused stage models, FedSODA's alignment, aggregation); one float copy of the model serves all.
import { parentPort, workerData } from 'node:worker_threads';
import {
  blockInfluenceImportance, classificationAccuracy, isExcluded, layerLossOnSkip, layerOutputCka, LlamaModel, loraFromPeft, parseSafetensors,
  SeededRandom, taskForModel, type ClientOffer, type ClientTask, type ExcludedClient, type FederatedStrategy, type ImportanceMeasure,
  type LayerImportance, type LlamaWeights, type LoraAdapter, type ModelConfig, type RunSettings, type RunTask, type StrategyState,
  type TokenBatch, type WeightFormat,
} from '@fedllm/core';
import { loadModelDir, loadTask, loadTokenizerDir } from '@fedllm/core/node';
import { createRunStrategy, type RunMeasurements } from './runStrategy';

export interface RunWorkerInit {
  modelDir: string;
  task: RunTask;
  examples: number;
  maxLen: number;
}

/** A served model across the thread boundary: its weights only when the coordinator does not hold that key yet. */
export interface ServedModelWire {
  key: string;
  config: ModelConfig;
  weightFormat: WeightFormat;
  weights?: LlamaWeights;
}

/** A task across the thread boundary; `ref` names it when its update comes back for aggregation. */
export type TaskWire = (Omit<ClientTask, 'model'> & { model: ServedModelWire; ref: number }) | ExcludedClient;

/** A call on the hosted strategy (FederatedStrategy's methods, in wire form). */
export type StrategyCall =
  | { method: 'open'; settings: RunSettings; measurements: RunMeasurements }
  | { method: 'initialGlobal' }
  | { method: 'configureRound'; round: number; global: LoraAdapter; clients: ClientOffer[]; rngState: number[]; heldKeys: string[] }
  | { method: 'aggregate'; global: LoraAdapter; updates: { ref: number; adapter: LoraAdapter; numSamples: number }[] }
  | { method: 'snapshot' }
  | { method: 'restore'; global: LoraAdapter; state: StrategyState | undefined }
  | { method: 'describe' };

export type RunWorkerRequest =
  /** PEFT adapter (config JSON + safetensors bytes); none scores the base model. */
  | { id: number; kind: 'evaluate'; adapter?: { configJson: string; weights: Uint8Array } }
  /** Importance of every layer and sub-block of the base model on these batches. */
  | { id: number; kind: 'importance'; measure: ImportanceMeasure; batches: TokenBatch[] }
  /** L×L linear CKA of the base model's layer outputs on these batches (layerSimilarity.ts). */
  | { id: number; kind: 'layer-similarity'; batches: TokenBatch[] }
  | { id: number; kind: 'strategy'; call: StrategyCall };

export type RunWorkerReply =
  | { id: number; accuracy: number; evalLoss: number; majorityBaseline: number; n: number }
  | { id: number; importance: LayerImportance[] }
  | { id: number; similarity: number[][] }
  /** The strategy call's result (see WorkerStrategy for each method's type). */
  | { id: number; strategy: unknown }
  /** Progress of an importance request: layers scored so far (several per request, then the result). */
  | { id: number; layersDone: number; layers: number }
  | { id: number; error: string };

const init = workerData as RunWorkerInit;
const loaded = await loadModelDir(init.modelDir);
const model = new LlamaModel(loaded.config, loaded.weights);
const tok = await loadTokenizerDir(init.modelDir);
const task = taskForModel(loadTask(init.task), tok);
const examples = task.test.slice(0, init.examples);

let strategy: FederatedStrategy | undefined;
/** The tasks of the last configured round attempt, by ref (updates come back for those only). */
let issued = new Map<number, ClientTask>();
let nextRef = 0;

function callStrategy(call: StrategyCall): unknown {
  if (call.method === 'open') {
    strategy = createRunStrategy(call.settings, loaded.config, loaded.weights, call.measurements);
    issued = new Map();
    return null;
  }
  if (!strategy) throw new Error(`strategy ${call.method} before the strategy was opened`);
  switch (call.method) {
    case 'initialGlobal':
      return strategy.initialGlobal();
    case 'configureRound': {
      const held = new Set(call.heldKeys);
      issued = new Map();
      return strategy.configureRound(call.round, call.global, call.clients, SeededRandom.fromState(call.rngState)).map((a): TaskWire => {
        if (isExcluded(a)) return a;
        const ref = nextRef++;
        issued.set(ref, a);
        const m = a.model;
        // The run's own base and models the coordinator already serves (or was sent above) go without their weights.
        const weights = m.key === 'base' || held.has(m.key) ? undefined : m.weights;
        held.add(m.key);
        return { ...a, ref, model: { key: m.key, config: m.config, weightFormat: m.weightFormat, weights } };
      });
    }
    case 'aggregate':
      return strategy.aggregate(call.global, call.updates.map((u) => {
        const t = issued.get(u.ref);
        if (!t) throw new Error(`aggregate: task ${u.ref} is not a task of the last configured round`);
        return { task: t, adapter: u.adapter, numSamples: u.numSamples };
      }));
    case 'snapshot':
      return strategy.snapshot();
    case 'restore':
      strategy.restore(call.global, call.state);
      return null;
    case 'describe':
      return strategy.describe();
  }
}

parentPort!.on('message', (req: RunWorkerRequest) => {
  try {
    if (req.kind === 'strategy') {
      parentPort!.postMessage({ id: req.id, strategy: callStrategy(req.call) } satisfies RunWorkerReply);
      return;
    }
    if (req.kind === 'layer-similarity') {
      parentPort!.postMessage({ id: req.id, similarity: layerOutputCka(model, req.batches) } satisfies RunWorkerReply);
      return;
    }
    if (req.kind === 'importance') {
      const importance = req.measure === 'block-influence'
        ? blockInfluenceImportance(model, req.batches)
        : layerLossOnSkip(model, req.batches, (layersDone, layers) => parentPort!.postMessage({ id: req.id, layersDone, layers } satisfies RunWorkerReply));
      parentPort!.postMessage({ id: req.id, importance } satisfies RunWorkerReply);
      return;
    }
    const lora = req.adapter ? loraFromPeft(JSON.parse(req.adapter.configJson), parseSafetensors(req.adapter.weights), loaded.config) : undefined;
    const m = classificationAccuracy(model, tok, task, examples, { maxLen: init.maxLen, lora });
    // evalLoss: mean negative log-probability of the true label's completion.
    parentPort!.postMessage({ id: req.id, accuracy: m.accuracy, evalLoss: -m.meanTrueLogProb, majorityBaseline: m.majorityBaseline, n: m.n } satisfies RunWorkerReply);
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: (e as Error).message } satisfies RunWorkerReply);
  }
});
