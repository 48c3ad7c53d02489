/**
 * An in-process federated run: the coordinator's round routine (strategy plans per tab, the tab's
 * data shard, local LoRA training, aggregation, held-out evaluation) with every tab's local
 * training done by the CPU reference engine (or a WebGPU trainer), one tab after another. The CPU engine is the oracle
 * the WGSL kernels are tested against (same losses to ~1e-6 over 20 steps at this model's scale,
 * README "GPU training equals CPU"), so a strategy's accuracy here is what the swarm would reach,
 * at a fraction of SwiftShader's cost. Memory is the strategies' prediction (planPeakBytes in submodelPlanner.ts);
 * memoryCheck.ts measures those predictions with the real WebGPU session.
 */
import {
  classificationAccuracy, cloneLoraAdapter, estimateLoraSessionBytes, isExcluded, LlamaModel, loraToPeftTensors, LoraTrainer,
  serializeSafetensors, describePlan, type ClassificationTask, type FederatedStrategy,
  type ClientTask, type LoraAdapter, type StrategyUpdate, type TextTokenizer,
} from '@fedllm/core';
import type { AssignmentBatches, TaskData } from '../coordinator/taskData';
import { runFederatedRound } from '../rounds/federatedRound';

export interface SimClient {
  clientId: string;
  tier: string;
  budgetBytes: number;
  shard: number;
}

export interface SimTaskRecord {
  clientId: string;
  tier: string;
  budgetBytes: number;
  excluded?: string;
  plan?: string;
  layersKept?: number;
  rank?: number;
  modelKey?: string;
  weightFormat?: string;
  estimateBytes?: number;
  /** Bytes of frozen weights the tab holds on the GPU for the plan (quantized or not). */
  weightBytes?: number;
  adapterBytesDown?: number;
  adapterBytesUp?: number;
  finalLoss?: number;
  /** The WebGPU ledger's peak (engine "webgpu" only). */
  peakBytes?: number;
}

export interface SimRound {
  round: number;
  accuracy: number;
  evalLoss: number;
  participants: number;
  bytesUp: number;
  bytesDown: number;
  trainSeconds: number;
  strategyState: string;
  tasks: SimTaskRecord[];
}

export interface SimulationInput {
  strategy: FederatedStrategy;
  clients: readonly SimClient[];
  data: TaskData;
  task: ClassificationTask;
  tokenizer: TextTokenizer;
  baseModel: LlamaModel;
  evalExamples: number;
  rounds: number;
  localSteps: number;
  batch: number;
  seqLen: number;
  lr: number;
  clipNorm: number;
  logitsChunkRows?: number;
  seed: number;
  /** Local training of one task; default: the CPU reference engine in this thread. */
  trainLocal?: LocalTrainer;
  log?: (m: string) => void;
}

/** One tab's local training: the trained LoRA (same pairs as the task's), its last loss, and the measured peak if any. */
export type LocalTrainer = (task: ClientTask, batches: AssignmentBatches, s: LocalTrainingSettings) => Promise<{ adapter: LoraAdapter; finalLoss: number; peakBytes?: number }>;

export interface LocalTrainingSettings {
  steps: number;
  batch: number;
  seqLen: number;
  lr: number;
  clipNorm: number;
  logitsChunkRows?: number;
  /** The unlimited upper bound's tasks exceed their budgets by design: not enforced for it alone. */
  enforceBudget: boolean;
}

/** The CPU reference engine as the local trainer (models cached per served model). */
export function cpuLocalTrainer(): LocalTrainer {
  const models = new Map<string, LlamaModel>();
  return async (a, batches, s) => {
    let model = models.get(a.model.key);
    if (!model) models.set(a.model.key, (model = new LlamaModel(a.model.config, a.model.weights, s.seqLen)));
    // A copy: the task's pairs may share the global adapter's tensors, and training is in place.
    const adapter = cloneLoraAdapter(a.adapter);
    const trainer = new LoraTrainer(model, adapter, { lr: s.lr, clipNorm: s.clipNorm, plan: a.plan });
    const n = s.batch * s.seqLen;
    let loss = NaN;
    for (let k = 0; k < s.steps; k++) {
      loss = trainer.step({ B: s.batch, T: s.seqLen, inputIds: batches.inputIds.subarray(k * n, (k + 1) * n), targets: batches.targets.subarray(k * n, (k + 1) * n) });
    }
    return { adapter, finalLoss: loss };
  };
}

export interface BaseEvaluation {
  accuracy: number;
  evalLoss: number;
  majorityBaseline: number;
}

