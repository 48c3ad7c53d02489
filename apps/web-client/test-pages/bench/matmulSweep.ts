// 1. GFLOP/s of every matmul shape of the LoRA step (forward, input gradient, LoRA products),
// our prepared matmul kernel vs tf.matMul, each ended by one queue.onSubmittedWorkDone.
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { SeededRandom, targetDims, type LoraTarget, type ModelConfig } from '@fedllm/core';
import { GpuMemoryLedger, recordDispatch, type GpuContext, type KernelSet } from '@fedllm/kernels';
import { log } from './log';
import { tfjsSync } from './tfjsBackend';
import type { BenchOptions, MatmulRow } from '@fedllm/core';

function randomData(n: number, rng: SeededRandom): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.next() * 2 - 1;
  return out;
}

export interface MatmulCase { op: string; targets: string[]; transA: boolean; transB: boolean; M: number; N: number; R: number }

/**
 * Every matmul of the LoRA step for the q/o/gate/up/down projections and the LM head, exactly as
 * LoraTrainingSession issues them (C[M,N] = op(A)·op(B), R = reduction), deduplicated by shape.
 */
export function matmulCases(c: ModelConfig, M: number, r: number): MatmulCase[] {
  const raw: { op: string; who: string; transA: boolean; transB: boolean; M: number; N: number; R: number }[] = [];
  const targets: LoraTarget[] = ['q', 'o', 'gate', 'up', 'down'];
  const H = c.hiddenSize, V = c.vocabSize;
  for (const t of targets) { const [fin, fout] = targetDims(c, t); raw.push({ op: 'fwd x·Wᵀ', who: t, transA: false, transB: true, M, N: fout, R: fin }); }
  raw.push({ op: 'fwd x·Wᵀ', who: 'lmHead', transA: false, transB: true, M, N: V, R: H });
  for (const t of targets) { const [fin, fout] = targetDims(c, t); raw.push({ op: 'dX dY·W', who: t, transA: false, transB: false, M, N: fin, R: fout }); }
  raw.push({ op: 'dX dY·W', who: 'lmHead', transA: false, transB: false, M, N: H, R: V });
  for (const t of targets) {
    const [fin, fout] = targetDims(c, t);
    raw.push({ op: 'LoRA x·Aᵀ', who: t, transA: false, transB: true, M, N: r, R: fin });
    raw.push({ op: 'LoRA mid·Bᵀ', who: t, transA: false, transB: true, M, N: fout, R: r });
    raw.push({ op: 'LoRA dB dYᵀ·mid', who: t, transA: true, transB: false, M: fout, N: r, R: M });
    raw.push({ op: 'LoRA dMid dY·B', who: t, transA: false, transB: false, M, N: r, R: fout });
    raw.push({ op: 'LoRA dA dMidᵀ·x', who: t, transA: true, transB: false, M: r, N: fin, R: M });
    raw.push({ op: 'LoRA dX dMid·A', who: t, transA: false, transB: false, M, N: fin, R: r });
  }
  const byKey = new Map<string, MatmulCase>();
  for (const x of raw) {
    const key = `${x.op}|${x.transA}|${x.transB}|${x.M}|${x.N}|${x.R}`;
    const have = byKey.get(key);
    if (have) have.targets.push(x.who);
    else byKey.set(key, { op: x.op, targets: [x.who], transA: x.transA, transB: x.transB, M: x.M, N: x.N, R: x.R });
  }
  return [...byKey.values()];
}

/** The program tfjs-backend-webgpu 4.x picks in batchMatMulImpl (non-Intel adapter: threshold 8). */
function tfjsMatmulProgram(M: number, N: number, R: number, threshold: number): string {
  const wg = Math.ceil(M / 32) * Math.ceil(N / 32);
  if (wg <= threshold || (M <= 8 && wg <= threshold * 2)) {
    if (M * N <= 128) return 'Reduce';
    if (R >= 2000) return 'SplitK';
    return 'SmallOutput';
  }
  return 'Packed32x32';
}

