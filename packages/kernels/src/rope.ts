import type { RopeTables } from '@fedllm/core';
import ropeWgsl from './rope.wgsl?raw';
import { PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Dispatch } from './dispatch';
import { flatWorkgroupGrid } from './elementwise';
import type { GpuMemoryLedger } from './memoryLedger';

/** core's RoPE tables on the GPU: float32 cos and sin, each [maxPos, headDim/2]. */
export interface RopeTableBuffers {
  headDim: number;
  maxPos: number;
  cos: GPUBuffer;
  sin: GPUBuffer;
}

export interface RopeShape {
  B: number;
  T: number;
  /** Heads in x (numHeads for q, numKvHeads for k). */
  nHeads: number;
}

/** The float32 tables the kernel reads, from core's buildRopeTables (float64). */
export function ropeTablesFloat32(t: RopeTables): { cos: Float32Array<ArrayBuffer>; sin: Float32Array<ArrayBuffer> } {
  return { cos: Float32Array.from(t.cos), sin: Float32Array.from(t.sin) };
}

/** Rotary position embedding in place (rope.wgsl), exactly as core's applyRope. */
export class RopeKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'rope', ropeWgsl);
  }

  /** Creates the two table buffers through the ledger and uploads core's tables (session build time). */
  uploadTables(ledger: GpuMemoryLedger, label: string, t: RopeTables): RopeTableBuffers {
    if (!Number.isInteger(t.headDim) || t.headDim < 2 || t.headDim % 2 !== 0) throw new RangeError(`rope: headDim must be a positive even integer, got ${t.headDim}`);
    const { cos, sin } = ropeTablesFloat32(t);
    const make = (name: string, data: Float32Array<ArrayBuffer>) => {
      const b = ledger.createBuffer(`${label}.${name}`, data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      this.device.queue.writeBuffer(b, 0, data);
      return b;
    };
    return { headDim: t.headDim, maxPos: t.maxPos, cos: make('cos', cos), sin: make('sin', sin) };
  }

  /**
   * Rotates x[B·T, nHeads·headDim] in place for positions 0..T−1 of each sequence; inverse applies
   * the transpose rotation (the backward, on dq/dk).
   */
  async prepare(
    ledger: GpuMemoryLedger, label: string, s: RopeShape, inverse: boolean, x: GPUBuffer, tables: RopeTableBuffers,
  ): Promise<Dispatch> {
    requirePositiveInts('rope', { B: s.B, T: s.T, nHeads: s.nHeads, maxPos: tables.maxPos });
    const hd = tables.headDim, half = hd / 2;
    if (!Number.isInteger(hd) || hd < 2 || hd % 2 !== 0) throw new RangeError(`rope: headDim must be a positive even integer, got ${hd}`);
    if (s.T > tables.maxPos) throw new RangeError(`rope: sequence length ${s.T} exceeds table size ${tables.maxPos}`);
    requireFloats('rope', 'x', x, s.B * s.T * s.nHeads * hd);
    requireFloats('rope', 'cos', tables.cos, tables.maxPos * half);
    requireFloats('rope', 'sin', tables.sin, tables.maxPos * half);
    if (x === tables.cos || x === tables.sin || tables.cos === tables.sin) throw new RangeError('rope: x, cos and sin must be distinct buffers');
    const pipeline = await this.cache.get('main');
    const pairs = s.B * s.T * s.nHeads * half;
    const data = new ArrayBuffer(32);
    new Uint32Array(data, 0, 4).set([pairs, half, s.nHeads, s.T]);
    new Float32Array(data, 16, 1)[0] = inverse ? -1 : 1;
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data);
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, x, tables.cos, tables.sin].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return { label, pipeline, bindGroup, workgroups: flatWorkgroupGrid(Math.ceil(pairs / 64)) };
  }
}
