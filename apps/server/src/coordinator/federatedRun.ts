/**
 * The round loop of one federated run: wait for tabs, sample them, give each a plan sized to its
 * budget with its data and the LoRA of its kept parts, collect updates until every assignment
 * settles or the deadline passes, then (given enough updates) aggregate layer by layer, evaluate,
 * checkpoint and commit. A round whose completion falls short is re-sampled; pause and stop
 * abandon the attempt in flight. All durable state goes through RunPersistence, so a coordinator
 * killed at any point resumes from the last committed round.
 */
import { randomUUID } from 'node:crypto';
import {
  describePlan, isExcluded, loraToPeftTensors, serializeSafetensors, type AssignmentWire,
  ProtocolError, type ClientRoundSummary, type LoraAdapter, type RoundSummary, type RunSettings, type RunStatus,
  type StrategyAssignment, type StrategyState, type StrategyUpdate, type TrainingFailure, type UpdateMeta,
} from '@fedllm/core';
import type { ClientRegistry, ConnectedClient } from './clientRegistry';
import type { RunWorker } from './runWorkerClient';
import { runFederatedRound, type RoundEvaluation, type RoundStrategy } from '../rounds/federatedRound';
import { RoundAttempt, type TaskRecord } from './roundAttempt';
import type { ServedModels } from './servedModels';
import type { TaskData } from './taskData';
import { validateUpdateAdapter } from './updateValidation';

/** Durable state of a run (SQLite rows and checkpoint files). */
export interface RunPersistence {
  setStatus(status: RunStatus): void;
  recordAssignment(t: TaskRecord, attempt: number): void;
  recordOutcome(t: TaskRecord): void;
  /** Each client's data shard, as given so far (it keeps it across coordinator restarts). */
  clientShards(): Map<string, number>;
  recordClientShard(clientId: string, shard: number): void;
  /**
   * Writes the round's adapter (temp + rename) and commits the round, with the strategy's state
   * after it, in one transaction.
   */
  commitRound(round: number, attempt: { attempt: number; startedAt: number }, adapter: LoraAdapter, summary: RoundSummary, received: TaskRecord[], strategyState: StrategyState): Promise<void>;
}

/** What the run tells the rest of the coordinator (logs, the dashboard). */
export interface RunEvents {
  log: (msg: string) => void;
  onRoundCommitted: (s: RoundSummary) => void;
  onChange: () => void;
}

export interface FederatedRunDeps {
  runId: string;
  settings: RunSettings;
  data: TaskData;
  registry: ClientRegistry;
  /** Held-out evaluation of each round's adapter (the run worker). */
  evaluator: Pick<RunWorker, 'evaluate'>;
  persistence: RunPersistence;
  /** The run's method (hosted in the run worker): plans the tasks of a round and folds its updates into the next global adapter. */
  strategy: RoundStrategy & { describe(): string | Promise<string> };
  /** Serves the strategy's frozen bases (the run's model, DevFT stages, FedSODA sub-models) as parts. */
  served: ServedModels;
  /** Bytes of the largest update the run accepts (updateValidation.ts). */
  maxUpdateBytes: number;
  events: RunEvents;
}

export class FederatedRun {
  status: RunStatus = 'created';
  private attempt: RoundAttempt | undefined;
  private attempts = 0;
  private wakeUp: (() => void) | undefined;
  /** Set by shutdown(): the loop ends without touching the stored status, so a restart resumes. */
  private halted = false;
  private readonly shardOf: Map<string, number>;
  /** Tabs this run cannot use: their budget holds no task of its strategy (per run, not per coordinator). */
  private readonly excluded = new Set<string>();
  readonly rounds: RoundSummary[] = [];
  baseAccuracy: number | undefined;
  baseEvalLoss: number | undefined;

  private lastStrategyState = '';

  /**
   * The run alone holds the global adapter: `global` is the committed round's (or the strategy's
   * initial one), `committedRound` -1 before any commit; `firstAttempt`: attempt numbers already
   * used for the next round before a restart.
   */
  constructor(private readonly d: FederatedRunDeps, public global: LoraAdapter, public committedRound: number, firstAttempt = 0) {
    this.attempts = firstAttempt;
    this.shardOf = d.persistence.clientShards();
  }

  get runId(): string {
    return this.d.runId;
  }

  get settings(): RunSettings {
    return this.d.settings;
  }

  /** The round being worked on (the next to commit). */
  get currentRound(): number {
    return this.committedRound + 1;
  }

  get openAttempt(): RoundAttempt | undefined {
    return this.attempt?.isOpen ? this.attempt : undefined;
  }

