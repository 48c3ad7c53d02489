import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openBetterSqlite } from '../../src/storage/betterSqliteDatabase';
import { RunStore } from '../../src/storage/runStore';
import { RunStoreError, type RunStoreErrorCode } from '../../src/storage/runStoreError';
import { RUN_STORE_SCHEMA_VERSION } from '../../src/storage/runStoreSchema';
import { assignment, SHA_A, storeWithRun, tempDir } from './storageFixtures';

const refused = (code: RunStoreErrorCode) => (e: unknown) => e instanceof RunStoreError && e.code === code;

function commitOf(round: number, countedTaskIds: string[], extra: Partial<Parameters<RunStore['commitRound']>[0]> = {}) {
  return {
    runId: 'run-1', round, attempt: 0, startedAt: 2000, committedAt: 2500, checkpointDir: `/runs/run-1/round-000${round}`,
    adapterSha256: SHA_A, countedTaskIds, accuracy: 0.75, evalLoss: 0.5, trainLoss: 0.6, bytesUp: 100, bytesDown: 200, ...extra,
  };
}

test('open creates the schema (WAL, synchronous FULL, foreign keys) and a reopened file keeps its rows', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  try {
    const path = join(dir, 'runs.db');
    const store = storeWithRun(dir, 3);
    assert.equal(store.schemaVersion(), RUN_STORE_SCHEMA_VERSION);
    const created = store.getRun('run-1')!;
    assert.equal(created.committedRound, -1);
    assert.equal(created.status, 'created');
    store.close();

    const raw = new Database(path, { readonly: true });
    const tables = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    assert.deepEqual(tables, ['assignments', 'client_shards', 'clients', 'metrics', 'model_measurements', 'rounds', 'runs', 'schema_version']);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
    // Per-connection settings: what the store's own connection runs with.
    const db = openBetterSqlite(path);
    assert.equal(db.prepare('PRAGMA foreign_keys').get()!.foreign_keys, 1);
    assert.equal(db.prepare('PRAGMA synchronous').get()!.synchronous, 2); // 2 = FULL
    db.close();

    for (let i = 0; i < 2; i++) {
      const again = RunStore.open(path);
      assert.deepEqual(again.getRun('run-1'), created);
      assert.equal(again.listClients().length, 3);
      assert.equal(again.schemaVersion(), RUN_STORE_SCHEMA_VERSION);
      again.close();
    }
    const check = new Database(path, { readonly: true });
    assert.equal((check.prepare('SELECT count(*) AS n FROM schema_version').get() as { n: number }).n, 1);
    check.close();
  } finally {
    await cleanup();
  }
});

test('a file written by a newer schema version is refused, not guessed at', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  try {
    storeWithRun(dir, 3).close();
    const raw = new Database(join(dir, 'runs.db'));
    raw.prepare('UPDATE schema_version SET version = ?').run(RUN_STORE_SCHEMA_VERSION + 1);
    raw.close();
    assert.throws(() => RunStore.open(join(dir, 'runs.db')), refused('schema-too-new'));
  } finally {
    await cleanup();
  }
});

test('a version-1 file (before client shards, model measurements and strategy states) is upgraded in place and keeps its rows', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  try {
    const v1 = storeWithRun(dir, 3);
    v1.commitRound(commitOf(0, []));
    v1.close();
    const raw = new Database(join(dir, 'runs.db'));
    raw.exec('DROP TABLE client_shards');
    raw.exec('DROP TABLE model_measurements');
    raw.exec('ALTER TABLE rounds DROP COLUMN strategy_state_json');
    raw.prepare('UPDATE schema_version SET version = 1').run();
    raw.close();
    const store = RunStore.open(join(dir, 'runs.db'));
    assert.equal(store.schemaVersion(), RUN_STORE_SCHEMA_VERSION);
    assert.equal(store.listClients().length, 3);
    store.setClientShard('run-1', 'c0', 2);
    assert.deepEqual([...store.clientShards('run-1')], [['c0', 2]]);
    store.storeMeasurement('m', 'base-evaluation', 'k', 1);
    assert.equal(store.measurement('m', 'base-evaluation', 'k'), 1);
    assert.equal(store.resumeState('run-1').strategyState, undefined, 'a round from before states were kept has none');
    store.commitRound(commitOf(1, [], { strategyState: { stage: 1, groups: [[0, 1], [2]] } }));
    assert.deepEqual(store.resumeState('run-1').strategyState, { stage: 1, groups: [[0, 1], [2]] });
    assert.throws(() => store.commitRound(commitOf(2, [], { strategyState: { n: 1n } })), /BigInt/);
    assert.equal(store.getRun('run-1')!.committedRound, 1, 'the refused commit wrote nothing');
    store.close();
  } finally {
    await cleanup();
  }
});

