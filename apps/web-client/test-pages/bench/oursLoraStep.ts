// 2a. Our LoRA training step (LoraTrainingSession) and its timed run on the full plan.
import type { SubmodelPlan } from '@fedllm/core';
import { LoraTrainingSession } from '@fedllm/kernels';
import { log } from './log';
import { adapterFor, type BenchSetup } from './model';
import { timeSteps, type TimedSteps } from './stepTiming';

/** A LoraTrainingSession on `plan`, with the bench's adapter, shape and learning rate. */
export function createSession(s: BenchSetup, plan: SubmodelPlan): Promise<LoraTrainingSession> {
  const { config: c, o } = s;
  return LoraTrainingSession.create(s.ctx, {
    config: c, plan, weights: s.weights, lora: adapterFor(c, plan, s.loraCfg, o.seed), batch: o.batch, seqLen: o.seqLen, optimizer: { lr: o.lr },
  }, s.kernels);
}

/**
 * Builds the full-plan session, runs one warm-up step and `steps` timed steps, and returns them
 * with the session's peak bytes (its first memory row). The session is destroyed afterwards.
 */
export async function runOursLoraStep(s: BenchSetup, steps: number): Promise<TimedSteps & { setupMs: number; peakBytes: number }> {
  log('ours: building the LoRA session (full plan)');
  const t = performance.now();
  const session = await createSession(s, s.plan);
  const setupMs = performance.now() - t;
  const run = await timeSteps(async (b) => (await session.step(b)).loss, s.batches, steps);
  log(`ours: losses ${run.losses.map((l) => l.toFixed(4)).join(' ')}, steps ${run.stepMs.map((m) => m.toFixed(0)).join(' ')} ms`);
  const peakBytes = session.peakBytes;
  session.destroy();
  return { ...run, setupMs, peakBytes };
}