  /** Runs rounds until the last one commits, or the run is stopped. */
  async loop(): Promise<void> {
    const s = this.d.settings;
    this.setStatus('running');
    const unsubscribe = this.d.registry.onChange(() => this.wake());
    try {
      while (this.committedRound + 1 < s.rounds) {
        if (this.status === 'stopped' || this.halted) return;
        if (this.status === 'paused' || this.eligibleClients().length < s.minClients) {
          await new Promise<void>((r) => (this.wakeUp = r));
          continue;
        }
        await this.runAttempt(this.committedRound + 1);
      }
      this.setStatus('completed');
      this.d.events.log(`run ${this.d.runId} completed ${s.rounds} round(s)`);
    } finally {
      unsubscribe();
    }
  }

  pause(): void {
    if (this.status !== 'running') return;
    this.setStatus('paused');
    this.attempt?.abort();
  }

  resume(): void {
    if (this.status !== 'paused') return;
    this.setStatus('running');
    this.wake();
  }

  stop(): void {
    if (this.status === 'completed' || this.status === 'stopped') return;
    this.setStatus('stopped');
    this.attempt?.abort();
    this.wake();
  }

  /** Process shutdown: abandon the attempt in flight but leave the run resumable. */
  shutdown(): void {
    this.halted = true;
    this.attempt?.abort();
    this.wake();
  }

  /** Tabs that can take an assignment: idle, and not known to be too small for any plan. */
  private eligibleClients(): ConnectedClient[] {
    return this.d.registry.idle().filter((c) => !this.excluded.has(c.clientId));
  }