test('a client keeps its data shard for the run: stored, survives a reopen, never changed', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  try {
    let store = storeWithRun(dir, 3);
    let t = 100;
    store.close();
    store = RunStore.open(join(dir, 'runs.db'), { now: () => t++ });
    store.setClientShard('run-1', 'c2', 0);
    store.setClientShard('run-1', 'c0', 1);
    store.setClientShard('run-1', 'c0', 1); // the same shard again is a no-op
    assert.throws(() => store.setClientShard('run-1', 'c0', 2), refused('shard-taken'));
    assert.throws(() => store.setClientShard('run-1', 'nobody', 0), refused('unknown-client'));
    assert.throws(() => store.setClientShard('run-x', 'c1', 0), refused('unknown-run'));
    assert.throws(() => store.setClientShard('run-1', 'c1', -1), refused('bad-value'));
    store.close();
    store = RunStore.open(join(dir, 'runs.db'));
    assert.deepEqual([...store.clientShards('run-1')], [['c2', 0], ['c0', 1]], 'in the order given');
    assert.equal(store.clientShards('run-2').size, 0);
    store.close();
  } finally {
    await cleanup();
  }
});

test('rounds commit only as committedRound + 1, each once, and never past the run\'s end', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  const store = storeWithRun(dir, 2);
  try {
    assert.throws(() => store.commitRound(commitOf(1, [])), refused('round-out-of-order'));
    assert.equal(store.listRounds('run-1').length, 0);
    store.commitRound(commitOf(0, []));
    assert.throws(() => store.commitRound(commitOf(0, [])), refused('round-out-of-order'));
    store.commitRound(commitOf(1, []));
    assert.throws(() => store.commitRound(commitOf(2, [])), refused('bad-commit'));
    assert.deepEqual(store.listRounds('run-1').map((r) => r.round), [0, 1]);
    assert.equal(store.getRun('run-1')!.committedRound, 1);
    assert.throws(() => store.commitRound({ ...commitOf(0, []), runId: 'nope' }), refused('unknown-run'));
  } finally {
    store.close();
    await cleanup();
  }
});

test('an assignment gets exactly one outcome; later ones are refused and change nothing', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  const store = storeWithRun(dir, 3);
  try {
    store.recordAssignment(assignment('t1', 0, 'c0'));
    assert.throws(() => store.recordAssignment(assignment('t1', 0, 'c1')), refused('duplicate-task'));
    assert.throws(() => store.recordOutcome('t1', { status: 'received' }), refused('bad-value')); // no numSamples
    const first = store.recordOutcome('t1', { status: 'received', numSamples: 12, peakBytes: 800_000, trainLoss: 1.5, tokensPerSecond: 99, bytesUp: 4321, settledAt: 3000 });
    assert.equal(first.status, 'received');
    assert.throws(() => store.recordOutcome('t1', { status: 'failed', reason: 'late failure' }), refused('duplicate-outcome'));
    assert.throws(() => store.recordOutcome('t1', { status: 'received', numSamples: 99 }), refused('duplicate-outcome'));
    assert.deepEqual(store.getAssignment('t1'), first);
    assert.equal(first.numSamples, 12);
    assert.equal(first.bytesDown, 5000); // kept from the assignment when the outcome gives none
    assert.throws(() => store.recordOutcome('t-unknown', { status: 'failed' }), refused('unknown-task'));
    assert.throws(() => store.recordOutcome('t1', { status: 'assigned' as never }), (e: unknown) => e instanceof RunStoreError && /valid: received, rejected/.test(e.message));
    assert.throws(() => store.recordAssignment(assignment('t2', 0, 'stranger')), refused('unknown-client'));
    assert.throws(() => store.recordAssignment(assignment('t3', 1, 'c0')), refused('round-out-of-order'));
  } finally {
    store.close();
    await cleanup();
  }
});

