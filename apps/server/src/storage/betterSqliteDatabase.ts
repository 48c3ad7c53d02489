/**
 * SqlDatabase on better-sqlite3 (stable and synchronous on Node 20). node:sqlite could replace it
 * behind the same interface once it leaves release-candidate status.
 */
import Database from 'better-sqlite3';
import type { SqlDatabase, SqlStatement, SqlValue } from './sqlDatabase';

/**
 * Opens (creating if needed) a database file with the settings the run store relies on:
 * - journal_mode=WAL: readers (a dashboard, a report script) never block the coordinator's writes,
 *   and a commit is one append to the log;
 * - synchronous=FULL: with WAL, NORMAL survives a killed process but may lose the last commits on
 *   power loss or an OS crash. A round commit is rare (seconds to minutes apart) and is announced to
 *   dashboards as durable, with its checkpoint already fsynced, so one extra fsync per commit is cheap
 *   insurance that the database never lags behind what we said;
 * - foreign_keys=ON: SQLite leaves them off per connection unless asked;
 * - busy_timeout: another process holding the write lock briefly makes us wait instead of failing.
 */
export function openBetterSqlite(path: string): SqlDatabase {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return {
    exec: (sql) => void db.exec(sql),
    prepare: (sql): SqlStatement => {
      const st = db.prepare<SqlValue[], Record<string, unknown>>(sql);
      return {
        run: (...p) => ({ changes: st.run(...p).changes }),
        get: (...p) => st.get(...p),
        all: (...p) => st.all(...p),
      };
    },
    close: () => db.close(),
  };
}
