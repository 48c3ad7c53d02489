/**
 * Assembles a FederatedRun from its stored settings: the task data and shards, the evaluator, layer
 * importance on calibration batches (for the planner), the aggregation rule, and persistence; and
 * restores the global adapter of the last committed round (or the seeded initial adapter).
 */
import { createHash } from 'node:crypto';
import {
  type StrategyState,
  type ClassificationTask, type LayerImportance, type LlamaWeights, type LoraAdapter, type RoundSummary, type RunSettings, type TextTokenizer, type TokenBatch,
} from '@fedllm/core';
import { modelNameOrPath } from '@fedllm/core/node';
import type { RunStore } from '../storage/runStore';
import { loadRoundCheckpoint } from '../storage/roundCheckpoints';
import type { ClientRegistry } from './clientRegistry';
import { RunWorker, type EvaluationResult } from './runWorkerClient';
import { FederatedRun } from './federatedRun';
import type { ModelParts } from './modelParts';
import { SqliteRunPersistence } from './runPersistence';
import { TaskData } from './taskData';
import { publicCalibrationBatches } from './publicCalibration';
import { readsLayerSimilarity } from './runStrategy';
import { WorkerStrategy } from './workerStrategy';
import { ServedModels } from './servedModels';
import { maxUpdateBytes } from './updateValidation';

export interface OpenRunOptions {
  runId: string;
  settings: RunSettings;
  modelDir: string;
  runsDir: string;
  model: ModelParts;
  /** The model's float32 weights (the catalog's copy): the CPU engine's, for the strategies' measurements. */
  weights: LlamaWeights;
  store: RunStore;
  registry: ClientRegistry;
  task: ClassificationTask;
  tokenizer: TextTokenizer;
  /** The tokenizer file, served with derived models (DevFT stages, FedSODA sub-models). */
  tokenizerJson: string | undefined;
  log: (m: string) => void;
  onRoundCommitted: (s: RoundSummary) => void;
  onChange: () => void;
}

export interface OpenedRun {
  run: FederatedRun;
  /** The run's derived models, for the HTTP model routes. */
  served: ServedModels;
  close(): Promise<void>;
}

/** Calibration data for layer importance: CALIBRATION_BATCHES × CALIBRATION_ROWS training examples. */
const CALIBRATION_BATCHES = 2;
const CALIBRATION_ROWS = 8;
/** Bump when what a cached measurement means changes (its code, or the task files it reads). */
const MEASUREMENT_VERSION = 1;

/** A stable key of calibration batches: what the importance was measured on. */
function batchesKey(batches: readonly TokenBatch[]): string {
  const h = createHash('sha256').update(`v${MEASUREMENT_VERSION}`);
  for (const b of batches) {
    h.update(`${b.B}x${b.T}`);
    h.update(new Uint8Array(b.inputIds.buffer, b.inputIds.byteOffset, b.inputIds.byteLength));
    h.update(new Uint8Array(b.targets.buffer, b.targets.byteOffset, b.targets.byteLength));
  }
  return h.digest('hex');
}

/**
 * A measurement of the run's model kept in the store by (model id, kind, inputs): read back, or
 * measured (timed, logged with `done`) and stored. Minutes of CPU work on a large model, done once.
 */
async function measuredOnce<T>(
  o: OpenRunOptions, kind: string, key: string,
  how: { measure: (t0: number) => Promise<T>; done: (seconds: string) => string; stored?: () => void },
): Promise<T> {
  const stored = o.store.measurement(o.model.id, kind, key) as T | undefined;
  if (stored !== undefined) {
    how.stored?.();
    return stored;
  }
  const t0 = performance.now();
  const value = await how.measure(t0);
  o.store.storeMeasurement(o.model.id, kind, key, value);
  o.log(how.done(((performance.now() - t0) / 1000).toFixed(1)));
  return value;
}

export async function openRun(o: OpenRunOptions): Promise<OpenedRun> {
  const s = o.settings, cfg = o.model.config;
  const data = new TaskData(o.task, o.tokenizer, s);
  const evaluator = new RunWorker({ modelDir: o.modelDir, task: s.task, examples: s.evalExamples, maxLen: s.seqLen }, cfg);
  try {
    return await prepareRun(o, data, evaluator);
  } catch (e) {
    await evaluator.close();
    throw e;
  }
}