test('commitRound counts exactly the listed received updates, once, and sums their samples', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  const store = storeWithRun(dir, 3);
  try {
    // Attempt 0 of round 0 gets one update and is re-sampled; attempt 1 commits with two.
    store.recordAssignment(assignment('a0', 0, 'c0', 0));
    store.recordOutcome('a0', { status: 'received', numSamples: 5 });
    store.recordAssignment(assignment('b0', 0, 'c0', 1));
    store.recordAssignment(assignment('b1', 0, 'c1', 1));
    store.recordAssignment(assignment('b2', 0, 'c2', 1));
    store.recordOutcome('b0', { status: 'received', numSamples: 7 });
    store.recordOutcome('b1', { status: 'received', numSamples: 11 });
    store.recordOutcome('b2', { status: 'failed', reason: 'out-of-memory: boom' });

    assert.throws(() => store.commitRound(commitOf(0, ['b0', 'b2'], { attempt: 1 })), refused('bad-commit')); // a failed task
    assert.throws(() => store.commitRound(commitOf(0, ['b0', 'b0'], { attempt: 1 })), refused('bad-commit'));
    assert.throws(() => store.commitRound(commitOf(0, ['b0', 'zz'], { attempt: 1 })), refused('bad-commit'));
    const row = store.commitRound(commitOf(0, ['b0', 'b1'], { attempt: 1, metrics: { evalExamples: 200 } }));
    assert.equal(row.participants, 2);
    assert.equal(row.numSamples, 7 + 11);
    assert.equal(row.durationMs, 500);
    assert.equal(row.attempt, 1);
    assert.deepEqual(store.listMetrics('run-1'), [{ runId: 'run-1', round: 0, name: 'evalExamples', value: 200 }]);
    const counted = Object.fromEntries(store.listAssignments('run-1', 0).map((a) => [a.taskId, a.countedRound]));
    assert.deepEqual(counted, { a0: null, b0: 0, b1: 0, b2: null });
    const run = store.getRun('run-1')!;
    assert.equal(run.committedRound, 0);
    assert.equal(run.samplesTotal, 18);

    // Round 0 is closed: no new assignments or updates for it, and its updates cannot count again.
    assert.throws(() => store.recordAssignment(assignment('late', 0, 'c1', 2)), refused('round-closed'));
    store.recordAssignment(assignment('r1', 1, 'c0'));
    store.recordOutcome('r1', { status: 'received', numSamples: 3 });
    assert.throws(() => store.commitRound(commitOf(1, ['b0', 'r1'])), refused('bad-commit'));
    store.commitRound(commitOf(1, ['r1']));
    assert.equal(store.getRun('run-1')!.samplesTotal, 21);
  } finally {
    store.close();
    await cleanup();
  }
});

test('an assignment still open when its round commits is abandoned; its update is refused', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  const store = storeWithRun(dir, 3);
  try {
    store.recordAssignment(assignment('x0', 0, 'c0'));
    store.recordAssignment(assignment('x1', 0, 'c1'));
    store.recordOutcome('x0', { status: 'received', numSamples: 4 });
    store.commitRound(commitOf(0, ['x0']));
    assert.equal(store.getAssignment('x1')!.status, 'abandoned');
    assert.throws(() => store.recordOutcome('x1', { status: 'received', numSamples: 4 }), refused('duplicate-outcome'));
  } finally {
    store.close();
    await cleanup();
  }
});

