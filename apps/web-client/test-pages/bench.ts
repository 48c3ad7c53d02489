// Benchmark page (driven by `npm run bench`, apps/server/src/cli/bench.ts): our WGSL kernels vs
// TensorFlow.js's WebGPU backend on the default model's LoRA training step, in the same tab.
//   1. GFLOP/s of every matmul shape of the step (forward, input gradient, LoRA products).
//   2. Tokens/s of the whole LoRA step: LoraTrainingSession vs the same step in tfjs ops.
//   3. Peak bytes of our step (memory ledger) vs estimateLoraSessionBytes, full and 2-layer plans.
// Both sides are timed the same way: warm-up, then the measured work, ended by one GPU sync
// (queue.onSubmittedWorkDone for matmuls, the loss readback for training steps).
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself (the @tensorflow/tfjs union package does this import).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import {
  buildRopeTables, createLoraAdapter, describePlan, estimateLoraSessionBytes, fullPlan, loraScale, LORA_TARGETS,
  parseHfConfig, parseSafetensors, planKeepingLayers, SeededRandom, targetDims, weightsFromHfTensors,
  type LayerWeights, type LlamaWeights, type LoraAdapter, type LoraConfig, type LoraTarget, type ModelConfig,
  type SubmodelPlan, type TokenBatch,
} from '@fedllm/core';
import { createGpuContext, GpuMemoryLedger, KernelSet, LoraTrainingSession, recordDispatch, type GpuContext } from '@fedllm/kernels';

// ---------------------------------------------------------------------------------------------
// Types shared with the Node runner (it keeps a structural copy: the server tsconfig has no DOM).

export interface BenchModelFiles {
  /** URL of config.json. */
  config: string;
  /** URL of model.safetensors (single file). */
  weights: string;
}

export interface BenchBatch {
  inputIds: number[];
  /** -1 = not counted. */
  targets: number[];
}

export interface BenchOptions {
  batch: number;
  seqLen: number;
  /** Base iteration count of each matmul measurement (tiny shapes run more, see minFlop). */
  iters: number;
  /** Un-timed runs before each measurement (compiles pipelines, uploads inputs). */
  warmup: number;
  /** Timed training steps per implementation (after one warm-up step). */
  steps: number;
  rank: number;
  alpha: number;
  lr: number;
  seed: number;
  /** Token batches (cycled); each holds batch*seqLen ids and targets. */
  batches: BenchBatch[];
  /** Layers of the small plan whose peak bytes are measured too. */
  smallPlanLayers: number[];
  /** Which parts to run (default all). */
  parts?: { matmul?: boolean; training?: boolean; memory?: boolean };
}

export interface MatmulTiming {
  msPerIter: number;
  gflops: number;
}

export interface MatmulRow {
  op: string;
  targets: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  R: number;
  flop: number;
  iters: number;
  warmup: number;
  ours: MatmulTiming;
  tfjs: MatmulTiming & { program: string };
  /** max |ours - tfjs| over the output, relative to max |tfjs|. */
  relDiff: number;
}

export interface TrainingRun {
  impl: 'ours' | 'tfjs';
  /** Loss before each update: [warm-up step, timed steps...]. */
  losses: number[];
  /** Wall time of each step (same order), ms, each ending with the loss readback. */
  stepMs: number[];
  /** Tokens/s over the timed steps (batch*seqLen per step). */
  tokensPerSec: number;
  /** Building the session / uploading the weights, ms. */
  setupMs: number;
  /** Compute dispatches and queue submits one step issues (counted on the warm-up step). */
  dispatchesPerStep: number;
  submitsPerStep: number;
}

export interface MemoryRow {
  plan: string;
  layers: number;
  peakBytes: number;
  estimateBytes: number;
  byKind: Record<string, number>;
  /** A step on this plan (the step is part of what the peak covers). */
  stepMs: number;
  loss: number;
}

