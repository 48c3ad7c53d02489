import type { AttentionShape } from '@fedllm/core';
import attentionWgsl from './attention.wgsl?raw';
import { PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Dispatch } from './dispatch';
import type { GpuMemoryLedger } from './memoryLedger';

/**
 * The CPU engine's attention shape (nHeads a multiple of nKvHeads; query head h reads kv head
 * floor(h / (nHeads / nKvHeads)); window absent or 0: no sliding window).
 */
export type AttentionKernelShape = AttentionShape;

export interface AttentionForwardBuffers {
  /** [B*T, nHeads*headDim], RoPE already applied. */
  q: GPUBuffer;
  /** [B*T, nKvHeads*headDim]. */
  k: GPUBuffer;
  v: GPUBuffer;
  /** Written: [B*T, nHeads*headDim]. */
  out: GPUBuffer;
  /** Written: softmax probabilities [B, nHeads, T, T] (zeros outside each row's window), kept for the backward. */
  probs: GPUBuffer;
}

export interface AttentionBackwardBuffers {
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  /** The forward's output (the backward uses rowsum(dOut∘out) = rowsum(dP∘P)). */
  out: GPUBuffer;
  /** The forward's probabilities. */
  probs: GPUBuffer;
  /** Gradient of the loss w.r.t. out, [B*T, nHeads*headDim]. */
  dOut: GPUBuffer;
  /** Overwritten (not accumulated, unlike attentionBackward on the CPU): [B*T, nHeads*headDim]. */
  dq: GPUBuffer;
  /** Overwritten: [B*T, nKvHeads*headDim]. */
  dk: GPUBuffer;
  /** Overwritten: [B*T, nKvHeads*headDim]. */
  dv: GPUBuffer;
  /** Caller-owned scratch of attentionScratchFloats(shape).backward floats (the per-row rowsums). */
  scratch: GPUBuffer;
}

/** Largest head dimension the kernels support (MAX_HD in attention.wgsl). */
export const ATTENTION_MAX_HEAD_DIM = 256;
const WG = 64;

/** Floats of caller-provided scratch each pass needs (for the memory estimator). */
export function attentionScratchFloats(s: AttentionKernelShape): { forward: number; backward: number } {
  return { forward: 0, backward: s.B * s.nHeads * s.T };
}

/** Floats of the probs buffer the forward writes and the backward reads: B·nHeads·T·T. */
export function attentionProbsFloats(s: AttentionKernelShape): number {
  return s.B * s.nHeads * s.T * s.T;
}

function checkShape(device: GPUDevice, s: AttentionKernelShape): number {
  requirePositiveInts('attention', { B: s.B, T: s.T, nHeads: s.nHeads, nKvHeads: s.nKvHeads, headDim: s.headDim });
  if (s.nHeads % s.nKvHeads !== 0) {
    throw new RangeError(`attention: nHeads (${s.nHeads}) must be divisible by nKvHeads (${s.nKvHeads})`);
  }
  if (s.headDim > ATTENTION_MAX_HEAD_DIM) {
    throw new RangeError(`attention: headDim ${s.headDim} exceeds the supported maximum ${ATTENTION_MAX_HEAD_DIM}`);
  }
  const w = s.window ?? 0;
  if (!Number.isInteger(w) || w < 0) throw new RangeError(`attention: window must be a non-negative integer (0 = none), got ${s.window}`);
  // Every grid is [ceil(T/64), nHeads or nKvHeads, B].
  const maxWg = device.limits.maxComputeWorkgroupsPerDimension;
  for (const [k, n] of [['ceil(T / 64)', Math.ceil(s.T / WG)], ['nHeads', s.nHeads], ['B', s.B]] as const) {
    if (n > maxWg) throw new RangeError(`attention: ${k} = ${n} exceeds maxComputeWorkgroupsPerDimension (${maxWg})`);
  }
  // Every index the shaders form is a u32 element offset.
  if (attentionProbsFloats(s) > 0xffffffff || s.B * s.T * s.nHeads * s.headDim > 0xffffffff) {
    throw new RangeError('attention: shape too large for 32-bit element offsets');
  }
  // A window at least T long masks nothing; pass 0 so the shader's index arithmetic cannot overflow.
  return w >= s.T ? 0 : w;
}

/** Size checks of the buffers the forward writes and the backward reads again; returns the q and k/v sizes. */
function requireForwardBuffers(s: AttentionKernelShape, b: AttentionForwardBuffers): { qFloats: number; kvFloats: number } {
  const qFloats = s.B * s.T * s.nHeads * s.headDim, kvFloats = s.B * s.T * s.nKvHeads * s.headDim;
  requireFloats('attention', 'q', b.q, qFloats);
  requireFloats('attention', 'k', b.k, kvFloats);
  requireFloats('attention', 'v', b.v, kvFloats);
  requireFloats('attention', 'out', b.out, qFloats);
  requireFloats('attention', 'probs', b.probs, attentionProbsFloats(s));
  return { qFloats, kvFloats };
}

