/**
 * What the admin dashboard reads about past runs (admin events `listRuns` and `runHistory`): the
 * run store's rows, with each run's settings parsed and its final metrics, so runs can be compared
 * side by side. Requests are validated at the edge with these schemas.
 */
import { z } from 'zod';
import type { RoundSummary } from './roundSummary';
import type { RunSettings, RunStatus } from './runSettings';

export const runHistoryRequestSchema = z.object({ runId: z.string().min(1).max(64) }).strict();
export type RunHistoryRequest = z.infer<typeof runHistoryRequestSchema>;

/** The metrics of a run's last committed round, plus totals over its committed rounds. */
export interface RunFinalMetrics {
  round: number;
  accuracy: number | null;
  evalLoss: number | null;
  trainLoss: number | null;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
}

/** One run as the history lists it. */
export interface RunHistoryEntry {
  id: string;
  name: string;
  status: RunStatus;
  task: string;
  /** The run's settings as stored (undefined when they no longer parse). */
  settings?: RunSettings;
  totalRounds: number;
  /** Highest committed round (0-based), -1 before the first. */
  committedRound: number;
  samplesTotal: number;
  modelId: string;
  createdAt: number;
  updatedAt: number;
  /** Undefined until a round commits. */
  final?: RunFinalMetrics;
}

export interface RunHistory {
  run: RunHistoryEntry;
  rounds: RoundSummary[];
}
