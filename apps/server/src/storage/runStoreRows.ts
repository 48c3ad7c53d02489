/**
 * Rows of the coordinator's run store (SQLite in apps/server), typed once here so the coordinator,
 * the admin dashboard and tests read the same shapes. Environment-neutral: types only.
 *
 * Conventions: rounds are 0-based; times are epoch milliseconds; sizes are bytes; `...Json`
 * columns are JSON text that the store keeps without interpreting it.
 */
import type { RunStatus } from '@fedllm/core';

/** Every run status, in lifecycle order ('created' → 'running' ⇄ 'paused' → one of the last three). */
export const RUN_STATUSES: readonly RunStatus[] = ['created', 'running', 'paused', 'stopped', 'completed', 'failed'];

/** `committedRound` of a run that has not committed any round yet (rounds are 0-based). */
export const NO_COMMITTED_ROUND = -1;

/** One federated run. */
export interface RunRow {
  id: string;
  name: string;
  status: RunStatus;
  /** The run's settings (RunSettings as JSON); opaque to the store. */
  settingsJson: string;
  /** Directory of the base model the run fine-tunes. */
  modelDir: string;
  /** Content hash of the base model (config + weights), so a run never resumes on another model. */
  modelId: string;
  task: string;
  /** Aggregation strategy name, when the caller records one apart from the settings. */
  strategy: string | null;
  totalRounds: number;
  /** Highest committed round (0-based), or NO_COMMITTED_ROUND (-1) before the first commit. */
  committedRound: number;
  /** Training samples of every update counted in a committed round, summed. */
  samplesTotal: number;
  createdAt: number;
  updatedAt: number;
}

/** A committed round. Only committed rounds have rows: a round in progress lives in its assignments. */
export interface RoundRow {
  runId: string;
  round: number;
  /** The attempt whose updates were aggregated (a round is re-sampled when too few updates arrive). */
  attempt: number;
  status: 'committed';
  startedAt: number;
  committedAt: number;
  /** PEFT directory holding the round's global adapter. */
  checkpointDir: string;
  /** sha256 (hex) of the checkpoint's adapter_model.safetensors. */
  adapterSha256: string;
  /** Updates counted in the round (computed by the store from the counted assignments). */
  participants: number;
  /** Samples of the counted updates, summed (computed by the store). */
  numSamples: number;
  accuracy: number | null;
  evalLoss: number | null;
  trainLoss: number | null;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
}

export const CLIENT_STATUSES = ['connected', 'disconnected', 'banned'] as const;
export type ClientStatus = (typeof CLIENT_STATUSES)[number];

/** A volunteer tab, one row per client id (kept across reconnects). */
export interface ClientRow {
  id: string;
  firstSeen: number;
  lastSeen: number;
  /** The tab's hello capabilities as JSON. */
  capabilitiesJson: string;
  budgetBytes: number;
  status: ClientStatus;
  lastError: string | null;
}

export const ASSIGNMENT_STATUSES = ['assigned', 'received', 'rejected', 'timeout', 'failed', 'abandoned'] as const;
/** 'assigned' is open; every other status is an outcome, recorded exactly once. */
export type AssignmentStatus = (typeof ASSIGNMENT_STATUSES)[number];
export type AssignmentOutcomeStatus = Exclude<AssignmentStatus, 'assigned'>;

/** One task handed to one tab in one attempt of one round. */
export interface AssignmentRow {
  /** Fresh per assignment; unique across the store. */
  taskId: string;
  runId: string;
  round: number;
  attempt: number;
  clientId: string;
  label: string | null;
  /** The SubmodelPlan as JSON. */
  planJson: string;
  budgetBytes: number;
  estimateBytes: number;
  issuedAt: number;
  deadline: number;
  status: AssignmentStatus;
  /** When the outcome was recorded (null while 'assigned'). */
  settledAt: number | null;
  peakBytes: number | null;
  numSamples: number | null;
  trainLoss: number | null;
  tokensPerSecond: number | null;
  bytesUp: number;
  bytesDown: number;
  reason: string | null;
  /** The committed round that aggregated this update (null: not counted). At most one, by construction. */
  countedRound: number | null;
  /** Set when a restart discarded the uncommitted round this assignment belonged to. */
  discardedAt: number | null;
}

/** A point of a per-round time series (eval metrics, timings, anything numeric). */
export interface MetricRow {
  runId: string;
  round: number;
  name: string;
  value: number;
}
