/**
 * The admin namespace's events (dashboard <-> coordinator) and the coordinator snapshot they carry.
 * Kept apart from the run settings so the settings, history and model-list modules import each
 * other one way only.
 */
import { ProtocolError, type Ack, type ProtocolErrorBody } from './federatedProtocol';
import type { RunHistory, RunHistoryEntry, RunHistoryRequest } from './adminHistory';
import type { CreateRunRequest, ModelList } from './adminModels';
import type { RoundSummary } from './roundSummary';
import type { RunSettings, RunSettingsInput, RunStatus } from './runSettings';

/** Admin namespace: every event needs the admin token (checked at connection). */
export interface AdminClientToServer {
  /** Settings plus, optionally, the model's directory name under the models root (adminModels.ts). */
  createRun: (settings: CreateRunRequest, ack: (a: Ack<{ runId: string }>) => void) => void;
  start: (req: { runId: string }, ack: (a: Ack) => void) => void;
  pause: (req: { runId: string }, ack: (a: Ack) => void) => void;
  resume: (req: { runId: string }, ack: (a: Ack) => void) => void;
  stop: (req: { runId: string }, ack: (a: Ack) => void) => void;
  configure: (req: { runId: string; settings: RunSettingsInput }, ack: (a: Ack) => void) => void;
  snapshot: (ack: (a: Ack<{ state: CoordinatorSnapshot }>) => void) => void;
  /** Every run in the store, newest first, with its final metrics (adminHistory.ts). */
  listRuns: (ack: (a: Ack<{ runs: RunHistoryEntry[] }>) => void) => void;
  /** One run's committed rounds, rebuilt from the store. */
  runHistory: (req: RunHistoryRequest, ack: (a: Ack<RunHistory>) => void) => void;
  /** The model directories under the models root a run can use. */
  listModels: (ack: (a: Ack<ModelList>) => void) => void;
}

export interface ClientSnapshot {
  clientId: string;
  label?: string;
  connected: boolean;
  state: string;
  budgetBytes: number;
  adapter: string;
  lastSeen: number;
  lastError?: string;
  /** Socket bytes of the tab's connection (adapters and batches). */
  bytesUp?: number;
  bytesDown?: number;
  /** The round of the tab's current assignment, or of its last one. */
  round?: number;
  /** That assignment's plan (describePlan: "0,3a,5m") and what came of it. */
  plan?: string;
  taskStatus?: string;
  estimateBytes?: number;
  /** Measured ledger peak and tokens/s of the tab's last delivered update. */
  peakBytes?: number;
  tokensPerSecond?: number;
  /** Why the tab was dropped (disconnected) or rejected (too small a budget, a failed task). */
  reason?: string;
}

export interface CoordinatorSnapshot {
  runId: string | null;
  status: RunStatus | 'idle';
  settings?: RunSettings;
  round: number;
  baseAccuracy?: number;
  /** The base model's held-out eval loss (mean negative log-probability of the true label). */
  baseEvalLoss?: number;
  rounds: RoundSummary[];
  clients: ClientSnapshot[];
  /** Tabs that left (connected: false), newest first, with why; `clients` holds the connected ones. */
  departedClients?: ClientSnapshot[];
  /** The model the coordinator serves: its directory, and the URLs of its files (the parts of the full model). */
  model?: { id: string; dir: string; numLayers: number; architecture: string; configUrl: string; tokenizerUrl: string; partUrls: string[] };
}

export interface AdminServerToClient {
  state: (s: CoordinatorSnapshot) => void;
  roundCommitted: (r: RoundSummary & { runId: string }) => void;
}

export function errorAck(e: unknown): { ok: false; error: ProtocolErrorBody } {
  if (e instanceof ProtocolError) return { ok: false, error: e.toBody() };
  return { ok: false, error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } };
}
