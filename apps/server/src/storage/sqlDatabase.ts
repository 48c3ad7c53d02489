/**
 * The few things the run store needs from an embedded SQL engine. The store is written against this
 * interface, not against better-sqlite3, so moving to node:sqlite (whose DatabaseSync has the same
 * synchronous prepare/run/get/all/exec shape) means writing one more small adapter. Parameters are
 * positional (`?`) only: the two drivers spell named parameters differently.
 */

/** A value SQLite stores: the store never binds undefined or booleans. */
export type SqlValue = string | number | bigint | null | Uint8Array;

export interface SqlStatement {
  run(...params: SqlValue[]): { changes: number };
  get(...params: SqlValue[]): Record<string, unknown> | undefined;
  all(...params: SqlValue[]): Record<string, unknown>[];
}

export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

/**
 * Runs `fn` in one write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so a
 * second process cannot interleave between our reads and writes). Rolls back and rethrows on error.
 * Not re-entrant: the store never nests transactions.
 */
export function inTransaction<T>(db: SqlDatabase, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  let result: T;
  try {
    result = fn();
  } catch (e) {
    db.exec('ROLLBACK');
    throw e;
  }
  db.exec('COMMIT');
  return result;
}
