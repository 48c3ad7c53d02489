/**
 * Past runs for the dashboard's history: the run store's rows with their settings parsed and the
 * final metrics (last committed round, totals over the committed rounds).
 */
import { runSettingsSchema, type RunHistory, type RunHistoryEntry } from '@fedllm/core';
import { type RoundRow, type RunRow } from '../storage/runStoreRows';
import { ProtocolError } from '@fedllm/core';
import type { RunStore } from '../storage/runStore';

export function historyEntry(row: RunRow, rounds: RoundRow[]): RunHistoryEntry {
  let settings: RunHistoryEntry['settings'];
  try {
    const r = runSettingsSchema.safeParse(JSON.parse(row.settingsJson));
    if (r.success) settings = r.data;
  } catch {
    settings = undefined; // a row written by another version: listed without its settings
  }
  const last = rounds[rounds.length - 1];
  return {
    id: row.id, name: row.name, status: row.status, task: row.task, settings, totalRounds: row.totalRounds,
    committedRound: row.committedRound, samplesTotal: row.samplesTotal, modelId: row.modelId, createdAt: row.createdAt, updatedAt: row.updatedAt,
    final: last && {
      round: last.round, accuracy: last.accuracy, evalLoss: last.evalLoss, trainLoss: last.trainLoss,
      bytesUp: rounds.reduce((a, r) => a + r.bytesUp, 0), bytesDown: rounds.reduce((a, r) => a + r.bytesDown, 0),
      durationMs: rounds.reduce((a, r) => a + r.durationMs, 0),
    },
  };
}

export function listRunHistory(store: RunStore): RunHistoryEntry[] {
  return store.listRuns().map((r) => historyEntry(r, store.listRounds(r.id)));
}

export function runHistory(store: RunStore, runId: string): RunHistory {
  const row = store.getRun(runId);
  if (!row) throw new ProtocolError('not-found', `no run ${runId}`);
  return { run: historyEntry(row, store.listRounds(runId)), rounds: store.roundSummaries(runId) };
}
