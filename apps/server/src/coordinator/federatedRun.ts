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
  describePlan, loraToPeftTensors, SeededRandom, serializeSafetensors, stableHash32, type AssignmentWire,
  ProtocolError, type ClientRoundSummary, type LoraAdapter, type LoraConfig, type RoundSummary, type RunSettings, type RunStatus,
  type SubmodelPlan, type TrainingFailure, type UpdateMeta, type WeightFormat,
} from '@fedllm/core';
import type { ClientRegistry, ConnectedClient } from './clientRegistry';
import type { Evaluator } from './evaluator';
import type { ModelParts } from './modelParts';
import { RoundAttempt, type TaskRecord } from './roundAttempt';
import type { TaskData } from './taskData';

/** What a tab is given for a round, chosen by the run's strategy (runStrategy.ts). */
export interface TaskPlan {
  plan: SubmodelPlan;
  estimateBytes: number;
  /** The LoRA config the tab trains (a heterogeneous-rank strategy gives tabs different ranks). */
  lora: LoraConfig;
  /** The LoRA the tab starts from: the pairs of the plan's kept parts. */
  adapter: LoraAdapter;
  /** The frozen base the tab downloads: the run's model, or a strategy's derived one (DevFT stage, FedSODA sub-model). */
  parts: ModelParts;
  /** How the tab stores the frozen projections (default f32). */
  weightFormat?: WeightFormat;
  /** The strategy's own record of the task, handed back with the update. */
  handle?: unknown;
}

export type PlanChoice = TaskPlan | { error: string; minBytes?: number };

export interface ClientUpdate {
  clientId: string;
  adapter: LoraAdapter;
  plan: SubmodelPlan;
  numSamples: number;
  task: TaskPlan;
}

/** Durable state of a run (SQLite rows and checkpoint files). */
export interface RunPersistence {
  setStatus(status: RunStatus): void;
  recordAssignment(t: TaskRecord, attempt: number): void;
  recordOutcome(t: TaskRecord): void;
  /** Each client's data shard, as given so far (it keeps it across coordinator restarts). */
  clientShards(): Map<string, number>;
  recordClientShard(clientId: string, shard: number): void;
  /** Writes the round's adapter (temp + rename) and commits the round in one transaction. */
  commitRound(round: number, attempt: { attempt: number; startedAt: number }, adapter: LoraAdapter, summary: RoundSummary, received: TaskRecord[]): Promise<void>;
}

export interface FederatedRunDeps {
  runId: string;
  settings: RunSettings;
  model: ModelParts;
  data: TaskData;
  registry: ClientRegistry;
  evaluator: Evaluator;
  persistence: RunPersistence;
  /** Called before each round attempt's assignments (a strategy may change stage or re-align). */
  beginRound: (round: number, budgets: readonly number[]) => void;
  planFor: (client: { clientId: string; budgetBytes: number }, rng: SeededRandom, global: LoraAdapter) => PlanChoice;
  aggregate: (global: LoraAdapter, updates: ClientUpdate[]) => LoraAdapter;
  /** Validates an uploaded adapter for a task (throws ProtocolError). */
  validateAdapter: (bytes: Uint8Array, task: TaskPlan) => LoraAdapter;
  log: (msg: string) => void;
  onRoundCommitted: (s: RoundSummary) => void;
  onChange: () => void;
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

