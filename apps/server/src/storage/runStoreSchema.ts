/**
 * The run store's SQL schema, as numbered migrations. `schema_version` holds the version a file is
 * at; opening applies the missing migrations in one transaction, and refuses a file written by a
 * newer coordinator instead of guessing at its layout.
 */
import { ASSIGNMENT_STATUSES, CLIENT_STATUSES, RUN_STATUSES } from './runStoreRows';
import { inTransaction, type SqlDatabase } from './sqlDatabase';
import { RunStoreError } from './runStoreError';

const list = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');

/** Migration i brings a file from version i to version i + 1. Append only; never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (${list(RUN_STATUSES)})),
    settings_json TEXT NOT NULL,
    model_dir TEXT NOT NULL,
    model_id TEXT NOT NULL,
    task TEXT NOT NULL,
    strategy TEXT,
    total_rounds INTEGER NOT NULL CHECK (total_rounds >= 1),
    committed_round INTEGER NOT NULL DEFAULT -1 CHECK (committed_round >= -1 AND committed_round < total_rounds),
    samples_total INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE rounds (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    round INTEGER NOT NULL CHECK (round >= 0),
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status = 'committed'),
    started_at INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,
    checkpoint_dir TEXT NOT NULL,
    adapter_sha256 TEXT NOT NULL,
    participants INTEGER NOT NULL,
    num_samples INTEGER NOT NULL,
    accuracy REAL,
    eval_loss REAL,
    train_loss REAL,
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, round)
  );
  CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    capabilities_json TEXT NOT NULL,
    budget_bytes INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN (${list(CLIENT_STATUSES)})),
    last_error TEXT
  );
  CREATE TABLE assignments (
    task_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    round INTEGER NOT NULL CHECK (round >= 0),
    attempt INTEGER NOT NULL CHECK (attempt >= 0),
    client_id TEXT NOT NULL REFERENCES clients(id),
    label TEXT,
    plan_json TEXT NOT NULL,
    budget_bytes INTEGER NOT NULL,
    estimate_bytes INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN (${list(ASSIGNMENT_STATUSES)})),
    settled_at INTEGER,
    peak_bytes INTEGER,
    num_samples INTEGER,
    train_loss REAL,
    tokens_per_second REAL,
    bytes_up INTEGER NOT NULL DEFAULT 0,
    bytes_down INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    -- One column, so an update can be counted in at most one round; it must name a committed round.
    counted_round INTEGER,
    discarded_at INTEGER,
    FOREIGN KEY (run_id, counted_round) REFERENCES rounds(run_id, round),
    CHECK (counted_round IS NULL OR (status = 'received' AND counted_round = round))
  );
  CREATE INDEX assignments_by_round ON assignments(run_id, round, attempt);
  CREATE TABLE metrics (
    run_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, round, name),
    FOREIGN KEY (run_id, round) REFERENCES rounds(run_id, round) ON DELETE CASCADE
  );
  `,
  // 1 -> 2: each tab keeps its data shard for the whole run, across coordinator restarts (it was
  // given in join order, in memory, so tabs re-joining a restarted coordinator could swap shards).
  `
  CREATE TABLE client_shards (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id),
    shard INTEGER NOT NULL CHECK (shard >= 0),
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, client_id)
  );
  `,
  // 2 -> 3: what a run measures of its base model before round 0 (layer importance, the base
  // model's held-out metrics), kept by model content id and a key of the inputs, so a restart or a
  // new run on the same model and data does not recompute minutes (a real model: hours) of CPU work.
  `
  CREATE TABLE model_measurements (
    model_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    input_key TEXT NOT NULL,
    value_json TEXT NOT NULL,
    measured_at INTEGER NOT NULL,
    PRIMARY KEY (model_id, kind, input_key)
  );
  `,
  // 3 -> 4: a method's own derived state (DevFT's stage and layer groups), as JSON, with the round
  // it was aggregated in, so a restarted run continues the stage on the same fused model.
  `
  ALTER TABLE rounds ADD COLUMN strategy_state_json TEXT;
  `,
];

/** The schema version this code writes. */
export const RUN_STORE_SCHEMA_VERSION = MIGRATIONS.length;

/** Creates or upgrades the schema; returns the version the file is at afterwards. */
export function migrateRunStore(db: SqlDatabase, path: string): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  return inTransaction(db, () => {
    const row = db.prepare('SELECT version FROM schema_version').get();
    const from = row ? Number(row.version) : 0;
    if (from > RUN_STORE_SCHEMA_VERSION) {
      throw new RunStoreError('schema-too-new', `${path} has run-store schema version ${from}, but this coordinator knows versions up to ${RUN_STORE_SCHEMA_VERSION}; run a newer coordinator or point it at another database file`);
    }
    for (let v = from; v < RUN_STORE_SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(RUN_STORE_SCHEMA_VERSION);
    else db.prepare('UPDATE schema_version SET version = ?').run(RUN_STORE_SCHEMA_VERSION);
    return RUN_STORE_SCHEMA_VERSION;
  });
}