test('a refused commit writes nothing: round row, metrics, counting and the run advance are one transaction', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  const store = storeWithRun(dir, 3);
  try {
    store.recordAssignment(assignment('t0', 0, 'c0'));
    store.recordOutcome('t0', { status: 'received', numSamples: 9 });
    // The bad metric is checked after the round row is inserted: the rollback must undo that row.
    assert.throws(() => store.commitRound(commitOf(0, ['t0'], { metrics: { fine: 1, broken: Number.NaN } })), refused('bad-value'));
    assert.equal(store.getRound('run-1', 0), undefined);
    assert.deepEqual(store.listMetrics('run-1'), []);
    assert.equal(store.getAssignment('t0')!.countedRound, null);
    assert.equal(store.getRun('run-1')!.committedRound, -1);
    assert.equal(store.getRun('run-1')!.samplesTotal, 0);
    store.commitRound(commitOf(0, ['t0']));
    assert.equal(store.getRun('run-1')!.samplesTotal, 9);
  } finally {
    store.close();
    await cleanup();
  }
});

test('resumeState discards the uncommitted round and rebuilds the committed rounds\' summaries', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  const path = join(dir, 'runs.db');
  let store = storeWithRun(dir, 3);
  try {
    store.recordAssignment(assignment('p0', 0, 'c0'));
    store.recordAssignment(assignment('p1', 0, 'c1'));
    store.recordOutcome('p0', { status: 'received', numSamples: 6, peakBytes: 700_000, trainLoss: 1.25, tokensPerSecond: 50, bytesUp: 300 });
    store.recordOutcome('p1', { status: 'timeout', reason: 'no update before the deadline' });
    store.commitRound(commitOf(0, ['p0']));
    // Round 1 in flight when the process dies: one open, one received (uncounted), one failed.
    store.recordAssignment(assignment('q0', 1, 'c0'));
    store.recordAssignment(assignment('q1', 1, 'c1'));
    store.recordAssignment(assignment('q2', 1, 'c2'));
    store.recordOutcome('q1', { status: 'received', numSamples: 8 });
    store.recordOutcome('q2', { status: 'failed', reason: 'device-lost' });
    store.close();

    store = RunStore.open(path);
    const r = store.resumeState('run-1');
    assert.equal(r.committedRound, 0);
    assert.equal(r.checkpointDir, '/runs/run-1/round-0000');
    assert.equal(r.adapterSha256, SHA_A);
    assert.equal(r.abandonedAssignments, 2);
    assert.equal(r.nextAttempt, 1);
    const after = Object.fromEntries(store.listAssignments('run-1', 1).map((a) => [a.taskId, [a.status, a.discardedAt !== null]]));
    assert.deepEqual(after, { q0: ['abandoned', true], q1: ['abandoned', true], q2: ['failed', true] });
    assert.equal(r.run.samplesTotal, 6);
    assert.deepEqual(r.rounds, [{
      round: 0, accuracy: 0.75, evalLoss: 0.5, trainLoss: 0.6, participants: 1, bytesUp: 100, bytesDown: 200, durationMs: 500,
      clients: [
        { clientId: 'c0', label: 'tab c0', plan: '0,1a', layersKept: 2, budgetBytes: 1_000_000, estimateBytes: 900_000, peakBytes: 700_000,
          bytesUp: 300, bytesDown: 5000, status: 'received', reason: undefined, trainLoss: 1.25, tokensPerSecond: 50 },
        { clientId: 'c1', label: 'tab c1', plan: '0,1a', layersKept: 2, budgetBytes: 1_000_000, estimateBytes: 900_000, peakBytes: undefined,
          bytesUp: 0, bytesDown: 5000, status: 'timeout', reason: 'no update before the deadline', trainLoss: undefined, tokensPerSecond: undefined },
      ],
    }]);

    // The re-run reuses attempt number 0: the discarded tasks of the dead attempt must not leak into its summary.
    store.recordAssignment(assignment('s0', 1, 'c2', 0));
    store.recordOutcome('s0', { status: 'received', numSamples: 2 });
    store.commitRound(commitOf(1, ['s0']));
    const summaries = store.roundSummaries('run-1');
    assert.deepEqual(summaries[1].clients.map((c) => c.clientId), ['c2']);
    assert.equal(store.resumeState('run-1').abandonedAssignments, 0);
    assert.equal(store.getRun('run-1')!.samplesTotal, 8);
  } finally {
    store.close();
    await cleanup();
  }
});

