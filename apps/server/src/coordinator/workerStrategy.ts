/**
 * The run's strategy as the coordinator drives it: the FederatedStrategy lives in the run worker
 * (runWorker.ts), so building DevFT's fused stage models, FedSODA's distillation alignment and the
 * aggregation (SVD for FlexLoRA) never block the event loop. Tasks come back with their served
 * model's weights only the first time the coordinator needs them (a model it does not serve yet);
 * updates go back by the task's reference, the worker holding the task itself.
 */
import {
  type ClientOffer, type ClientTask, type LlamaWeights, type LoraAdapter, type RunSettings, type SeededRandom, type ServedModel,
  type StrategyAssignment, type StrategyState, type StrategyUpdate,
} from '@fedllm/core';
import type { RoundStrategy } from '../rounds/federatedRound';
import type { RunMeasurements } from './runStrategy';
import type { ServedModels } from './servedModels';
import type { StrategyCall, TaskWire } from './runWorker';
import type { RunWorker } from './runWorkerClient';

export class WorkerStrategy implements RoundStrategy {
  private readonly refs = new WeakMap<ClientTask, number>();

  private constructor(
    readonly name: string, private readonly worker: RunWorker, private readonly served: ServedModels, private readonly base: ServedModel,
  ) {}

  /** Opens the run's strategy in the worker. `base`: the run's own model, float32 weights (what tasks on 'base' name). */
  static async open(worker: RunWorker, served: ServedModels, settings: RunSettings, base: { config: ServedModel['config']; weights: LlamaWeights }, m: RunMeasurements): Promise<WorkerStrategy> {
    await worker.strategy({ method: 'open', settings, measurements: m });
    return new WorkerStrategy(settings.strategy, worker, served, { key: 'base', config: base.config, weights: base.weights, weightFormat: m.weightFormat });
  }

  private call<T>(call: StrategyCall): Promise<T> {
    return this.worker.strategy(call) as Promise<T>;
  }

  initialGlobal(): Promise<LoraAdapter> {
    return this.call({ method: 'initialGlobal' });
  }

  async configureRound(round: number, global: LoraAdapter, clients: readonly ClientOffer[], rng: SeededRandom): Promise<StrategyAssignment[]> {
    const tasks = await this.call<TaskWire[]>({ method: 'configureRound', round, global, clients: [...clients], rngState: rng.state(), heldKeys: this.served.heldKeys() });
    const sent = new Map<string, ServedModel>(); // a model new to the coordinator comes once per call
    return tasks.map((t): StrategyAssignment => {
      if ('excluded' in t) return t;
      const { ref, model: wire, ...rest } = t;
      let model: ServedModel | undefined;
      if (wire.key === 'base') model = this.base;
      else if (wire.weights) sent.set(wire.key, (model = { key: wire.key, config: wire.config, weights: wire.weights, weightFormat: wire.weightFormat }));
      else model = sent.get(wire.key) ?? this.served.model(wire.key);
      if (!model) throw new Error(`strategy ${this.name}: task for ${t.clientId} names model ${wire.key}, which is neither served nor sent`);
      const task: ClientTask = { ...rest, model };
      this.refs.set(task, ref);
      return task;
    });
  }

  aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): Promise<LoraAdapter> {
    return this.call({
      method: 'aggregate', global,
      updates: updates.map((u) => {
        const ref = this.refs.get(u.task);
        if (ref === undefined) throw new Error(`strategy ${this.name}: an update of ${u.task.clientId} for a task this strategy did not make`);
        return { ref, adapter: u.adapter, numSamples: u.numSamples };
      }),
    });
  }

  snapshot(): Promise<StrategyState> {
    return this.call({ method: 'snapshot' });
  }

  async restore(global: LoraAdapter, state: StrategyState | undefined): Promise<void> {
    await this.call({ method: 'restore', global, state });
  }

  describe(): Promise<string> {
    return this.call({ method: 'describe' });
  }
}
