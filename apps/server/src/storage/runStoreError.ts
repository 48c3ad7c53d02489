/** Why the run store refused an operation: a closed set, so callers can react per code. */
export const RUN_STORE_ERROR_CODES = [
  'schema-too-new', 'unknown-run', 'duplicate-run', 'unknown-client', 'unknown-task', 'duplicate-task',
  'duplicate-outcome', 'round-closed', 'round-out-of-order', 'bad-commit', 'bad-value', 'run-started', 'shard-taken',
] as const;
export type RunStoreErrorCode = (typeof RUN_STORE_ERROR_CODES)[number];

/** A refused run-store operation; nothing was written. */
export class RunStoreError extends Error {
  override name = 'RunStoreError';
  constructor(readonly code: RunStoreErrorCode, message: string) {
    super(message);
  }
}