export interface BenchResult {
  device: { vendor: string; architecture: string; device: string; description: string };
  tfjs: { version: string; backend: string; gpuBytesAllocated?: number; numTensors: number };
  model: {
    vocabSize: number; hiddenSize: number; intermediateSize: number; numLayers: number; numHeads: number;
    numKvHeads: number; headDim: number; tieWordEmbeddings: boolean; params: number;
  };
  shape: { batch: number; seqLen: number; tokens: number; rank: number; alpha: number; targets: string[] };
  matmul: MatmulRow[];
  training?: { ours: TrainingRun; tfjs: TrainingRun };
  memory: MemoryRow[];
  totalMs: number;
}

declare global {
  interface Window {
    runBench: (files: BenchModelFiles, opts: BenchOptions) => Promise<BenchResult>;
  }
}

const log = (msg: string) => console.log(`[bench] ${msg}`);

// ---------------------------------------------------------------------------------------------
// Model loading

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`fetch ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadModel(files: BenchModelFiles): Promise<{ config: ModelConfig; weights: LlamaWeights }> {
  const config = parseHfConfig(JSON.parse(new TextDecoder().decode(await fetchBytes(files.config))));
  const weights = weightsFromHfTensors(config, parseSafetensors(await fetchBytes(files.weights)));
  return { config, weights };
}

function countParams(w: LlamaWeights): number {
  let n = w.embed.data.length + w.finalNorm.data.length + (w.lmHead === w.embed ? 0 : w.lmHead.data.length);
  for (const l of w.layers) if (l) for (const t of Object.values(l)) n += (t as { data: Float32Array }).data.length;
  return n;
}

function randomData(n: number, rng: SeededRandom): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.next() * 2 - 1;
  return out;
}

function toBatch(b: BenchBatch, B: number, T: number): TokenBatch {
  if (b.inputIds.length !== B * T || b.targets.length !== B * T) {
    throw new Error(`bench: a batch holds ${b.inputIds.length} ids / ${b.targets.length} targets, expected ${B * T}`);
  }
  return { B, T, inputIds: Int32Array.from(b.inputIds), targets: Int32Array.from(b.targets) };
}

async function tfjsBackend(): Promise<WebGPUBackend> {
  if (tf.getBackend() !== 'webgpu') {
    const ok = await tf.setBackend('webgpu');
    if (!ok) throw new Error('tfjs: the webgpu backend failed to initialise');
  }
  await tf.ready();
  return tf.backend() as WebGPUBackend;
}

/** Flushes tfjs's deferred command encoder and waits until the GPU has finished everything. */
async function tfjsSync(backend: WebGPUBackend): Promise<void> {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

// ---------------------------------------------------------------------------------------------
// 1. Matmul shapes

interface MatmulCase { op: string; targets: string[]; transA: boolean; transB: boolean; M: number; N: number; R: number }

/**
 * Every matmul of the LoRA step for the q/o/gate/up/down projections and the LM head, exactly as
 * LoraTrainingSession issues them (C[M,N] = op(A)·op(B), R = reduction), deduplicated by shape.
 */
function matmulCases(c: ModelConfig, M: number, r: number): MatmulCase[] {
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

async function benchMatmuls(ctx: GpuContext, kernels: KernelSet, backend: WebGPUBackend, cases: MatmulCase[], o: BenchOptions): Promise<MatmulRow[]> {
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

// ---------------------------------------------------------------------------------------------
// 2. The LoRA training step written with tfjs ops

type TfLayer = Record<keyof LayerWeights, tf.Tensor | undefined>;

/**
 * The same computation as LoraTrainingSession (and core's LlamaModel.lossAndGrad + AdamW), in
 * tfjs ops: embedding gather, RMSNorm, q/k/v projections with LoRA, RoPE (rotate-half), causal
 * GQA attention, o projection, SwiGLU MLP, LM head, masked mean cross-entropy; gradients with
 * tf.variableGrads on the LoRA A/B variables only (base weights are constants), then Adam.
 */
class TfLoraStep {
  private readonly embed: tf.Tensor2D;
  private readonly lmHead: tf.Tensor2D;
  private readonly finalNorm: tf.Tensor1D;
  private readonly layers: TfLayer[];
  private readonly lora = new Map<string, { A: tf.Variable; B: tf.Variable }>();
  private readonly vars: tf.Variable[] = [];
  private readonly cos: tf.Tensor4D;
  private readonly sin: tf.Tensor4D;
  private readonly mask: tf.Tensor2D;
  private readonly optimizer: tf.AdamOptimizer;
  private readonly scale: number;

  constructor(
    private readonly c: ModelConfig, weights: LlamaWeights, adapter: LoraAdapter, private readonly B: number, private readonly T: number,
    lr: number, prefix: string,
  ) {
    const t2 = (t: { shape: number[]; data: Float32Array }) => tf.tensor(t.data, t.shape);
    this.embed = t2(weights.embed) as tf.Tensor2D;
    this.lmHead = weights.lmHead === weights.embed ? this.embed : (t2(weights.lmHead) as tf.Tensor2D);
    this.finalNorm = t2(weights.finalNorm) as tf.Tensor1D;
    this.layers = weights.layers.map((l, i) => {
      if (!l) throw new Error(`tfjs step: layer ${i} weights missing`);
      const out = {} as TfLayer;
      for (const [k, v] of Object.entries(l)) if (v) out[k as keyof LayerWeights] = t2(v);
      return out;
    });
    for (const [layer, pairs] of adapter.layers) {
      for (const [t, p] of Object.entries(pairs)) {
        if (!p) continue;
        const A = tf.variable(t2(p.A), true, `${prefix}.l${layer}.${t}.A`);
        const Bv = tf.variable(t2(p.B), true, `${prefix}.l${layer}.${t}.B`);
        this.lora.set(`${layer}.${t}`, { A, B: Bv });
        this.vars.push(A, Bv);
      }
    }
    this.scale = loraScale(adapter.config);
    const rope = buildRopeTables(c, T), half = c.headDim / 2;
    this.cos = tf.tensor4d(Float32Array.from(rope.cos), [1, T, 1, half]);
    this.sin = tf.tensor4d(Float32Array.from(rope.sin), [1, T, 1, half]);
    const m = new Float32Array(T * T);
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < T; s++) {
        const visible = s <= t && (!c.slidingWindow || t - s < c.slidingWindow);
        if (!visible) m[t * T + s] = -1e9;
      }
    }
    this.mask = tf.tensor2d(m, [T, T]);
    this.optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  }

  private rmsNorm(x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D {
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), this.c.rmsNormEps))), w) as tf.Tensor2D;
  }

  private proj(layer: number, t: LoraTarget, x: tf.Tensor2D): tf.Tensor2D {
    const PROJ = { q: 'qProj', k: 'kProj', v: 'vProj', o: 'oProj', gate: 'gateProj', up: 'upProj', down: 'downProj' } as const;
    const BIAS = { q: 'qBias', k: 'kBias', v: 'vBias', o: 'oBias', gate: 'gateBias', up: 'upBias', down: 'downBias' } as const;
    const l = this.layers[layer];
    let y: tf.Tensor2D = tf.matMul(x, l[PROJ[t]]!, false, true);
    const bias = l[BIAS[t]];
    if (bias) y = tf.add(y, bias);
    const p = this.lora.get(`${layer}.${t}`);
    if (p) y = tf.add(y, tf.matMul(tf.mul(tf.matMul(x, p.A, false, true), this.scale), p.B, false, true));
    return y;
  }

  /** Rotate-half RoPE on x[B*T, nHeads*headDim] for positions 0..T-1 of each sequence. */
  private rope(x: tf.Tensor2D, nHeads: number): tf.Tensor2D {
    const { B, T } = this, hd = this.c.headDim, half = hd / 2;
    const x4 = tf.reshape(x, [B, T, nHeads, hd]);
    const x1 = tf.slice(x4, [0, 0, 0, 0], [B, T, nHeads, half]);
    const x2 = tf.slice(x4, [0, 0, 0, half], [B, T, nHeads, half]);
    const r1 = tf.sub(tf.mul(x1, this.cos), tf.mul(x2, this.sin));
    const r2 = tf.add(tf.mul(x2, this.cos), tf.mul(x1, this.sin));
    return tf.reshape(tf.concat([r1, r2], 3), [B * T, nHeads * hd]);
  }

  /**
   * Causal GQA attention. Query heads sharing a k/v head are stacked along the row axis
   * ([B, nKv, group*T, hd]) so k and v are used as they are, with no repeat.
   */
  private attention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D {
    const { B, T } = this, c = this.c, hd = c.headDim, nH = c.numHeads, nKv = c.numKvHeads, group = nH / nKv;
    const q4 = tf.reshape(tf.transpose(tf.reshape(q, [B, T, nH, hd]), [0, 2, 1, 3]), [B, nKv, group * T, hd]);
    const k4 = tf.transpose(tf.reshape(k, [B, T, nKv, hd]), [0, 2, 1, 3]);
    const v4 = tf.transpose(tf.reshape(v, [B, T, nKv, hd]), [0, 2, 1, 3]);
    const scores = tf.mul(tf.matMul(q4, k4, false, true), 1 / Math.sqrt(hd)); // [B, nKv, group*T, T]
    const masked = tf.add(tf.reshape(scores, [B, nH, T, T]), this.mask);
    const probs = tf.reshape(tf.softmax(masked), [B, nKv, group * T, T]);
    const out = tf.reshape(tf.matMul(probs, v4), [B, nH, T, hd]);
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B * T, nH * hd]);
  }

  private loss(ids: tf.Tensor1D, targetsOneHot: tf.Tensor2D, count: number): tf.Scalar {
    const c = this.c;
    let x = tf.gather(this.embed, ids) as tf.Tensor2D;
    for (let i = 0; i < c.numLayers; i++) {
      const l = this.layers[i];
      const h = this.rmsNorm(x, l.inputNorm!);
      const q = this.rope(this.proj(i, 'q', h), c.numHeads);
      const k = this.rope(this.proj(i, 'k', h), c.numKvHeads);
      const v = this.proj(i, 'v', h);
      x = tf.add(x, this.proj(i, 'o', this.attention(q, k, v)));
      const h2 = this.rmsNorm(x, l.postNorm!);
      const g = this.proj(i, 'gate', h2), u = this.proj(i, 'up', h2);
      x = tf.add(x, this.proj(i, 'down', tf.mul(tf.mul(g, tf.sigmoid(g)), u)));
    }
    const logits = tf.matMul(this.rmsNorm(x, this.finalNorm), this.lmHead, false, true);
    const picked = tf.sum(tf.mul(tf.logSoftmax(logits), targetsOneHot));
    return tf.div(tf.neg(picked), count) as tf.Scalar;
  }

  /** One Adam step; returns the batch's mean loss before the update (read back: a GPU sync). */
  async step(batch: TokenBatch): Promise<number> {
    let count = 0;
    const safe = new Int32Array(batch.targets.length), keep = new Float32Array(batch.targets.length);
    batch.targets.forEach((t, i) => { if (t !== -1) { safe[i] = t; keep[i] = 1; count++; } });
    const ids = tf.tensor1d(batch.inputIds, 'int32');
    const oneHot = tf.tidy(() => tf.mul(tf.oneHot(tf.tensor1d(safe, 'int32'), this.c.vocabSize, 1, 0, 'float32'), tf.tensor2d(keep, [keep.length, 1]))) as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(() => this.loss(ids, oneHot, count), this.vars);
    this.optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    const loss = (await value.data())[0];
    tf.dispose([ids, oneHot, value, ...Object.values(grads)]);
    return loss;
  }

  dispose(): void {
    const all = new Set<tf.Tensor>([this.embed, this.lmHead, this.finalNorm, this.cos, this.sin, this.mask, ...this.vars]);
    for (const l of this.layers) for (const t of Object.values(l)) if (t) all.add(t);
    tf.dispose([...all]);
    this.optimizer.dispose();
  }
}

function adapterFor(c: ModelConfig, plan: SubmodelPlan, cfg: LoraConfig, seed: number): LoraAdapter {
  // B starts small but non-zero (not PEFT's zeros) so the LoRA path changes the loss and A gets
  // gradients from step 1 in both implementations.
  return createLoraAdapter(c, cfg, plan.layers.map((l) => l.index), new SeededRandom(seed), 0.01);
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

async function timeSteps(
  stepFn: (b: TokenBatch) => Promise<number>, batches: TokenBatch[], steps: number,
): Promise<{ losses: number[]; stepMs: number[]; dispatchesPerStep: number; submitsPerStep: number }> {
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

function tokensPerSec(stepMs: number[], tokens: number): number {
  const timed = stepMs.slice(1);
  const total = timed.reduce((a, b) => a + b, 0);
  return (timed.length * tokens) / (total / 1000);
}

// ---------------------------------------------------------------------------------------------

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
  if (parts.training || parts.memory) {
    // Ours: the full plan (its peak is the first memory row).
    log('ours: building the LoRA session (full plan)');
    let t = performance.now();
    const session = await LoraTrainingSession.create(ctx, {
      config: c, plan, weights, lora: adapterFor(c, plan, loraCfg, o.seed), batch: B, seqLen: T, optimizer: { lr: o.lr },
    }, kernels);
    const setupMs = performance.now() - t;
    const steps = parts.training ? o.steps : 0;
    const ours = await timeSteps(async (b) => (await session.step(b)).loss, batches, steps);
    log(`ours: losses ${ours.losses.map((l) => l.toFixed(4)).join(' ')}, steps ${ours.stepMs.map((m) => m.toFixed(0)).join(' ')} ms`);
    if (parts.memory) {
      const est = estimateLoraSessionBytes({ config: c, plan, lora: loraCfg, batch: B, seqLen: T });
      result.memory.push({
        plan: `full (${describePlan(plan)})`, layers: plan.layers.length, peakBytes: session.peakBytes, estimateBytes: est.totalBytes,
        byKind: est.byKind, stepMs: ours.stepMs[0], loss: ours.losses[0],
      });
    }
    session.destroy();

    if (parts.training) {
      log('tfjs: uploading weights, building the LoRA step');
      t = performance.now();
      const tfStep = new TfLoraStep(c, weights, adapterFor(c, plan, loraCfg, o.seed), B, T, o.lr, 'bench');
      const tfSetup = performance.now() - t;
      const tfRun = await timeSteps((b) => tfStep.step(b), batches, o.steps);
      log(`tfjs: losses ${tfRun.losses.map((l) => l.toFixed(4)).join(' ')}, steps ${tfRun.stepMs.map((m) => m.toFixed(0)).join(' ')} ms`);
      const mem = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number };
      result.tfjs.gpuBytesAllocated = mem.numBytesAllocatedInGPU;
      tfStep.dispose();
      result.training = {
        ours: { impl: 'ours', ...ours, tokensPerSec: tokensPerSec(ours.stepMs, M), setupMs },
        tfjs: { impl: 'tfjs', ...tfRun, tokensPerSec: tokensPerSec(tfRun.stepMs, M), setupMs: tfSetup },
      };
    }
  }

  if (parts.memory && o.smallPlanLayers.length > 0) {
    const small = planKeepingLayers(o.smallPlanLayers.filter((l) => l < c.numLayers));
    log(`ours: building the LoRA session (plan ${describePlan(small)})`);
    const s = await LoraTrainingSession.create(ctx, {
      config: c, plan: small, weights, lora: adapterFor(c, small, loraCfg, o.seed), batch: B, seqLen: T, optimizer: { lr: o.lr },
    }, kernels);
    const t = performance.now();
    const r = await s.step(batches[0]);
    const stepMs = performance.now() - t;
    if (!Number.isFinite(r.loss)) throw new Error(`non-finite loss ${r.loss} on the small plan`);
    const est = estimateLoraSessionBytes({ config: c, plan: small, lora: loraCfg, batch: B, seqLen: T });
    result.memory.push({
      plan: `layers ${describePlan(small)}`, layers: small.layers.length, peakBytes: s.peakBytes, estimateBytes: est.totalBytes,
      byKind: est.byKind, stepMs, loss: r.loss,
    });
    s.destroy();
  }

  result.tfjs.numTensors = tf.memory().numTensors;
  ctx.device.destroy();
  result.totalMs = performance.now() - t0;
  log(`done in ${(result.totalMs / 1000).toFixed(1)} s`);
  return result;
}

window.runBench = runBench;