export function evaluateAdapter(i: Pick<SimulationInput, 'baseModel' | 'tokenizer' | 'task' | 'evalExamples' | 'seqLen'>, lora?: LoraAdapter): BaseEvaluation {
  const m = classificationAccuracy(i.baseModel, i.tokenizer, i.task, i.task.test.slice(0, i.evalExamples), { maxLen: i.seqLen, lora });
  return { accuracy: m.accuracy, evalLoss: -m.meanTrueLogProb, majorityBaseline: m.majorityBaseline };
}

const adapterBytes = (a: LoraAdapter) => serializeSafetensors(loraToPeftTensors(a)).byteLength;

/**
 * The run: the coordinator's round routine (rounds/federatedRound.ts) with every tab sampled each
 * round and its task trained in process, one after another.
 */
export async function runSimulation(i: SimulationInput): Promise<SimRound[]> {
  const trainLocal = i.trainLocal ?? cpuLocalTrainer();
  const out: SimRound[] = [];
  let global = i.strategy.initialGlobal();
  for (let round = 0; round < i.rounds; round++) {
    const t0 = performance.now();
    const tasks: SimTaskRecord[] = [];
    const r = await runFederatedRound({
      strategy: i.strategy, global, round, attempt: 0, seed: i.seed, clients: i.clients, clientsPerRound: i.clients.length,
      train: async (assigned) => {
        const updates: StrategyUpdate[] = [];
        for (const { client: c, assignment: a } of assigned) {
          if (isExcluded(a)) {
            tasks.push({ clientId: c.clientId, tier: c.tier, budgetBytes: c.budgetBytes, excluded: a.excluded });
            continue;
          }
          const batches = i.data.batches(c.shard, round, i.localSteps, i.batch, i.seqLen);
          const { adapter: trained, finalLoss: loss, peakBytes } = await trainLocal(a, batches, {
            steps: i.localSteps, batch: i.batch, seqLen: i.seqLen, lr: i.lr, clipNorm: i.clipNorm, logitsChunkRows: i.logitsChunkRows,
            enforceBudget: i.strategy.name !== 'unlimited',
          });
          const est = estimateLoraSessionBytes({
            config: a.model.config, plan: a.plan, lora: a.adapter.config, batch: i.batch, seqLen: i.seqLen, clipNorm: i.clipNorm,
            logitsChunkRows: i.logitsChunkRows, weightFormat: a.model.weightFormat,
          });
          updates.push({ task: a, adapter: trained, numSamples: batches.numSamples });
          tasks.push({
            clientId: c.clientId, tier: c.tier, budgetBytes: c.budgetBytes, plan: describePlan(a.plan), layersKept: a.plan.layers.length,
            rank: a.adapter.config.rank, modelKey: a.model.key, weightFormat: a.model.weightFormat, estimateBytes: a.estimateBytes,
            weightBytes: est.byKind.weights, adapterBytesDown: adapterBytes(a.adapter), adapterBytesUp: adapterBytes(trained),
            finalLoss: loss, peakBytes,
          });
        }
        return updates;
      },
      evaluate: async (next) => evaluateAdapter(i, next),
    });
    const trainSeconds = (performance.now() - t0) / 1000;
    // A round nobody could train (every tab excluded) leaves the global adapter as it was.
    const ev = r.kind === 'aggregated' ? r.evaluation : evaluateAdapter(i, global);
    if (r.kind === 'aggregated') global = r.next;
    // The report lists a round's tasks in client order, whatever order they were sampled in.
    tasks.sort((a, b) => i.clients.findIndex((c) => c.clientId === a.clientId) - i.clients.findIndex((c) => c.clientId === b.clientId));
    const rec: SimRound = {
      round, accuracy: ev.accuracy, evalLoss: ev.evalLoss, participants: r.kind === 'aggregated' ? r.updates.length : 0,
      bytesUp: tasks.reduce((s, t) => s + (t.adapterBytesUp ?? 0), 0), bytesDown: tasks.reduce((s, t) => s + (t.adapterBytesDown ?? 0), 0),
      trainSeconds, strategyState: i.strategy.describe(), tasks,
    };
    out.push(rec);
    i.log?.(`round ${round}: accuracy ${ev.accuracy.toFixed(3)} eval loss ${ev.evalLoss.toFixed(4)}; ${tasks.map((t) => `${t.tier}:${t.excluded ? 'excluded' : t.plan}`).join(' ')} (${trainSeconds.toFixed(1)} s)`);
  }
  return out;
}
