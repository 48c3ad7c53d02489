/**
 * The coordinator's durable state in one SQLite file: runs, committed rounds, clients, assignments
 * and metrics. Invariants the store enforces rather than trusts its caller with:
 * - an assignment gets exactly one outcome (a second one is refused);
 * - rounds commit in order, each once (round = committedRound + 1), in one transaction with its
 *   metrics, the counting of its updates and the run's advance, so a process killed at any point
 *   leaves either all of a round or none of it;
 * - an update is counted in at most one round (one column), only if it was received for that round;
 * - on resume, the uncommitted round's assignments are discarded: that round is re-run.
 * The round's checkpoint files must be written (roundCheckpoints.ts) before commitRound is called.
 */
import { type RoundSummary, type RunStatus } from '@fedllm/core';
import { RUN_STATUSES, CLIENT_STATUSES, ASSIGNMENT_STATUSES, type AssignmentRow, type ClientRow, type ClientStatus, type MetricRow, type RoundRow, type RunRow } from './runStoreRows';
import { openBetterSqlite } from './betterSqliteDatabase';
import { roundSummaryFromRows } from './roundSummaryFromRows';
import { ASSIGNMENT_COLUMNS, CLIENT_COLUMNS, METRIC_COLUMNS, ROUND_COLUMNS, RUN_COLUMNS } from './runStoreColumns';
import { RunStoreError } from './runStoreError';
import {
  checkInt, checkText, optionalInt, optionalNumber, type AssignmentOutcome, type ClientSeen, type NewAssignment, type NewRun,
  type ResumeState, type RoundCommit,
} from './runStoreInputs';
import { migrateRunStore } from './runStoreSchema';
import { inTransaction, type SqlDatabase, type SqlStatement, type SqlValue } from './sqlDatabase';

export type { AssignmentOutcome, ClientSeen, NewAssignment, NewRun, ResumeState, RoundCommit } from './runStoreInputs';

export interface RunStoreOptions {
  /** Clock for timestamps the caller does not give (tests pin it). Default Date.now. */
  now?: () => number;
}

export class RunStore {
  private readonly statements = new Map<string, SqlStatement>();
  private readonly now: () => number;