async function prepareRun(o: OpenRunOptions, data: TaskData, evaluator: RunWorker): Promise<OpenedRun> {
  const s = o.settings, cfg = o.model.config;

  // Layer importance by loss-on-skip on calibration data with the CPU engine (see layerImportance.ts),
  // in the run worker, once per model and calibration data (kept in the store).
  const batches = data.calibrationBatches(CALIBRATION_BATCHES, CALIBRATION_ROWS, s.seqLen);
  const importanceKey = batchesKey(batches), kind = `layer-importance:${s.importance}`;
  const importance = await measuredOnce<LayerImportance[]>(o, kind, importanceKey, {
    stored: () => o.log(`layer importance (${s.importance}) of model ${o.model.id} on these calibration batches: from the store`),
    measure: (t0) => {
      o.log(`measuring layer importance (${s.importance}, ${batches.reduce((a, b) => a + b.B * b.T, 0)} calibration tokens, ${cfg.numLayers} layers) ...`);
      let lastLog = t0;
      return evaluator.importance(s.importance, batches, (done, total) => {
        // A large model takes minutes per layer on the CPU engine: say where it is, at most every 30 s.
        const now = performance.now();
        if (now - lastLog < 30_000 || done === total) return;
        lastLog = now;
        // Skipping layer i reruns the L - i layers from it (layerLossOnSkip), after one full pass.
        const work = (d: number) => total + 3 * (d * total - (d * (d - 1)) / 2);
        const eta = (((now - t0) / work(done)) * (work(total) - work(done))) / 1000;
        o.log(`layer importance: ${done} of ${total} layers scored, about ${eta.toFixed(0)} s to go`);
      });
    },
    done: (seconds) => `layer importance measured in ${seconds} s`,
  });
  o.log(`layer importance (${s.importance === 'loss-on-skip' ? 'loss increase when skipped' : '1 - cos(stream in, stream out)'}): ${importance.map((v) => v.layer.toFixed(4)).join(', ')}`);

  // FedPruner's and FedSODA's groups need the layer CKA: measured in the worker, kept in the store.
  const layerSimilarity = !readsLayerSimilarity(s.strategy) ? [] : await measuredOnce<number[][]>(o, 'layer-similarity:linear-cka', importanceKey, {
    measure: () => evaluator.layerSimilarity(batches),
    done: (seconds) => `layer similarity (linear CKA of layer outputs) measured in ${seconds} s`,
  });
  const served = new ServedModels(o.model, o.tokenizerJson);
  const strategy = await WorkerStrategy.open(evaluator, served, s, { config: cfg, weights: o.weights }, {
    importance, layerSimilarity, weightFormat: o.model.weightFormat, vocabFormat: o.model.vocabFormat,
    publicBatches: s.strategy === 'fedsoda' ? publicCalibrationBatches(o.tokenizer, CALIBRATION_BATCHES, CALIBRATION_ROWS, s.seqLen, s.seed) : [],
  });
  const resume = o.store.resumeState(o.runId);
  let global: LoraAdapter;
  if (resume.committedRound >= 0) {
    global = await loadRoundCheckpoint(resume.checkpointDir!, cfg, resume.adapterSha256!);
    await strategy.restore(global, resume.strategyState as StrategyState | undefined);
    o.log(`restored the global adapter of round ${resume.committedRound} from ${resume.checkpointDir}${resume.strategyState ? ' and the strategy\'s state' : ''}`);
  } else {
    // Seeded, so a run restarted before its first commit starts from the same adapter.
    global = await strategy.initialGlobal();
  }
  const persistence = new SqliteRunPersistence(o.store, o.runId, o.runsDir, cfg, await modelNameOrPath(o.modelDir));
  const run = new FederatedRun({
    runId: o.runId, settings: s, data, registry: o.registry, evaluator, persistence, strategy, served, maxUpdateBytes: maxUpdateBytes(cfg, s.lora),
    events: { log: o.log, onRoundCommitted: o.onRoundCommitted, onChange: o.onChange },
  }, global, resume.committedRound, resume.nextAttempt);
  run.rounds.push(...resume.rounds);
  // The tokenizer and its chat template shape the prompts: a probe prompt's tokens are part of the key.
  const probe = o.tokenizer.encode(`${o.task.prompt('a probe')}${o.task.completion(0)}`);
  const promptHash = createHash('sha256').update(probe.join(',')).digest('hex').slice(0, 16);
  const baseKey = JSON.stringify({ v: MEASUREMENT_VERSION, task: s.task, examples: s.evalExamples, maxLen: s.seqLen, prompts: promptHash });
  const base = await measuredOnce<EvaluationResult>(o, 'base-evaluation', baseKey, {
    measure: () => evaluator.evaluate(),
    done: (seconds) => `base model evaluated in ${seconds} s`,
  });
  run.baseAccuracy = base.accuracy;
  run.baseEvalLoss = base.evalLoss;
  o.log(`base model on ${base.n} held-out examples: accuracy ${base.accuracy.toFixed(3)} (majority class ${base.majorityBaseline.toFixed(3)}), eval loss ${base.evalLoss.toFixed(4)}`);
  return { run, served, close: () => evaluator.close() };
}
