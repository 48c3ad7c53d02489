/**
 * The dashboard's RoundSummary of a committed round, rebuilt from its stored rows after a restart:
 * the round row plus the assignments of the attempt that was committed.
 */
import { describePlan, type RoundSummary, type SubmodelPlan } from '@fedllm/core';
import { type AssignmentRow, type RoundRow } from './runStoreRows';

/** `attemptTasks`: the assignments of the committed attempt (every outcome, not only the counted ones). */
export function roundSummaryFromRows(round: RoundRow, attemptTasks: AssignmentRow[]): RoundSummary {
  return {
    round: round.round,
    // Stored as NULL when the caller had no finite value; the summary type wants a number.
    accuracy: round.accuracy ?? Number.NaN,
    evalLoss: round.evalLoss ?? Number.NaN,
    trainLoss: round.trainLoss ?? Number.NaN,
    participants: round.participants,
    bytesUp: round.bytesUp,
    bytesDown: round.bytesDown,
    durationMs: round.durationMs,
    clients: attemptTasks.map((t) => {
      const plan = JSON.parse(t.planJson) as SubmodelPlan;
      return {
        clientId: t.clientId,
        label: t.label ?? undefined,
        plan: describePlan(plan),
        layersKept: plan.layers.length,
        budgetBytes: t.budgetBytes,
        estimateBytes: t.estimateBytes,
        peakBytes: t.peakBytes ?? undefined,
        bytesUp: t.bytesUp,
        bytesDown: t.bytesDown,
        status: t.status,
        reason: t.reason ?? undefined,
        trainLoss: t.trainLoss ?? undefined,
        tokensPerSecond: t.tokensPerSecond ?? undefined,
      };
    }),
  };
}
