/**
 * One dashboard row per connected tab: what the registry knows (budget, adapter, bytes, state)
 * joined with its current assignment (open round attempt) or its last one (committed rounds):
 * round, plan, outcome, measured peak, tokens/s, and why it is rejected when it is.
 */
import { describePlan, type ClientRoundSummary, type ClientSnapshot, type RoundSummary } from '@fedllm/core';
import type { ConnectedClient } from './clientRegistry';
import type { TaskRecord } from './roundAttempt';

export function clientView(
  c: ConnectedClient, open: readonly Omit<TaskRecord, 'task' | 'adapter'>[], rounds: readonly RoundSummary[],
): ClientSnapshot {
  const task = [...open].reverse().find((t) => t.clientId === c.clientId);
  let last: { round: number; s: ClientRoundSummary } | undefined;
  for (let i = rounds.length - 1; i >= 0 && !last; i--) {
    const s = rounds[i].clients.find((x) => x.clientId === c.clientId);
    if (s) last = { round: rounds[i].round, s };
  }
  const budgetTooSmall = c.lastError?.startsWith('budget') ?? false;
  const failed = task && ['failed', 'rejected', 'timeout'].includes(task.status) ? task.reason : undefined;
  return {
    clientId: c.clientId, label: c.capabilities.label, connected: true,
    state: budgetTooSmall ? 'rejected' : c.state, budgetBytes: c.capabilities.budgetBytes,
    adapter: [c.capabilities.adapter.vendor, c.capabilities.adapter.description].filter(Boolean).join(' '),
    lastSeen: c.lastSeen, lastError: c.lastError, bytesUp: c.bytesUp, bytesDown: c.bytesDown,
    round: task?.round ?? last?.round,
    plan: task ? describePlan(task.plan) : last?.s.plan,
    taskStatus: task?.status ?? last?.s.status,
    estimateBytes: task?.estimateBytes ?? last?.s.estimateBytes,
    peakBytes: task?.meta?.peakBytes ?? last?.s.peakBytes,
    tokensPerSecond: task?.meta?.tokensPerSecond ?? last?.s.tokensPerSecond,
    reason: budgetTooSmall ? c.lastError : failed ?? (last?.s.status !== 'received' ? last?.s.reason : undefined),
  };
}

