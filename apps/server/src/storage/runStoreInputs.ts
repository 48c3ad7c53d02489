/**
 * What callers hand the run store, and the checks applied before anything is written (a refused
 * value throws RunStoreError 'bad-value' naming the field).
 */
import type { RoundSummary, RunStatus } from '@fedllm/core';
import type { AssignmentOutcomeStatus, ClientStatus, RunRow } from './runStoreRows';
import { RunStoreError } from './runStoreError';
import type { SqlValue } from './sqlDatabase';

export interface NewRun {
  id: string;
  name: string;
  settingsJson: string;
  modelDir: string;
  modelId: string;
  task: string;
  totalRounds: number;
  strategy?: string | null;
  /** Default 'created'. */
  status?: RunStatus;
}

export interface ClientSeen {
  id: string;
  capabilitiesJson: string;
  budgetBytes: number;
  lastError?: string | null;
  /** Default 'connected'. */
  status?: ClientStatus;
}

export interface NewAssignment {
  taskId: string;
  runId: string;
  round: number;
  attempt: number;
  clientId: string;
  label?: string | null;
  planJson: string;
  budgetBytes: number;
  estimateBytes: number;
  issuedAt: number;
  deadline: number;
  /** Bytes sent to the tab with the assignment. */
  bytesDown?: number;
}

export interface AssignmentOutcome {
  status: AssignmentOutcomeStatus;
  /** Default: now. */
  settledAt?: number;
  peakBytes?: number;
  /** Required (a positive integer) for 'received': the update's aggregation weight. */
  numSamples?: number;
  trainLoss?: number;
  tokensPerSecond?: number;
  bytesUp?: number;
  /** Replaces the bytes-down figure recorded with the assignment (it grows by what the tab downloaded). */
  bytesDown?: number;
  reason?: string;
}

export interface RoundCommit {
  runId: string;
  /** Must be the run's committedRound + 1. */
  round: number;
  attempt: number;
  startedAt: number;
  /** Default: now. */
  committedAt?: number;
  /** The round's PEFT checkpoint, already written and fsynced (see roundCheckpoints.ts). */
  checkpointDir: string;
  adapterSha256: string;
  /** The 'received' assignments of this round whose updates were aggregated. */
  countedTaskIds: string[];
  accuracy?: number;
  evalLoss?: number;
  trainLoss?: number;
  bytesUp: number;
  bytesDown: number;
  /** Default: committedAt - startedAt. */
  durationMs?: number;
  /** Extra per-round numbers for the metrics time series (non-finite values are refused). */
  metrics?: Record<string, number>;
  /** The strategy's derived state after this round (FederatedStrategy.snapshot(); JSON; null: none). */
  strategyState?: unknown;
}

/** What a restarted coordinator needs to continue a run. */
export interface ResumeState {
  run: RunRow;
  /** Last committed round, or -1 when none has been committed. */
  committedRound: number;
  /** Checkpoint of the last committed round (null before the first commit). */
  checkpointDir: string | null;
  adapterSha256: string | null;
  /** Assignments of the uncommitted round that were open or held an uncounted update, now 'abandoned'. */
  abandonedAssignments: number;
  /** A fresh attempt number for the round to run next (above every attempt already recorded for it). */
  nextAttempt: number;
  /** Summaries of the committed rounds, oldest first. */
  rounds: RoundSummary[];
  /** The strategy state stored with the last committed round (undefined: none committed or none stored). */
  strategyState: unknown;
}

export function checkInt(field: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new RunStoreError('bad-value', `${field} must be an integer >= ${min}, got ${v}`);
  return v;
}

export function checkText(field: string, v: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new RunStoreError('bad-value', `${field} must be a non-empty string`);
  return v;
}

/** Optional measurements: absent or non-finite values are stored as NULL (SQLite has no NaN). */
export function optionalNumber(v: number | undefined): SqlValue {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

export function optionalInt(field: string, v: number | undefined): SqlValue {
  return v === undefined ? null : checkInt(field, v, 0);
}
