// Benchmark page (driven by `npm run bench`, apps/server/src/cli/bench.ts): our WGSL kernels vs
// TensorFlow.js's WebGPU backend on the default model's LoRA training step, in the same tab.
//   1. GFLOP/s of every matmul shape of the step (forward, input gradient, LoRA products): matmulSweep.ts.
//   2. Tokens/s of the whole LoRA step: LoraTrainingSession (oursLoraStep.ts) vs the same step in
//      tfjs ops (tfjsLoraStep.ts).
//   3. Peak bytes of our step (memory ledger) vs estimateLoraSessionBytes, full and 2-layer plans:
//      memorySection.ts.
// Both sides are timed the same way: warm-up, then the measured work, ended by one GPU sync
// (queue.onSubmittedWorkDone for matmuls, the loss readback for training steps).
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself (the @tensorflow/tfjs union package does this import).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
import { describePlan, fullPlan, LORA_TARGETS, type LoraConfig } from '@fedllm/core';
import { createGpuContext, KernelSet } from '@fedllm/kernels';
import { log } from './log';
import { benchMatmuls, matmulCases } from './matmulSweep';
import { memoryRow, smallPlanMemoryRow } from './memorySection';
import { countParams, loadModel, toBatch, type BenchSetup } from './model';
import { runOursLoraStep } from './oursLoraStep';
import { tokensPerSec } from './stepTiming';
import { tfjsBackend } from './tfjsBackend';
import { runTfjsLoraStep } from './tfjsLoraStep';
import type { BenchModelFiles, BenchOptions, BenchResult } from '@fedllm/core';

declare global {
  interface Window {
    runBench: (files: BenchModelFiles, opts: BenchOptions) => Promise<BenchResult>;
  }
}

async function runBench(files: BenchModelFiles, o: BenchOptions): Promise<BenchResult> {
  const t0 = performance.now();
  const parts = { matmul: true, training: true, memory: true, ...o.parts };
  log('loading model');
  const { config: c, weights } = await loadModel(files);
  const B = o.batch, T = o.seqLen, M = B * T;
  if (T > c.maxPositionEmbeddings) throw new Error(`--seq ${T} exceeds the model's ${c.maxPositionEmbeddings} positions`);
  const batches = o.batches.map((b) => toBatch(b, B, T));
  if (batches.length === 0) throw new Error('bench: no batches given');
  const loraCfg: LoraConfig = { rank: o.rank, alpha: o.alpha, targets: [...LORA_TARGETS] };

  const ctx = await createGpuContext();
  const kernels = new KernelSet(ctx.device);
  const backend = await tfjsBackend();
  log(`devices: ours ${ctx.adapterInfo.description || ctx.adapterInfo.vendor}; tfjs backend ${tf.getBackend()} ${tf.version_core}`);

  const result: BenchResult = {
    device: ctx.adapterInfo,
    tfjs: { version: tf.version_core, backend: tf.getBackend(), numTensors: 0 },
    model: {
      vocabSize: c.vocabSize, hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize, numLayers: c.numLayers,
      numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, tieWordEmbeddings: c.tieWordEmbeddings, params: countParams(weights),
    },
    shape: { batch: B, seqLen: T, tokens: M, rank: o.rank, alpha: o.alpha, targets: [...loraCfg.targets] },
    matmul: [],
    memory: [],
    totalMs: 0,
  };

  if (parts.matmul) result.matmul = await benchMatmuls(ctx, kernels, backend, matmulCases(c, M, o.rank), o);

  const plan = fullPlan(c);
  const setup: BenchSetup = { ctx, kernels, config: c, weights, plan, loraCfg, batches, o };
  if (parts.training || parts.memory) {
    // Ours: the full plan (its peak is the first memory row).
    const ours = await runOursLoraStep(setup, parts.training ? o.steps : 0);
    if (parts.memory) {
      result.memory.push(memoryRow(setup, `full (${describePlan(plan)})`, plan, { peakBytes: ours.peakBytes, stepMs: ours.stepMs[0], loss: ours.losses[0] }));
    }
    if (parts.training) {
      const { gpuBytesAllocated, setupMs: tfSetupMs, ...tfRun } = await runTfjsLoraStep(setup);
      result.tfjs.gpuBytesAllocated = gpuBytesAllocated;
      const { peakBytes: _peakBytes, setupMs, ...oursRun } = ours;
      result.training = {
        ours: { impl: 'ours', ...oursRun, tokensPerSec: tokensPerSec(ours.stepMs, M), setupMs },
        tfjs: { impl: 'tfjs', ...tfRun, tokensPerSec: tokensPerSec(tfRun.stepMs, M), setupMs: tfSetupMs },
      };
    }
  }

  if (parts.memory && o.smallPlanLayers.length > 0) result.memory.push(await smallPlanMemoryRow(setup));

  result.tfjs.numTensors = tf.memory().numTensors;
  ctx.device.destroy();
  result.totalMs = performance.now() - t0;
  log(`done in ${(result.totalMs / 1000).toFixed(1)} s`);
  return result;
}

window.runBench = runBench;
