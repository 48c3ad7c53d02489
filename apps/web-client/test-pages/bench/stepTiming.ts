// Timing of training steps, the same for both implementations: one warm-up step (which also
// counts the GPU calls a step issues), then the timed steps, each ended by the loss readback.
import type { TokenBatch } from '@fedllm/core';

export interface TimedSteps {
  /** Loss before each update: [warm-up step, timed steps...]. */
  losses: number[];
  /** Wall time of each step (same order), ms. */
  stepMs: number[];
  dispatchesPerStep: number;
  submitsPerStep: number;
}

/** Counts compute dispatches and queue submits (of any device in this tab) while f runs. */
async function countGpuCalls<T>(f: () => Promise<T>): Promise<{ value: T; dispatches: number; submits: number }> {
  const pass = GPUComputePassEncoder.prototype, queue = GPUQueue.prototype;
  const dispatch0 = pass.dispatchWorkgroups, submit0 = queue.submit;
  let dispatches = 0, submits = 0;
  pass.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...a: Parameters<typeof dispatch0>) { dispatches++; return dispatch0.apply(this, a); };
  queue.submit = function (this: GPUQueue, ...a: Parameters<typeof submit0>) { submits++; return submit0.apply(this, a); };
  try {
    return { value: await f(), dispatches, submits };
  } finally {
    pass.dispatchWorkgroups = dispatch0;
    queue.submit = submit0;
  }
}

export async function timeSteps(stepFn: (b: TokenBatch) => Promise<number>, batches: TokenBatch[], steps: number): Promise<TimedSteps> {
  const losses: number[] = [], stepMs: number[] = [];
  let dispatchesPerStep = 0, submitsPerStep = 0;
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    let loss: number;
    if (s === 0) {
      // The warm-up step also counts the GPU work a step issues (the wrappers cost next to nothing).
      const c = await countGpuCalls(() => stepFn(batches[0]));
      loss = c.value;
      dispatchesPerStep = c.dispatches;
      submitsPerStep = c.submits;
    } else {
      loss = await stepFn(batches[s % batches.length]);
    }
    stepMs.push(performance.now() - t0);
    if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss} at step ${s + 1}`);
    losses.push(loss);
  }
  return { losses, stepMs, dispatchesPerStep, submitsPerStep };
}

export function tokensPerSec(stepMs: number[], tokens: number): number {
  const timed = stepMs.slice(1);
  const total = timed.reduce((a, b) => a + b, 0);
  return (timed.length * tokens) / (total / 1000);
}
