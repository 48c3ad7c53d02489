import rmsNormWgsl from './rmsNorm.wgsl?raw';
import { PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Dispatch } from './dispatch';
import { flatWorkgroupGrid, requireDistinctBuffers, rowWorkgroupSize } from './elementwise';
import type { GpuMemoryLedger } from './memoryLedger';

export interface RmsNormShape {
  /** Rows (B·T tokens). */
  M: number;
  /** Row width (hidden size). */
  D: number;
}

export interface RmsNormBackwardBuffers {
  /** Forward input x[M, D]. */
  x: GPUBuffer;
  /** Norm weight w[D]. */
  w: GPUBuffer;
  /** invRms[M] as written by the forward. */
  invRms: GPUBuffer;
  /** Gradient of the output dy[M, D]. */
  dy: GPUBuffer;
  /** Gradient of the input dx[M, D]: overwritten, or accumulated into with `accumulate`. */
  dx: GPUBuffer;
  /** Optional weight gradient dw[D], always accumulated into (Σ over rows of dy·x̂). */
  dw?: GPUBuffer;
}

// Binding roles in rmsNorm.wgsl.
const DIMS = 0, X = 1, W = 2, DY = 3, INV_IN = 4, Y = 5, INV_OUT = 6, DX = 7, DW = 8;

/** RMSNorm forward and backward, exactly as core's rmsNormForward / rmsNormBackward. */
export class RmsNormKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'rmsNorm', rmsNormWgsl);
  }

  private bind(pipeline: GPUComputePipeline, label: string, entries: [number, GPUBuffer][]): GPUBindGroup {
    return this.device.createBindGroup({
      label, layout: pipeline.getBindGroupLayout(0), entries: entries.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
    });
  }

  private uniform(ledger: GpuMemoryLedger, label: string, s: RmsNormShape, eps: number): GPUBuffer {
    const data = new ArrayBuffer(16);
    new Uint32Array(data, 0, 2).set([s.M, s.D]);
    new Float32Array(data, 8, 1)[0] = eps;
    return uniformBuffer(this.device, ledger, `uniform.${label}`, data);
  }

  /** y[M, D] = w · x / sqrt(mean(x²) + eps) per row, invRms[M] = that 1/rms (for the backward). */
  async prepareForward(
    ledger: GpuMemoryLedger, label: string, s: RmsNormShape, eps: number,
    x: GPUBuffer, w: GPUBuffer, y: GPUBuffer, invRms: GPUBuffer,
  ): Promise<Dispatch> {
    requirePositiveInts('rmsNorm', { M: s.M, D: s.D });
    if (!(eps >= 0)) throw new RangeError(`rmsNorm: eps must be >= 0, got ${eps}`);
    requireFloats('rmsNorm', 'x', x, s.M * s.D);
    requireFloats('rmsNorm', 'w', w, s.D);
    requireFloats('rmsNorm', 'y', y, s.M * s.D);
    requireFloats('rmsNorm', 'invRms', invRms, s.M);
    requireDistinctBuffers('rmsNorm', { y, invRms, x, w });
    const pipeline = await this.cache.get('forward', { WG: rowWorkgroupSize(s.D) });
    const uniform = this.uniform(ledger, label, s, eps);
    const bindGroup = this.bind(pipeline, label, [[DIMS, uniform], [X, x], [W, w], [Y, y], [INV_OUT, invRms]]);
    return { label, pipeline, bindGroup, workgroups: flatWorkgroupGrid(s.M) };
  }

  /**
   * Backward: one dispatch for dx (overwrite, or add into dx with `accumulate`, the residual
   * stream's form), plus a second that accumulates dw when `b.dw` is given. Record them in order
   * (they do not depend on each other).
   */
  async prepareBackward(
    ledger: GpuMemoryLedger, label: string, s: RmsNormShape, accumulate: boolean, b: RmsNormBackwardBuffers,
  ): Promise<Dispatch[]> {
    requirePositiveInts('rmsNormBackward', { M: s.M, D: s.D });
    requireFloats('rmsNormBackward', 'x', b.x, s.M * s.D);
    requireFloats('rmsNormBackward', 'w', b.w, s.D);
    requireFloats('rmsNormBackward', 'invRms', b.invRms, s.M);
    requireFloats('rmsNormBackward', 'dy', b.dy, s.M * s.D);
    requireFloats('rmsNormBackward', 'dx', b.dx, s.M * s.D);
    if (b.dw) requireFloats('rmsNormBackward', 'dw', b.dw, s.D);
    requireDistinctBuffers('rmsNormBackward', { dx: b.dx, ...(b.dw ? { dw: b.dw } : {}), x: b.x, w: b.w, invRms: b.invRms, dy: b.dy });
    const pipeline = await this.cache.get('backward', { ACCUMULATE: +accumulate, WG: rowWorkgroupSize(s.D) });
    const wgPipeline = b.dw ? await this.cache.get('weightGrad') : undefined;
    const uniform = this.uniform(ledger, label, s, 0);
    const out: Dispatch[] = [{
      label, pipeline, workgroups: flatWorkgroupGrid(s.M),
      bindGroup: this.bind(pipeline, label, [[DIMS, uniform], [X, b.x], [W, b.w], [DY, b.dy], [INV_IN, b.invRms], [DX, b.dx]]),
    }];
    if (b.dw && wgPipeline) {
      const l = `${label}.dw`;
      out.push({
        label: l, pipeline: wgPipeline, workgroups: flatWorkgroupGrid(Math.ceil(s.D / 64)),
        bindGroup: this.bind(wgPipeline, l, [[DIMS, uniform], [X, b.x], [DY, b.dy], [INV_IN, b.invRms], [DW, b.dw]]),
      });
    }
    return out;
  }
}
