/**
 * RunPersistence on the SQLite run store and the round checkpoint directories. A round commits
 * in two steps whose order makes a crash at any point safe: the PEFT directory is written
 * (temp + fsync + rename) first, then one store transaction records the round, its counted
 * updates and the run's advance. A crash between the two leaves a directory of an uncommitted
 * round, which the re-run of that round overwrites.
 */
import type { LoraAdapter, ModelConfig, RoundSummary, RunStatus, StrategyState } from '@fedllm/core';
import { writeRoundCheckpoint } from '../storage/roundCheckpoints';
import type { RunStore } from '../storage/runStore';
import type { RunPersistence } from './federatedRun';
import type { TaskRecord } from './roundAttempt';

export class SqliteRunPersistence implements RunPersistence {
  constructor(
    private readonly store: RunStore, private readonly runId: string, private readonly runsDir: string,
    private readonly model: ModelConfig, private readonly baseModel: string,
  ) {}

  setStatus(status: RunStatus): void {
    this.store.setRunStatus(this.runId, status);
  }

  recordAssignment(t: TaskRecord, attempt: number): void {
    this.store.recordAssignment({
      taskId: t.taskId, runId: this.runId, round: t.round, attempt, clientId: t.clientId, label: t.label ?? null,
      planJson: JSON.stringify(t.plan), budgetBytes: t.budgetBytes, estimateBytes: t.estimateBytes,
      issuedAt: t.issuedAt, deadline: t.deadline, bytesDown: t.bytesDown,
    });
  }

  recordOutcome(t: TaskRecord): void {
    if (t.status === 'assigned') throw new Error(`task ${t.taskId} has no outcome yet`);
    const losses = t.meta?.losses;
    this.store.recordOutcome(t.taskId, {
      status: t.status, peakBytes: t.meta?.peakBytes, numSamples: t.status === 'received' ? t.numSamples : undefined,
      trainLoss: losses?.length ? losses[losses.length - 1] : undefined, tokensPerSecond: t.meta?.tokensPerSecond,
      bytesUp: t.bytesUp, bytesDown: t.bytesDown, reason: t.reason,
    });
  }

  clientShards(): Map<string, number> {
    return this.store.clientShards(this.runId);
  }

  recordClientShard(clientId: string, shard: number): void {
    this.store.setClientShard(this.runId, clientId, shard);
  }

  async commitRound(
    round: number, attempt: { attempt: number; startedAt: number }, adapter: LoraAdapter, summary: RoundSummary, received: TaskRecord[], strategyState: StrategyState,
  ): Promise<void> {
    const written = await writeRoundCheckpoint({ runsDir: this.runsDir, runId: this.runId, round, adapter, model: this.model, baseModel: this.baseModel });
    const peaks = summary.clients.flatMap((c) => (c.peakBytes !== undefined ? [c.peakBytes / c.budgetBytes] : []));
    this.store.commitRound({
      runId: this.runId, round, attempt: attempt.attempt, startedAt: attempt.startedAt,
      checkpointDir: written.dir, adapterSha256: written.adapterSha256, countedTaskIds: received.map((t) => t.taskId),
      accuracy: summary.accuracy, evalLoss: summary.evalLoss, trainLoss: summary.trainLoss,
      bytesUp: summary.bytesUp, bytesDown: summary.bytesDown, durationMs: summary.durationMs, strategyState,
      metrics: {
        adapterBytes: written.bytes,
        ...(peaks.length ? { maxPeakOverBudget: Math.max(...peaks) } : {}),
      },
    });
  }
}