  /** `firstAttempt`: attempt numbers already used for the next round before a restart. */
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
      this.d.log(`run ${this.d.runId} completed ${s.rounds} round(s)`);
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
    this.d.onChange();
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
    // Seeded by the run settings, not the run id: the same settings sample the same plans.
    const rng = new SeededRandom(stableHash32(`${s.seed}:${round}:${attemptNo}`));
    // Derived bases (DevFT stage, FedSODA sub-models for the waiting tabs' budgets) are built before
    // the deadline starts, so the work does not eat into the tabs' training time.
    this.d.beginRound(round, this.eligibleClients().map((c) => c.capabilities.budgetBytes));
    const deadline = Date.now() + s.deadlineMs;
    const attempt = new RoundAttempt(round, attemptNo, deadline);
    this.attempt = attempt;
    const chosen = rng.shuffle(this.eligibleClients()).slice(0, s.clientsPerRound);
    for (const c of chosen) this.assign(attempt, c, rng);
    attempt.arm();
    this.d.onChange();
    const end = await attempt.done;
    for (const t of attempt.closeOutstanding(end === 'aborted' ? 'abandoned' : 'timeout')) {
      this.d.persistence.recordOutcome(t);
      const c = this.d.registry.byClientId(t.clientId);
      c?.send('cancel', { runId: this.d.runId, round, taskId: t.taskId, reason: t.reason });
      if (c && c.taskId === t.taskId) {
        c.state = 'idle';
        c.taskId = undefined;
      }
    }
    this.d.onChange();
    if (end === 'aborted') return;
    const received = attempt.received();
    const assigned = attempt.tasks.size;
    if (assigned === 0 || received.length < Math.ceil(s.minCompletion * assigned)) {
      this.d.log(`round ${round} attempt ${attemptNo}: ${received.length}/${assigned} update(s), below the ${s.minCompletion} completion minimum; re-sampling`);
      return;
    }
    await this.commit(round, attempt, received);
  }

  private assign(attempt: RoundAttempt, c: ConnectedClient, rng: SeededRandom): void {
    const s = this.d.settings;
    const choice = this.d.planFor({ clientId: c.clientId, budgetBytes: c.capabilities.budgetBytes }, rng, this.global);
    if ('error' in choice) {
      this.excluded.add(c.clientId);
      c.lastError = `budget ${c.capabilities.budgetBytes} B holds no task of this run${choice.minBytes ? ` (the smallest plan needs ${choice.minBytes} B)` : ''}: ${choice.error}`;
      this.d.log(`client ${c.clientId}: ${c.lastError}`);
      c.send('cancel', { runId: this.d.runId, round: attempt.round, taskId: 'none', reason: c.lastError });
      return;
    }
    const taskId = randomUUID();
    const shard = this.shard(c.clientId);
    const local = c.capabilities.dataSource === 'local';
    const batches = local ? undefined : this.d.data.batches(shard, attempt.round, s.localSteps, s.batch, s.seqLen);
    const adapterBytes = serializeSafetensors(loraToPeftTensors(choice.adapter));
    const m = choice.parts;
    const wire: AssignmentWire = {
      runId: this.d.runId, round: attempt.round, taskId, deadline: attempt.deadline,
      model: { id: m.id, configUrl: `${m.baseUrl}/config.json`, tokenizerUrl: `${m.baseUrl}/tokenizer.json`, parts: m.partsFor(choice.plan), weightFormat: choice.weightFormat ?? 'f32' },
      plan: choice.plan, lora: choice.lora,
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
    this.d.log(`round ${attempt.round}: ${c.capabilities.label ?? c.clientId} gets layers ${describePlan(choice.plan)} (estimate ${choice.estimateBytes} B, budget ${c.capabilities.budgetBytes} B)`);
  }

  /**
   * An update from a tab: accepted only for an open assignment of this tab, once. A refused update
   * (malformed, wrong shapes, non-finite) changes nothing: the assignment stays open until a valid
   * update, a failure report or the deadline. Throws ProtocolError.
   */
  acceptUpdate(c: ConnectedClient, meta: UpdateMeta, bytes: Uint8Array, wireBytes: number): void {
    const t = this.findTask(c, meta);
    if (!meta.losses.every(Number.isFinite)) throw new ProtocolError('not-finite', 'update refused: its loss curve has non-finite values (the local training diverged); report a failure instead');
    const adapter = this.d.validateAdapter(bytes, t.task!);
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
    this.d.log(`task ${taskId} of ${t.label ?? t.clientId} failed: ${reason}`);
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

  private async commit(round: number, attempt: RoundAttempt, received: TaskRecord[]): Promise<void> {
    const updates = received.map((t) => ({ clientId: t.clientId, adapter: t.adapter!, plan: t.plan, numSamples: t.numSamples!, task: t.task! }));
    const next = this.d.aggregate(this.global, updates);
    const ev = await this.d.evaluator.evaluate(next);
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
    await this.d.persistence.commitRound(round, attempt, next, summary, received);
    this.global = next;
    this.committedRound = round;
    this.rounds.push(summary);
    this.d.log(`round ${round} committed: accuracy ${ev.accuracy.toFixed(3)}, eval loss ${ev.evalLoss.toFixed(4)}, ${received.length}/${attempt.tasks.size} update(s)`);
    this.d.onRoundCommitted(summary);
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function bytesOf(a: Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

