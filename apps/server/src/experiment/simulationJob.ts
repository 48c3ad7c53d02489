/**
 * One cell of the experiment grid (study × strategy × seed): loads the model and data, measures
 * what the coordinator measures before round 0 (layer importance, layer CKA), builds the client
 * population and runs the simulated federated run.
 */
import {
  createStrategy, fullPlan, type FederatedStrategy, layerLossOnSkip, layerOutputCka, LlamaModel, parseRunSettings, planPeakBytes, type StrategyName,
  taskForModel,
} from '@fedllm/core';
import { loadModelDir, loadTask, loadTokenizerDir } from '@fedllm/core/node';
import { publicCalibrationBatches } from '../coordinator/publicCalibration';
import { TaskData } from '../coordinator/taskData';
import type { ExperimentConfig, StudyConfig } from './experimentConfig';
import { evaluateAdapter, runSimulation, type BaseEvaluation, type LocalTrainer, type SimClient, type SimRound } from './federatedSimulator';

export interface SimulationJob {
  config: ExperimentConfig;
  study: StudyConfig;
  strategy: StrategyName;
  seed: number;
}

export interface SimulationJobResult {
  study: string;
  strategy: StrategyName;
  seed: number;
  fullPeakBytes: number;
  clients: SimClient[];
  base: BaseEvaluation;
  rounds: SimRound[];
  seconds: number;
}

/** Calibration rows per batch (the coordinator's runFactory uses the same 8). */
const CALIBRATION_ROWS = 8;

/**
 * `wrap`: a strategy wrapper applied to the job's method (a defence, a privacy mechanism), as a
 * coordinator would run it.
 */
export async function runSimulationJob(
  job: SimulationJob, log?: (m: string) => void, trainLocal?: LocalTrainer, wrap?: (s: FederatedStrategy) => FederatedStrategy,
): Promise<SimulationJobResult> {
  const t0 = performance.now();
  const { config: c, study } = job;
  const loaded = await loadModelDir(c.model);
  const cfg = loaded.config;
  const tok = await loadTokenizerDir(c.model);
  const task = taskForModel(loadTask(study.task), tok);
  const clientCount = c.tiers.reduce((a, t) => a + t.count, 0);
  const totalRounds = study.rounds ?? c.rounds;
  const localSteps = study.localSteps ?? c.localSteps;
  const settings = parseRunSettings({
    task: study.task, rounds: totalRounds, localSteps, batch: c.batch, seqLen: c.seqLen, lr: c.lr, clipNorm: c.clipNorm,
    lora: c.lora, partition: study.partition, shards: clientCount, seed: job.seed, clientsPerRound: clientCount, evalExamples: study.evalExamples,
  });
  const data = new TaskData(task, tok, settings);
  const baseModel = new LlamaModel(cfg, loaded.weights, c.seqLen);

  // As the coordinator does: importance and CKA on task calibration rows, once per run.
  const calib = data.calibrationBatches(c.calibrationBatches, CALIBRATION_ROWS, c.seqLen);
  const importance = layerLossOnSkip(baseModel, calib);
  const layerSimilarity = layerOutputCka(baseModel, calib);
  const publicBatches = publicCalibrationBatches(tok, c.calibrationBatches, CALIBRATION_ROWS, c.seqLen, job.seed);

  const shape = { config: cfg, lora: c.lora, batch: c.batch, seqLen: c.seqLen, clipNorm: c.clipNorm, logitsChunkRows: c.logitsChunkRows };
  const fullPeakBytes = planPeakBytes(shape, fullPlan(cfg));
  const clients: SimClient[] = [];
  for (const t of c.tiers) {
    for (let k = 0; k < t.count; k++) {
      clients.push({ clientId: `${t.name}-${k}`, tier: t.name, budgetBytes: Math.floor(t.fraction * fullPeakBytes), shard: clients.length });
    }
  }
  const method = createStrategy(job.strategy, {
    ...shape, weights: loaded.weights, importance, layerSimilarity, publicBatches, totalRounds, seed: job.seed,
  }, c.strategyOptions);
  const strategy = wrap ? wrap(method) : method;
  const sim = {
    strategy, clients, data, task, tokenizer: tok, baseModel, evalExamples: study.evalExamples, rounds: Math.min(totalRounds, study.stopAfter ?? totalRounds), localSteps,
    batch: c.batch, seqLen: c.seqLen, lr: c.lr, clipNorm: c.clipNorm, logitsChunkRows: c.logitsChunkRows, seed: job.seed, log, trainLocal,
  };
  const base = evaluateAdapter(sim);
  const rounds = await runSimulation(sim);
  return { study: study.name, strategy: job.strategy, seed: job.seed, fullPeakBytes, clients, base, rounds, seconds: (performance.now() - t0) / 1000 };
}
