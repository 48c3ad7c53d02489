// 3. Peak bytes of our step (memory ledger) vs estimateLoraSessionBytes, full and small plans.
import { describePlan, estimateLoraSessionBytes, planKeepingLayers, type SubmodelPlan } from '@fedllm/core';
import { log } from './log';
import type { BenchSetup } from './model';
import { createSession } from './oursLoraStep';
import type { MemoryRow } from '@fedllm/core';

/** A memory row: the measured peak of a step on `plan` next to the estimate for it. */
export function memoryRow(s: BenchSetup, label: string, plan: SubmodelPlan, measured: { peakBytes: number; stepMs: number; loss: number }): MemoryRow {
  const { config, loraCfg: lora, o } = s;
  const est = estimateLoraSessionBytes({ config, plan, lora, batch: o.batch, seqLen: o.seqLen });
  return {
    plan: label, layers: plan.layers.length, peakBytes: measured.peakBytes, estimateBytes: est.totalBytes,
    byKind: est.byKind, stepMs: measured.stepMs, loss: measured.loss,
  };
}

/** Builds a session keeping only o.smallPlanLayers, runs one step and returns its memory row. */
export async function smallPlanMemoryRow(s: BenchSetup): Promise<MemoryRow> {
  const small = planKeepingLayers(s.o.smallPlanLayers.filter((l) => l < s.config.numLayers));
  log(`ours: building the LoRA session (plan ${describePlan(small)})`);
  const session = await createSession(s, small);
  const t = performance.now();
  const r = await session.step(s.batches[0]);
  const stepMs = performance.now() - t;
  if (!Number.isFinite(r.loss)) throw new Error(`non-finite loss ${r.loss} on the small plan`);
  const row = memoryRow(s, `layers ${describePlan(small)}`, small, { peakBytes: session.peakBytes, stepMs, loss: r.loss });
  session.destroy();
  return row;
}
