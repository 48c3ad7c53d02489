import matmulWgsl from './matmul.wgsl?raw';
import { bindingOf, PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Bindable, type Dispatch } from './dispatch';
import type { GpuMemoryLedger } from './memoryLedger';

/** Which operand is stored transposed; see matmul.wgsl for how linear layers map to these. */
export interface MatmulVariant {
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
}

export interface MatmulShape {
  M: number;
  N: number;
  /** Reduction length. */
  R: number;
  alpha?: number;
  /** Row stride of A in elements (default: its width, R, or M when transposed). */
  lda?: number;
  /** Row stride of C in elements (default N): C is N columns of a wider matrix. */
  ldc?: number;
}

const TILE = 4;
const WG = 8;

/** C[M,N] = alpha·op(A)·op(B) (+ C): see matmul.wgsl. */
export class MatmulKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'matmul', matmulWgsl);
  }

  async prepare(
    ledger: GpuMemoryLedger, label: string, v: MatmulVariant, s: MatmulShape, a: Bindable, b: Bindable, c: Bindable,
  ): Promise<Dispatch> {
    const lda = s.lda ?? (v.transA ? s.M : s.R), ldc = s.ldc ?? s.N;
    requirePositiveInts('matmul', { M: s.M, N: s.N, R: s.R, lda, ldc });
    if (lda < (v.transA ? s.M : s.R) || ldc < s.N) throw new RangeError(`matmul: row strides lda ${lda}, ldc ${ldc} are narrower than the rows they hold`);
    requireFloats('matmul', 'A', a, v.transA ? (s.R - 1) * lda + s.M : (s.M - 1) * lda + s.R);
    requireFloats('matmul', 'B', b, s.R * s.N);
    requireFloats('matmul', 'C', c, (s.M - 1) * ldc + s.N);
    const grid: [number, number, number] = [Math.ceil(s.N / (TILE * WG)), Math.ceil(s.M / (TILE * WG)), 1];
    const maxGrid = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (grid[0] > maxGrid || grid[1] > maxGrid) {
      throw new RangeError(`matmul: ${s.M}x${s.N} needs a ${grid[0]}x${grid[1]} grid, over this device's ${maxGrid} workgroups per dimension`);
    }
    const data = new ArrayBuffer(32);
    new Uint32Array(data, 0, 3).set([s.M, s.N, s.R]);
    new Float32Array(data, 12, 1)[0] = s.alpha ?? 1;
    new Uint32Array(data, 16, 2).set([lda, ldc]);
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data);
    const pipeline = await this.cache.get('main', { TRANS_A: +v.transA, TRANS_B: +v.transB, ACCUMULATE: +v.accumulate });
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, a, b, c].map((x, binding) => ({ binding, resource: bindingOf(x) })),
    });
    return { label, pipeline, bindGroup, workgroups: grid };
  }
}