  private constructor(private readonly db: SqlDatabase, readonly path: string, o: RunStoreOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Opens (creating or upgrading the schema of) the store at `path`. */
  static open(path: string, o: RunStoreOptions = {}): RunStore {
    return RunStore.onDatabase(openBetterSqlite(path), path, o);
  }

  /** The store on any SqlDatabase (the seam for another SQLite driver). */
  static onDatabase(db: SqlDatabase, path: string, o: RunStoreOptions = {}): RunStore {
    try {
      migrateRunStore(db, path);
    } catch (e) {
      db.close();
      throw e;
    }
    return new RunStore(db, path, o);
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }

  /** Schema version the open file is at. */
  schemaVersion(): number {
    return Number(this.sql('SELECT version FROM schema_version').get()!.version);
  }

  // ------------------------------------------------------------------ runs

  createRun(r: NewRun): RunRow {
    const status = r.status ?? 'created';
    checkStatus('run status', status, RUN_STATUSES);
    const t = this.now();
    inTransaction(this.db, () => {
      if (this.getRun(r.id)) throw new RunStoreError('duplicate-run', `a run with id ${r.id} already exists; pick a fresh id`);
      this.sql(`INSERT INTO runs (id, name, status, settings_json, model_dir, model_id, task, strategy, total_rounds, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        checkText('run id', r.id), r.name, status, r.settingsJson, r.modelDir, checkText('modelId', r.modelId), r.task,
        r.strategy ?? null, checkInt('totalRounds', r.totalRounds, 1), t, t,
      );
    });
    return this.requireRun(r.id);
  }

  getRun(id: string): RunRow | undefined {
    return this.sql(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(id) as RunRow | undefined;
  }

  /** Every run, newest first. */
  listRuns(): RunRow[] {
    return this.sql(`SELECT ${RUN_COLUMNS} FROM runs ORDER BY created_at DESC, id`).all() as unknown as RunRow[];
  }

  /** The run a restarted coordinator should resume: the most recently updated running or paused one. */
  activeRun(): RunRow | undefined {
    return this.sql(`SELECT ${RUN_COLUMNS} FROM runs WHERE status IN ('running', 'paused') ORDER BY updated_at DESC, id LIMIT 1`).get() as RunRow | undefined;
  }

  setRunStatus(id: string, status: RunStatus): void {
    checkStatus('run status', status, RUN_STATUSES);
    const r = this.sql('UPDATE runs SET status = ?, updated_at = ? WHERE id = ?').run(status, this.now(), id);
    if (r.changes === 0) throw unknownRun(id);
  }

  /** Replaces a run's settings; only before it starts (a running run's rounds depend on them). */
  updateRunSettings(id: string, settingsJson: string, totalRounds: number): void {
    const run = this.requireRun(id);
    if (run.status !== 'created') throw new RunStoreError('run-started', `run ${id} is ${run.status}; settings can change only while it is 'created'`);
    this.sql('UPDATE runs SET settings_json = ?, total_rounds = ?, updated_at = ? WHERE id = ?').run(settingsJson, checkInt('totalRounds', totalRounds, 1), this.now(), id);
  }

  // ------------------------------------------------------------------ clients

  /** Inserts a client or refreshes its capabilities, budget and last error; marks it seen now. */
  upsertClient(c: ClientSeen): ClientRow {
    const status = c.status ?? 'connected';
    checkStatus('client status', status, CLIENT_STATUSES);
    const t = this.now();
    this.sql(`INSERT INTO clients (id, first_seen, last_seen, capabilities_json, budget_bytes, status, last_error) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, capabilities_json = excluded.capabilities_json,
        budget_bytes = excluded.budget_bytes, status = excluded.status, last_error = excluded.last_error`).run(
      checkText('client id', c.id), t, t, c.capabilitiesJson, checkInt('budgetBytes', c.budgetBytes, 0), status, c.lastError ?? null,
    );
    return this.getClient(c.id)!;
  }

  markClientSeen(id: string, at = this.now()): void {
    if (this.sql('UPDATE clients SET last_seen = max(last_seen, ?) WHERE id = ?').run(at, id).changes === 0) throw unknownClient(id);
  }

  setClientStatus(id: string, status: ClientStatus, lastError?: string | null): void {
    checkStatus('client status', status, CLIENT_STATUSES);
    const r = lastError === undefined
      ? this.sql('UPDATE clients SET status = ? WHERE id = ?').run(status, id)
      : this.sql('UPDATE clients SET status = ?, last_error = ? WHERE id = ?').run(status, lastError, id);
    if (r.changes === 0) throw unknownClient(id);
  }

  getClient(id: string): ClientRow | undefined {
    return this.sql(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE id = ?`).get(id) as ClientRow | undefined;
  }

  listClients(): ClientRow[] {
    return this.sql(`SELECT ${CLIENT_COLUMNS} FROM clients ORDER BY last_seen DESC, id`).all() as unknown as ClientRow[];
  }

  // ------------------------------------------------------------------ client shards

  /** Which data shard each client of a run holds ("its local data"), fixed for the run. */
  clientShards(runId: string): Map<string, number> {
    const rows = this.sql('SELECT client_id, shard FROM client_shards WHERE run_id = ? ORDER BY assigned_at, client_id').all(runId);
    return new Map(rows.map((r) => [String(r.client_id), Number(r.shard)]));
  }

  /** Gives a client its shard for the run; refused if it already holds another one. */
  setClientShard(runId: string, clientId: string, shard: number): void {
    inTransaction(this.db, () => {
      this.requireRun(runId);
      if (!this.getClient(clientId)) throw unknownClient(clientId);
      const held = this.sql('SELECT shard FROM client_shards WHERE run_id = ? AND client_id = ?').get(runId, clientId);
      if (held) {
        if (Number(held.shard) === shard) return;
        throw new RunStoreError('shard-taken', `client ${clientId} already holds shard ${held.shard} of run ${runId}; a client keeps its data for the whole run`);
      }
      this.sql('INSERT INTO client_shards (run_id, client_id, shard, assigned_at) VALUES (?, ?, ?, ?)').run(runId, clientId, checkInt('shard', shard, 0), this.now());
    });
  }

  // ------------------------------------------------------------------ assignments

  /** Records an assignment of the run's next round (committedRound + 1), status 'assigned'. */
  recordAssignment(a: NewAssignment): AssignmentRow {
    inTransaction(this.db, () => {
      const run = this.requireRun(a.runId);
      checkInt('round', a.round, 0);
      if (a.round !== run.committedRound + 1) {
        throw new RunStoreError(a.round <= run.committedRound ? 'round-closed' : 'round-out-of-order',
          `run ${a.runId} has committed round ${run.committedRound}; assignments are for round ${run.committedRound + 1} only, not ${a.round}`);
      }
      if (!this.getClient(a.clientId)) throw unknownClient(a.clientId);
      if (this.getAssignment(a.taskId)) throw new RunStoreError('duplicate-task', `task ${a.taskId} is already recorded; task ids must be fresh per assignment`);
      this.sql(`INSERT INTO assignments (task_id, run_id, round, attempt, client_id, label, plan_json, budget_bytes, estimate_bytes, issued_at, deadline, status, bytes_down)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'assigned', ?)`).run(
        checkText('taskId', a.taskId), a.runId, a.round, checkInt('attempt', a.attempt, 0), a.clientId, a.label ?? null, a.planJson,
        checkInt('budgetBytes', a.budgetBytes, 0), checkInt('estimateBytes', a.estimateBytes, 0), a.issuedAt, a.deadline, checkInt('bytesDown', a.bytesDown ?? 0, 0),
      );
    });
    return this.getAssignment(a.taskId)!;
  }

  /** Records the outcome of an open assignment, exactly once (a second outcome is refused). */
  recordOutcome(taskId: string, o: AssignmentOutcome): AssignmentRow {
    checkStatus('outcome status', o.status, ASSIGNMENT_STATUSES.filter((s) => s !== 'assigned'));
    if (o.status === 'received') checkInt('numSamples of a received update', o.numSamples ?? Number.NaN, 1);
    inTransaction(this.db, () => {
      const a = this.getAssignment(taskId);
      if (!a) throw new RunStoreError('unknown-task', `no assignment ${taskId}`);
      if (a.status !== 'assigned') throw new RunStoreError('duplicate-outcome', `task ${taskId} already settled as '${a.status}'; an outcome is recorded once`);
      const run = this.requireRun(a.runId);
      if (a.round <= run.committedRound) throw new RunStoreError('round-closed', `task ${taskId} is for round ${a.round}, which is already committed`);
      this.sql(`UPDATE assignments SET status = ?, settled_at = ?, peak_bytes = ?, num_samples = ?, train_loss = ?, tokens_per_second = ?,
          bytes_up = ?, bytes_down = ?, reason = ? WHERE task_id = ? AND status = 'assigned'`).run(
        o.status, o.settledAt ?? this.now(), optionalInt('peakBytes', o.peakBytes), optionalInt('numSamples', o.numSamples),
        optionalNumber(o.trainLoss), optionalNumber(o.tokensPerSecond), checkInt('bytesUp', o.bytesUp ?? 0, 0),
        checkInt('bytesDown', o.bytesDown ?? a.bytesDown, 0), o.reason ?? null, taskId,
      );
    });
    return this.getAssignment(taskId)!;
  }

  getAssignment(taskId: string): AssignmentRow | undefined {
    return this.sql(`SELECT ${ASSIGNMENT_COLUMNS} FROM assignments WHERE task_id = ?`).get(taskId) as AssignmentRow | undefined;
  }

  /** A run's assignments (optionally of one round), in the order they were issued. */
  listAssignments(runId: string, round?: number): AssignmentRow[] {
    const rows = round === undefined
      ? this.sql(`SELECT ${ASSIGNMENT_COLUMNS} FROM assignments WHERE run_id = ? ORDER BY round, attempt, issued_at, task_id`).all(runId)
      : this.sql(`SELECT ${ASSIGNMENT_COLUMNS} FROM assignments WHERE run_id = ? AND round = ? ORDER BY attempt, issued_at, task_id`).all(runId, round);
    return rows as unknown as AssignmentRow[];
  }

  // ------------------------------------------------------------------ rounds

  /**
   * Commits round `c.round` in one transaction: the round row (participants and samples computed
   * from the counted assignments), its metrics, the counted assignments, any assignment of the
   * round still open (now 'abandoned': its update can no longer count), and the run's committed
   * round and sample total. Refused unless c.round is exactly committedRound + 1.
   */
  commitRound(c: RoundCommit): RoundRow {
    const committedAt = c.committedAt ?? this.now();
    return inTransaction(this.db, () => {
      const run = this.requireRun(c.runId);
      if (c.round !== run.committedRound + 1) {
        throw new RunStoreError('round-out-of-order', `run ${c.runId} has committed round ${run.committedRound}; the next commit must be round ${run.committedRound + 1}, not ${c.round}`);
      }
      if (c.round >= run.totalRounds) throw new RunStoreError('bad-commit', `run ${c.runId} has ${run.totalRounds} round(s) (0..${run.totalRounds - 1}); round ${c.round} is past its end`);
      const counted = this.countedAssignments(c);
      const samples = counted.reduce((s, a) => s + a.numSamples!, 0);
      const stateJson = c.strategyState === undefined || c.strategyState === null ? null : JSON.stringify(c.strategyState);
      if (stateJson === undefined) throw new RunStoreError('bad-value', `round ${c.round}: the strategy state is not JSON-serializable`);
      this.sql(`INSERT INTO rounds (run_id, round, attempt, status, started_at, committed_at, checkpoint_dir, adapter_sha256, participants, num_samples,
          accuracy, eval_loss, train_loss, bytes_up, bytes_down, duration_ms, strategy_state_json) VALUES (?, ?, ?, 'committed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        c.runId, c.round, checkInt('attempt', c.attempt, 0), c.startedAt, committedAt, checkText('checkpointDir', c.checkpointDir),
        checkSha256(c.adapterSha256), counted.length, samples, optionalNumber(c.accuracy), optionalNumber(c.evalLoss), optionalNumber(c.trainLoss),
        checkInt('bytesUp', c.bytesUp, 0), checkInt('bytesDown', c.bytesDown, 0), checkInt('durationMs', c.durationMs ?? Math.max(0, committedAt - c.startedAt), 0),
        stateJson,
      );
      for (const [name, value] of Object.entries(c.metrics ?? {})) {
        if (!Number.isFinite(value)) throw new RunStoreError('bad-value', `metric ${name} must be a finite number, got ${value}`);
        this.sql('INSERT INTO metrics (run_id, round, name, value) VALUES (?, ?, ?, ?)').run(c.runId, c.round, name, value);
      }
      const count = this.sql('UPDATE assignments SET counted_round = ? WHERE task_id = ?');
      for (const a of counted) count.run(c.round, a.taskId);
      this.sql(`UPDATE assignments SET status = 'abandoned', settled_at = ?, reason = 'the round was committed without this update'
        WHERE run_id = ? AND round = ? AND status = 'assigned'`).run(committedAt, c.runId, c.round);
      this.sql('UPDATE runs SET committed_round = ?, samples_total = samples_total + ?, updated_at = ? WHERE id = ?').run(c.round, samples, committedAt, c.runId);
      return this.getRound(c.runId, c.round)!;
    });
  }

  /** The assignments a commit counts, each checked: this run and round, received, not yet counted. */
  private countedAssignments(c: RoundCommit): AssignmentRow[] {
    if (new Set(c.countedTaskIds).size !== c.countedTaskIds.length) throw new RunStoreError('bad-commit', `round ${c.round}: countedTaskIds lists a task twice`);
    return c.countedTaskIds.map((id) => {
      const a = this.getAssignment(id);
      if (!a || a.runId !== c.runId || a.round !== c.round) throw new RunStoreError('bad-commit', `task ${id} is not an assignment of run ${c.runId} round ${c.round}`);
      if (a.status !== 'received') throw new RunStoreError('bad-commit', `task ${id} is '${a.status}'; only 'received' updates can be counted`);
      return a;
    });
  }

  getRound(runId: string, round: number): RoundRow | undefined {
    return this.sql(`SELECT ${ROUND_COLUMNS} FROM rounds WHERE run_id = ? AND round = ?`).get(runId, round) as RoundRow | undefined;
  }

  /** Committed rounds of a run, oldest first. */
  listRounds(runId: string): RoundRow[] {
    return this.sql(`SELECT ${ROUND_COLUMNS} FROM rounds WHERE run_id = ? ORDER BY round`).all(runId) as unknown as RoundRow[];
  }

  /** The metric series of a run (one name, or all), by round. */
  listMetrics(runId: string, name?: string): MetricRow[] {
    const rows = name === undefined
      ? this.sql(`SELECT ${METRIC_COLUMNS} FROM metrics WHERE run_id = ? ORDER BY round, name`).all(runId)
      : this.sql(`SELECT ${METRIC_COLUMNS} FROM metrics WHERE run_id = ? AND name = ? ORDER BY round`).all(runId, name);
    return rows as unknown as MetricRow[];
  }

  /** Dashboard summaries of the committed rounds, rebuilt from the rows (committed attempt only). */
  roundSummaries(runId: string): RoundSummary[] {
    const tasks = this.sql(`SELECT ${ASSIGNMENT_COLUMNS} FROM assignments WHERE run_id = ? AND round = ? AND attempt = ? AND discarded_at IS NULL
      ORDER BY issued_at, task_id`);
    return this.listRounds(runId).map((r) => roundSummaryFromRows(r, tasks.all(runId, r.round, r.attempt) as unknown as AssignmentRow[]));
  }

  // ------------------------------------------------------------------ restart

  /**
   * Call once when a coordinator (re)opens a run: returns the last committed round and its
   * checkpoint, and discards the uncommitted round's assignments (marked discarded; open or
   * received-but-uncounted ones become 'abandoned'), since their updates died with the process and
   * the round is re-run from the committed adapter.
   */
  resumeState(runId: string): ResumeState {
    return inTransaction(this.db, () => {
      const run = this.requireRun(runId);
      const t = this.now();
      const abandoned = this.sql(`UPDATE assignments SET status = 'abandoned', settled_at = ?, reason = 'the coordinator restarted before the round committed'
        WHERE run_id = ? AND round > ? AND status IN ('assigned', 'received')`).run(t, runId, run.committedRound).changes;
      this.sql('UPDATE assignments SET discarded_at = ? WHERE run_id = ? AND round > ? AND discarded_at IS NULL').run(t, runId, run.committedRound);
      const last = run.committedRound >= 0 ? this.getRound(runId, run.committedRound) : undefined;
      const maxAttempt = this.sql('SELECT max(attempt) AS m FROM assignments WHERE run_id = ? AND round = ?').get(runId, run.committedRound + 1)?.m;
      const state = last ? this.sql('SELECT strategy_state_json AS s FROM rounds WHERE run_id = ? AND round = ?').get(runId, last.round)?.s : null;
      return {
        run,
        committedRound: run.committedRound,
        checkpointDir: last?.checkpointDir ?? null,
        adapterSha256: last?.adapterSha256 ?? null,
        abandonedAssignments: abandoned,
        nextAttempt: typeof maxAttempt === 'number' ? maxAttempt + 1 : 0,
        rounds: this.roundSummaries(runId),
        strategyState: typeof state === 'string' ? JSON.parse(state) : undefined,
      };
    });
  }

  // ------------------------------------------------------------------ model measurements

  /** A measurement of a base model stored by storeMeasurement (parsed JSON), or undefined. */
  measurement(modelId: string, kind: string, inputKey: string): unknown {
    const row = this.sql('SELECT value_json FROM model_measurements WHERE model_id = ? AND kind = ? AND input_key = ?').get(modelId, kind, inputKey);
    return row ? JSON.parse(String(row.value_json)) : undefined;
  }

  storeMeasurement(modelId: string, kind: string, inputKey: string, value: unknown): void {
    const json = JSON.stringify(value);
    if (json === undefined) throw new RunStoreError('bad-value', `measurement ${kind} of ${modelId} is not JSON-serializable`);
    this.sql('INSERT OR REPLACE INTO model_measurements (model_id, kind, input_key, value_json, measured_at) VALUES (?, ?, ?, ?, ?)').run(modelId, kind, inputKey, json, this.now());
  }

  // ------------------------------------------------------------------ helpers

  private requireRun(id: string): RunRow {
    const r = this.getRun(id);
    if (!r) throw unknownRun(id);
    return r;
  }

  /** Prepared once per SQL text and reused. */
  private sql(text: string): SqlStatement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }
}

function checkStatus(what: string, v: string, valid: readonly string[]): void {
  if (!valid.includes(v)) throw new RunStoreError('bad-value', `unknown ${what} ${JSON.stringify(v)}; valid: ${valid.join(', ')}`);
}

function checkSha256(v: string): SqlValue {
  if (!/^[0-9a-f]{64}$/.test(v)) throw new RunStoreError('bad-value', `adapterSha256 must be 64 lowercase hex digits, got ${JSON.stringify(v)}`);
  return v;
}

function unknownRun(id: string): RunStoreError {
  return new RunStoreError('unknown-run', `no run ${id} in the store`);
}

function unknownClient(id: string): RunStoreError {
  return new RunStoreError('unknown-client', `no client ${id} in the store; upsertClient it when it says hello`);
}