export async function benchMatmuls(ctx: GpuContext, kernels: KernelSet, backend: WebGPUBackend, cases: MatmulCase[], o: BenchOptions): Promise<MatmulRow[]> {
  const device = ctx.device;
  const rows: MatmulRow[] = [];
  const rng = new SeededRandom(o.seed + 7);
  for (const cs of cases) {
    const { M, N, R, transA, transB } = cs;
    const flop = 2 * M * N * R;
    // Tiny (LoRA) products run more iterations so each measurement covers ~0.1 GFLOP.
    const iters = Math.min(o.iters * 20, Math.max(o.iters, Math.ceil(1e8 / flop)));
    // Warm-up: compiles the pipelines, uploads the inputs and lets tfjs's buffer pool reach the
    // size the timed loop needs (it keeps up to WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=15 outputs in flight).
    const warmup = Math.max(o.warmup, Math.min(iters, 16));
    const aData = randomData(M * R, rng), bData = randomData(R * N, rng);

    // Ours: one prepared dispatch recorded `iters` times in one compute pass, one submit, one sync.
    const ledger = new GpuMemoryLedger(device);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const a = ledger.createBuffer('a', aData.byteLength, usage), b = ledger.createBuffer('b', bData.byteLength, usage);
    const c = ledger.createBuffer('c', M * N * 4, usage);
    device.queue.writeBuffer(a, 0, aData);
    device.queue.writeBuffer(b, 0, bData);
    const d = await kernels.matmul.prepare(ledger, 'bench', { transA, transB, accumulate: false }, { M, N, R }, a, b, c);
    const runOurs = async (n: number) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < n; i++) recordDispatch(pass, d);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    };
    await runOurs(warmup);
    let t0 = performance.now();
    await runOurs(iters);
    const oursMs = (performance.now() - t0) / iters;
    const read = ledger.createBuffer('read', M * N * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(c, 0, read, 0, M * N * 4);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const oursOut = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    ledger.destroyAll();

    // tfjs: tf.matMul on the same row-major data, `iters` calls (outputs disposed at once, as a
    // training loop would), then flush tfjs's deferred encoder and the same queue sync.
    const ta = tf.tensor(aData, transA ? [R, M] : [M, R]), tb = tf.tensor(bData, transB ? [N, R] : [R, N]);
    const runTf = async (n: number) => {
      for (let i = 0; i < n; i++) tf.matMul(ta, tb, transA, transB).dispose();
      await tfjsSync(backend);
    };
    await runTf(warmup);
    t0 = performance.now();
    await runTf(iters);
    const tfMs = (performance.now() - t0) / iters;
    const tc = tf.matMul(ta, tb, transA, transB);
    const tfOut = (await tc.data()) as Float32Array;
    tf.dispose([ta, tb, tc]);

    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < tfOut.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(oursOut[i] - tfOut[i]));
      maxRef = Math.max(maxRef, Math.abs(tfOut[i]));
    }
    const relDiff = Number.isNaN(maxDiff) ? Infinity : maxDiff / Math.max(maxRef, 1e-30);
    rows.push({
      op: cs.op, targets: cs.targets.join(','), transA, transB, M, N, R, flop, iters, warmup,
      ours: { msPerIter: oursMs, gflops: flop / oursMs / 1e6 },
      tfjs: { msPerIter: tfMs, gflops: flop / tfMs / 1e6, program: tfjsMatmulProgram(M, N, R, backend.thresholdToIncreaseWorkgroups) },
      relDiff,
    });
    log(`matmul ${cs.op} [${cs.targets.join(',')}] ${M}x${N}x${R}: ours ${(flop / oursMs / 1e6).toFixed(2)} GFLOP/s, tfjs ${(flop / tfMs / 1e6).toFixed(2)} GFLOP/s`);
  }
  return rows;
}