test('run lifecycle: active run, settings only before start, statuses named on refusal; clients keep firstSeen', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  let clock = 10_000;
  const store = RunStore.open(join(dir, 'runs.db'), { now: () => clock });
  try {
    store.createRun({ id: 'r-a', name: 'a', settingsJson: '{}', modelDir: 'm', modelId: 'h', task: 'spam', totalRounds: 2 });
    assert.throws(() => store.createRun({ id: 'r-a', name: 'a', settingsJson: '{}', modelDir: 'm', modelId: 'h', task: 'spam', totalRounds: 2 }), refused('duplicate-run'));
    assert.equal(store.activeRun(), undefined);
    store.updateRunSettings('r-a', '{"rounds":5}', 5);
    assert.equal(store.getRun('r-a')!.totalRounds, 5);
    clock = 11_000;
    store.setRunStatus('r-a', 'running');
    assert.equal(store.activeRun()!.id, 'r-a');
    assert.equal(store.activeRun()!.updatedAt, 11_000);
    assert.throws(() => store.updateRunSettings('r-a', '{}', 1), refused('run-started'));
    assert.throws(() => store.setRunStatus('r-a', 'exploded' as never), (e: unknown) => e instanceof RunStoreError && /valid: created, running, paused, stopped, completed, failed/.test(e.message));
    assert.throws(() => store.setRunStatus('nope', 'paused'), refused('unknown-run'));
    store.setRunStatus('r-a', 'completed');
    assert.equal(store.activeRun(), undefined);

    store.upsertClient({ id: 'tab', capabilitiesJson: '{"v":1}', budgetBytes: 10 });
    clock = 12_000;
    const again = store.upsertClient({ id: 'tab', capabilitiesJson: '{"v":2}', budgetBytes: 20, lastError: 'budget too small' });
    assert.deepEqual(again, { id: 'tab', firstSeen: 11_000, lastSeen: 12_000, capabilitiesJson: '{"v":2}', budgetBytes: 20, status: 'connected', lastError: 'budget too small' });
    store.markClientSeen('tab', 13_000);
    store.setClientStatus('tab', 'disconnected');
    assert.deepEqual([store.getClient('tab')!.lastSeen, store.getClient('tab')!.status, store.getClient('tab')!.lastError], [13_000, 'disconnected', 'budget too small']);
    assert.throws(() => store.markClientSeen('ghost'), refused('unknown-client'));
  } finally {
    store.close();
    await cleanup();
  }
});

test('model measurements: stored by (model, kind, inputs), replaced on re-measure, kept across reopening', async () => {
  const { dir, cleanup } = await tempDir('runstore-');
  try {
    const path = join(dir, 'runs.db');
    const store = storeWithRun(dir, 1);
    assert.equal(store.measurement('m1', 'layer-importance', 'k1'), undefined);
    const importance = [{ index: 0, layer: 0.5, attention: 0.25, mlp: 0.125 }];
    store.storeMeasurement('m1', 'layer-importance', 'k1', importance);
    store.storeMeasurement('m1', 'base-evaluation', 'k1', { accuracy: 0.7 });
    assert.deepEqual(store.measurement('m1', 'layer-importance', 'k1'), importance);
    assert.equal(store.measurement('m1', 'layer-importance', 'k2'), undefined, 'other inputs: not measured');
    assert.equal(store.measurement('m2', 'layer-importance', 'k1'), undefined, 'another model: not measured');
    store.storeMeasurement('m1', 'base-evaluation', 'k1', { accuracy: 0.8 });
    store.close();
    const again = RunStore.open(path);
    assert.deepEqual(again.measurement('m1', 'base-evaluation', 'k1'), { accuracy: 0.8 });
    assert.throws(() => again.storeMeasurement('m1', 'x', 'k', undefined), refused('bad-value'));
    again.close();
  } finally {
    await cleanup();
  }
});