  private setStatus(st: RunStatus): void {
    this.status = st;
    this.d.persistence.setStatus(st);
    this.d.events.onChange();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private shard(clientId: string): number {
    let s = this.shardOf.get(clientId);
    if (s === undefined) {
      // Each tab keeps one shard for the run (its "local data"), spread over the shards in the order
      // tabs are first assigned, and stored, so a restarted coordinator gives a re-joining tab the same data.
      s = this.shardOf.size % this.d.settings.shards;
      this.d.persistence.recordClientShard(clientId, s);
      this.shardOf.set(clientId, s);
    }
    return s;
  }

  private async runAttempt(round: number): Promise<void> {
    const s = this.d.settings;
    const attemptNo = this.attempts++;
    this.d.served.beginRound(round);
    let attempt: RoundAttempt | undefined;
    const result = await runFederatedRound({
      strategy: this.d.strategy, global: this.global, round, attempt: attemptNo, seed: s.seed, clientsPerRound: s.clientsPerRound,
      clients: this.eligibleClients().map((tab) => ({ clientId: tab.clientId, budgetBytes: tab.capabilities.budgetBytes, tab })),
      // Derived bases (DevFT stage, FedSODA sub-models) were built when the round was configured,
      // before the deadline starts, so the work does not eat into the tabs' training time.
      train: async (tasks) => {
        const state = await this.d.strategy.describe();
        if (state !== this.lastStrategyState) this.d.events.log(`strategy ${s.strategy}, round ${round}: ${(this.lastStrategyState = state)}`);
        // The plans were made in the worker: a pause, stop or shutdown meanwhile abandons the attempt unassigned.
        if (this.status !== 'running' || this.halted) return undefined;
        attempt = new RoundAttempt(round, attemptNo, Date.now() + s.deadlineMs);
        this.attempt = attempt;
        for (const t of tasks) this.assign(attempt, t.client.tab, t.assignment);
        return this.collect(attempt);
      },
      enough: (received, assigned) => received >= Math.ceil(s.minCompletion * assigned),
      evaluate: (next) => this.d.evaluator.evaluate(next),
    });
    if (result.kind === 'short') {
      this.d.events.log(`round ${round} attempt ${attemptNo}: ${result.received}/${result.assigned} update(s), below the ${s.minCompletion} completion minimum; re-sampling`);
    } else if (result.kind === 'aggregated') {
      await this.commit(round, attempt!, result);
    }
  }

  /** Waits for the attempt to settle; the updates received, or undefined when it was aborted. */
  private async collect(attempt: RoundAttempt): Promise<StrategyUpdate[] | undefined> {
    attempt.arm();
    this.d.events.onChange();
    const end = await attempt.done;
    for (const t of attempt.closeOutstanding(end === 'aborted' ? 'abandoned' : 'timeout')) {
      this.d.persistence.recordOutcome(t);
      const c = this.d.registry.byClientId(t.clientId);
      c?.send('cancel', { runId: this.d.runId, round: attempt.round, taskId: t.taskId, reason: t.reason });
      if (c && c.taskId === t.taskId) {
        c.state = 'idle';
        c.taskId = undefined;
      }
    }
    this.d.events.onChange();
    if (end === 'aborted') return undefined;
    return attempt.received().map((t) => ({ task: t.task, adapter: t.adapter!, numSamples: t.numSamples! }));
  }

  private assign(attempt: RoundAttempt, c: ConnectedClient, choice: StrategyAssignment): void {
    const s = this.d.settings;
    if (isExcluded(choice)) {
      this.excluded.add(c.clientId);
      c.lastError = `budget ${c.capabilities.budgetBytes} B holds no task of this run${choice.minBytes ? ` (the smallest plan needs ${choice.minBytes} B)` : ''}: ${choice.excluded}`;
      this.d.events.log(`client ${c.clientId}: ${c.lastError}`);
      c.send('cancel', { runId: this.d.runId, round: attempt.round, taskId: 'none', reason: c.lastError });
      return;
    }
    const taskId = randomUUID();
    const shard = this.shard(c.clientId);
    const local = c.capabilities.dataSource === 'local';
    const batches = local ? undefined : this.d.data.batches(shard, attempt.round, s.localSteps, s.batch, s.seqLen);
    const adapterBytes = serializeSafetensors(loraToPeftTensors(choice.adapter));
    const m = this.d.served.partsFor(choice.model);
    const wire: AssignmentWire = {
      runId: this.d.runId, round: attempt.round, taskId, deadline: attempt.deadline,
      model: { id: m.id, configUrl: `${m.baseUrl}/config.json`, tokenizerUrl: `${m.baseUrl}/tokenizer.json`, parts: m.partsFor(choice.plan), weightFormat: choice.model.weightFormat },
      plan: choice.plan, lora: choice.adapter.config,
      train: { steps: s.localSteps, batch: s.batch, seqLen: s.seqLen, lr: s.lr, clipNorm: s.clipNorm, logitsChunkRows: s.logitsChunkRows },
      data: batches
        ? { kind: 'batches', inputIds: bytesOf(batches.inputIds), targets: bytesOf(batches.targets), numSamples: batches.numSamples }
        : { kind: 'local' },
      adapter: adapterBytes,
      budgetBytes: c.capabilities.budgetBytes, estimateBytes: choice.estimateBytes,
    };
    const bytesDown = adapterBytes.byteLength + (batches ? batches.inputIds.byteLength + batches.targets.byteLength : 0);
    const t: TaskRecord = {
      taskId, clientId: c.clientId, label: c.capabilities.label, round: attempt.round, plan: choice.plan,
      budgetBytes: c.capabilities.budgetBytes, estimateBytes: choice.estimateBytes, shard, issuedAt: Date.now(),
      deadline: attempt.deadline, status: 'assigned', bytesDown, bytesUp: 0, task: choice,
      // The aggregation weight is the coordinator's count, not the tab's claim: assigned data has a
      // known size; a local-data tab's claim is capped at what its steps can have seen.
      numSamples: batches ? batches.numSamples : s.localSteps * s.batch,
    };
    attempt.add(t);
    this.d.persistence.recordAssignment(t, attempt.attempt);
    c.state = 'training';
    c.taskId = taskId;
    c.bytesDown += bytesDown;
    c.assign(wire).then(
      (ack) => {
        if (!ack.ok) this.failTask(t.taskId, `the tab refused the assignment: ${ack.error.message}`);
      },
      (e: unknown) => this.failTask(t.taskId, `no acknowledgement of the assignment: ${(e as Error).message}`),
    );
    this.d.events.log(`round ${attempt.round}: ${c.capabilities.label ?? c.clientId} gets layers ${describePlan(choice.plan)} (estimate ${choice.estimateBytes} B, budget ${c.capabilities.budgetBytes} B)`);
  }

  /**
   * An update from a tab: accepted only for an open assignment of this tab, once. A refused update
   * (malformed, wrong shapes, non-finite) changes nothing: the assignment stays open until a valid
   * update, a failure report or the deadline. Throws ProtocolError.
   */
  acceptUpdate(c: ConnectedClient, meta: UpdateMeta, bytes: Uint8Array, wireBytes: number): void {
    const t = this.findTask(c, meta);
    if (!meta.losses.every(Number.isFinite)) throw new ProtocolError('not-finite', 'update refused: its loss curve has non-finite values (the local training diverged); report a failure instead');
    const task = t.task;
    const adapter = validateUpdateAdapter(bytes, { config: task.model.config, lora: task.adapter.config, plan: task.plan, maxBytes: this.d.maxUpdateBytes });
    const numSamples = Math.min(t.numSamples!, meta.numSamples);
    this.finishTask(c, t, 'received', { meta, adapter, numSamples, bytesUp: wireBytes, bytesDown: t.bytesDown + meta.bytesDownloaded });
    c.bytesDown += meta.bytesDownloaded;
  }

  acceptFailure(c: ConnectedClient, f: TrainingFailure): void {
    const t = this.findTask(c, f);
    // A tab whose session did not fit its own budget is not given another task of this run.
    if (f.code === 'budget') this.excluded.add(c.clientId);
    this.finishTask(c, t, 'failed', { reason: `${f.code}: ${f.message}` });
  }

  private failTask(taskId: string, reason: string): void {
    const a = this.openAttempt;
    const t = a?.tasks.get(taskId);
    if (!a || !t || !a.settle(taskId, 'failed', { reason })) return;
    this.d.persistence.recordOutcome(t);
    const c = this.d.registry.byClientId(t.clientId);
    if (c && c.taskId === taskId) {
      c.state = 'idle';
      c.taskId = undefined;
    }
    this.d.events.log(`task ${taskId} of ${t.label ?? t.clientId} failed: ${reason}`);
    this.d.registry.changed();
  }

  /** A tab that disconnects fails its open assignment at once (it cannot deliver to this round). */
  clientGone(clientId: string): void {
    const a = this.openAttempt;
    if (!a) return;
    for (const t of a.tasks.values()) {
      if (t.clientId === clientId && t.status === 'assigned') {
        a.settle(t.taskId, 'failed', { reason: 'the tab disconnected' });
        this.d.persistence.recordOutcome(t);
      }
    }
  }

  private findTask(c: ConnectedClient, m: { runId: string; round: number; taskId: string }): TaskRecord {
    if (m.runId !== this.d.runId) throw new ProtocolError('stale-round', `run ${m.runId} is not the active run (${this.d.runId})`);
    const a = this.openAttempt;
    if (!a || m.round !== a.round) throw new ProtocolError('stale-round', `round ${m.round} is not open (open: ${a ? a.round : 'none'})`);
    const t = a.tasks.get(m.taskId);
    if (!t) throw new ProtocolError('unknown-task', `task ${m.taskId} is not an assignment of this round attempt (stale or replayed)`);
    if (t.clientId !== c.clientId) throw new ProtocolError('wrong-client', `task ${m.taskId} was assigned to another tab`);
    if (t.status !== 'assigned') throw new ProtocolError('duplicate', `task ${m.taskId} already settled (${t.status})`);
    return t;
  }

  private finishTask(c: ConnectedClient, t: TaskRecord, status: 'received' | 'failed', fields: Partial<TaskRecord>): void {
    this.openAttempt?.settle(t.taskId, status, fields);
    this.d.persistence.recordOutcome(t);
    if (c.taskId === t.taskId) {
      c.state = 'idle';
      c.taskId = undefined;
    }
    c.bytesUp += fields.bytesUp ?? 0;
    this.d.registry.changed();
  }

  private async commit(round: number, attempt: RoundAttempt, r: { next: LoraAdapter; updates: StrategyUpdate[]; evaluation: RoundEvaluation; strategyState: StrategyState }): Promise<void> {
    const received = attempt.received(), updates = r.updates, ev = r.evaluation, next = r.next;
    const weight = updates.reduce((a, u) => a + u.numSamples, 0);
    const trainLoss = received.reduce((a, t) => a + t.numSamples! * mean(t.meta!.losses.slice(-Math.max(1, Math.ceil(t.meta!.losses.length / 4)))), 0) / weight;
    const clients: ClientRoundSummary[] = [...attempt.tasks.values()].map((t) => ({
      clientId: t.clientId, label: t.label, plan: describePlan(t.plan), layersKept: t.plan.layers.length,
      budgetBytes: t.budgetBytes, estimateBytes: t.estimateBytes, peakBytes: t.meta?.peakBytes,
      bytesUp: t.bytesUp, bytesDown: t.bytesDown, status: t.status, reason: t.reason,
      trainLoss: t.meta ? t.meta.losses[t.meta.losses.length - 1] : undefined, tokensPerSecond: t.meta?.tokensPerSecond,
    }));
    const summary: RoundSummary = {
      round, accuracy: ev.accuracy, evalLoss: ev.evalLoss, trainLoss, participants: received.length,
      bytesUp: clients.reduce((a, c) => a + c.bytesUp, 0), bytesDown: clients.reduce((a, c) => a + c.bytesDown, 0),
      durationMs: Date.now() - attempt.startedAt, clients,
    };
    // A stop that arrived while aggregating still lets this complete round commit: its updates are in.
    if (this.halted) return; // shutting down: the round is re-run after the restart
    await this.d.persistence.commitRound(round, attempt, next, summary, received, r.strategyState);
    this.global = next;
    this.committedRound = round;
    this.rounds.push(summary);
    this.d.events.log(`round ${round} committed: accuracy ${ev.accuracy.toFixed(3)}, eval loss ${ev.evalLoss.toFixed(4)}, ${received.length}/${attempt.tasks.size} update(s)`);
    this.d.events.onRoundCommitted(summary);
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function bytesOf(a: Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

