/**
 * Assembles a FederatedRun from its stored settings: the task data and shards, the evaluator, layer
 * importance on calibration batches (for the planner), the aggregation rule, and persistence; and
 * restores the global adapter of the last committed round (or the seeded initial adapter).
 */
import {
  createLoraAdapter, LlamaModel, SeededRandom, layerLossOnSkip, layerOutputCka,
  type ClassificationTask, type LoraAdapter, type RoundSummary, type RunSettings, type TextTokenizer,
} from '@fedllm/core';
import { loadModelDir, modelNameOrPath } from '@fedllm/core/node';
import type { RunStore } from '../storage/runStore';
import { loadRoundCheckpoint } from '../storage/roundCheckpoints';
import type { ClientRegistry } from './clientRegistry';
import { Evaluator } from './evaluator';
import { FederatedRun } from './federatedRun';
import type { ModelParts } from './modelParts';
import { SqliteRunPersistence } from './runPersistence';
import { TaskData } from './taskData';
import { publicCalibrationBatches } from './publicCalibration';
import { runStrategy } from './runStrategy';
import { ServedModels } from './servedModels';
import { maxUpdateBytes } from './updateValidation';

export interface OpenRunOptions {
  runId: string;
  settings: RunSettings;
  modelDir: string;
  runsDir: string;
  model: ModelParts;
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

export async function openRun(o: OpenRunOptions): Promise<OpenedRun> {
  const s = o.settings, cfg = o.model.config;
  const data = new TaskData(o.task, o.tokenizer, s);
  const evaluator = new Evaluator({ modelDir: o.modelDir, task: s.task, examples: s.evalExamples, maxLen: s.seqLen }, cfg);

  // Layer importance by loss-on-skip on calibration data with the CPU engine (see layerImportance.ts).
  const loaded = await loadModelDir(o.modelDir);
  const cpu = new LlamaModel(cfg, loaded.weights);
  const batches = data.calibrationBatches(CALIBRATION_BATCHES, CALIBRATION_ROWS, s.seqLen);
  const importance = layerLossOnSkip(cpu, batches);
  o.log(`layer importance (loss increase when skipped): ${importance.map((v) => v.layer.toFixed(4)).join(', ')}`);

  const resume = o.store.resumeState(o.runId);
  let global: LoraAdapter;
  if (resume.committedRound >= 0) {
    global = await loadRoundCheckpoint(resume.checkpointDir!, cfg, resume.adapterSha256!);
    o.log(`restored the global adapter of round ${resume.committedRound} from ${resume.checkpointDir}`);
  } else {
    // Seeded, so a run restarted before its first commit starts from the same adapter.
    global = createLoraAdapter(cfg, s.lora, [...Array(cfg.numLayers).keys()], new SeededRandom(s.seed));
  }
  const persistence = new SqliteRunPersistence(o.store, o.runId, o.runsDir, cfg, await modelNameOrPath(o.modelDir));
  const limit = maxUpdateBytes(cfg, s.lora);
  const served = new ServedModels(o.model, o.tokenizerJson);
  const strategy = runStrategy({
    settings: s, parts: o.model, weights: loaded.weights, served, importance, maxUpdateBytes: limit, log: o.log,
    layerSimilarity: () => layerOutputCka(cpu, batches),
    publicBatches: () => publicCalibrationBatches(o.tokenizer, CALIBRATION_BATCHES, CALIBRATION_ROWS, s.seqLen, s.seed),
  });
  if (resume.committedRound >= 0) strategy.restore(global);
  const run = new FederatedRun({
    runId: o.runId, settings: s, model: o.model, data, registry: o.registry, evaluator, persistence, log: o.log,
    onRoundCommitted: o.onRoundCommitted, onChange: o.onChange, ...strategy,
  }, global, resume.committedRound, resume.nextAttempt);
  run.rounds.push(...resume.rounds);
  const base = await evaluator.evaluate();
  run.baseAccuracy = base.accuracy;
  run.baseEvalLoss = base.evalLoss;
  o.log(`base model on ${base.n} held-out examples: accuracy ${base.accuracy.toFixed(3)} (majority class ${base.majorityBaseline.toFixed(3)}), eval loss ${base.evalLoss.toFixed(4)}`);
  return { run, served, close: () => evaluator.close() };
}