function requireDistinct(writes: Record<string, GPUBuffer>, reads: Record<string, GPUBuffer>): void {
  const w = Object.entries(writes);
  for (let i = 0; i < w.length; i++) {
    for (const [name, buf] of [...w.slice(i + 1), ...Object.entries(reads)]) {
      if (buf === w[i][1]) throw new RangeError(`attention: ${w[i][0]} and ${name} must be different buffers (${w[i][0]} is written)`);
    }
  }
}

/**
 * Causal grouped-query attention on the GPU, computing exactly what attentionForward /
 * attentionBackward of @fedllm/core compute (see attention.wgsl), except that the backward
 * overwrites dq, dk, dv instead of accumulating into them. Each prepare call validates the shape
 * and buffer sizes (RangeError), creates one 32-byte uniform through the ledger and returns
 * dispatches to record in order (in one compute pass or several); nothing is allocated when they run.
 */
export class AttentionKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'attention', attentionWgsl);
  }

  private uniform(ledger: GpuMemoryLedger, label: string, s: AttentionKernelShape, window: number): GPUBuffer {
    const data = new ArrayBuffer(32);
    new Uint32Array(data, 0, 6).set([s.B, s.T, s.nHeads, s.nKvHeads, s.headDim, window]);
    new Float32Array(data, 24, 1)[0] = 1 / Math.sqrt(s.headDim);
    return uniformBuffer(this.device, ledger, `uniform.${label}`, data);
  }

  private async dispatch(
    label: string, entryPoint: string, bindings: [number, GPUBuffer][], workgroups: [number, number, number],
  ): Promise<Dispatch> {
    const pipeline = await this.cache.get(entryPoint);
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
    });
    return { label, pipeline, bindGroup, workgroups };
  }

  /** One dispatch: writes out and probs (attentionProbsFloats(s) floats, kept for the backward). */
  async prepareForward(
    ledger: GpuMemoryLedger, label: string, s: AttentionKernelShape, b: AttentionForwardBuffers,
  ): Promise<Dispatch[]> {
    const window = checkShape(this.device, s);
    requireForwardBuffers(s, b);
    requireDistinct({ out: b.out, probs: b.probs }, { q: b.q, k: b.k, v: b.v });
    const u = this.uniform(ledger, label, s, window);
    return [
      await this.dispatch(`${label}.forward`, 'forward', [[0, u], [1, b.q], [2, b.k], [3, b.v], [4, b.out], [5, b.probs]], [Math.ceil(s.T / WG), s.nHeads, s.B]),
    ];
  }

  /**
   * Three dispatches, in order: rowsums of dOut∘out into scratch, then dq, then dk and dv.
   * Needs the forward's out and probs; overwrites dq, dk, dv and scratch.
   */
  async prepareBackward(
    ledger: GpuMemoryLedger, label: string, s: AttentionKernelShape, b: AttentionBackwardBuffers,
  ): Promise<Dispatch[]> {
    const window = checkShape(this.device, s);
    const { qFloats, kvFloats } = requireForwardBuffers(s, b);
    requireFloats('attention', 'dOut', b.dOut, qFloats);
    requireFloats('attention', 'dq', b.dq, qFloats);
    requireFloats('attention', 'dk', b.dk, kvFloats);
    requireFloats('attention', 'dv', b.dv, kvFloats);
    requireFloats('attention', 'scratch', b.scratch, attentionScratchFloats(s).backward);
    requireDistinct(
      { dq: b.dq, dk: b.dk, dv: b.dv, scratch: b.scratch },
      { q: b.q, k: b.k, v: b.v, out: b.out, probs: b.probs, dOut: b.dOut },
    );
    const u = this.uniform(ledger, label, s, window);
    return Promise.all([
      this.dispatch(`${label}.rowDot`, 'rowDot', [[0, u], [4, b.out], [6, b.dOut], [7, b.scratch]], [Math.ceil(s.T / WG), s.nHeads, s.B]),
      this.dispatch(
        `${label}.backwardQuery`, 'backwardQuery',
        [[0, u], [2, b.k], [3, b.v], [5, b.probs], [6, b.dOut], [7, b.scratch], [8, b.dq]], [Math.ceil(s.T / WG), s.nHeads, s.B],
      ),
      this.dispatch(
        `${label}.backwardKeyValue`, 'backwardKeyValue',
        [[0, u], [1, b.q], [3, b.v], [5, b.probs], [6, b.dOut], [7, b.scratch], [9, b.dk], [10, b.dv]], [Math.ceil(s.T / WG), s.nKvHeads, s.B],
      ),
    ]);
  }
}
