import dequantMatmulWgsl from './dequantMatmul.wgsl?raw';
import { quantizedLayout, type WeightFormat } from '@fedllm/core';
import { bindableBytes, bindingOf, PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Bindable, type Dispatch } from './dispatch';
import type { GpuMemoryLedger } from './memoryLedger';

/** Which product of a frozen linear layer (see dequantMatmul.wgsl). */
export type DequantProduct = 'forward' | 'inputGrad';

export interface DequantMatmulShape {
  /** Rows of the activations (B·T tokens). */
  M: number;
  /** Rows of W: the layer's output features. */
  N: number;
  /** Columns of W: the layer's input features. */
  K: number;
  format: Exclude<WeightFormat, 'f32'>;
}

/** A packed weight on the GPU: its words and its float32 scales (core's QuantizedMatrix layout). */
export interface PackedWeightBuffers {
  words: Bindable;
  scales: Bindable;
}

const TILE = 4;
const WG = 8;

/**
 * Matmuls against a packed int8 / int4 / q4_1 weight W [N, K], dequantized in registers:
 *   forward:   C[M,N] (+)= A[M,K] · deq(W)ᵀ     inputGrad: C[M,K] (+)= A[M,N] · deq(W)
 * The frozen projections of a quantized base need only these two (their weight gradient is
 * never formed; LoRA's products stay on the float matmul).
 */
export class DequantMatmulKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'dequantMatmul', dequantMatmulWgsl);
  }

  async prepare(
    ledger: GpuMemoryLedger, label: string, product: DequantProduct, accumulate: boolean, s: DequantMatmulShape,
    a: Bindable, w: PackedWeightBuffers, c: Bindable,
  ): Promise<Dispatch> {
    requirePositiveInts('dequantMatmul', { M: s.M, N: s.N, K: s.K });
    if (s.format !== 'int8' && s.format !== 'int4' && s.format !== 'q4_1') throw new RangeError(`dequantMatmul: format must be int8, int4 or q4_1, got "${s.format}"`);
    if (product !== 'forward' && product !== 'inputGrad') throw new RangeError(`dequantMatmul: unknown product "${product}"`);
    const l = quantizedLayout(s.N, s.K, s.format);
    const fwd = product === 'forward';
    requireFloats('dequantMatmul', fwd ? 'X' : 'dY', a, s.M * (fwd ? s.K : s.N));
    requireFloats('dequantMatmul', fwd ? 'Y' : 'dX', c, s.M * (fwd ? s.N : s.K));
    if (bindableBytes(w.words) < l.words * 4) throw new RangeError(`dequantMatmul: W holds ${bindableBytes(w.words) / 4} words, a ${s.N} x ${s.K} ${s.format} weight needs ${l.words}`);
    requireFloats('dequantMatmul', 'scales', w.scales, l.scales);
    const grid: [number, number, number] = [Math.ceil((fwd ? s.N / TILE : l.wordsPerRow) / WG), Math.ceil(s.M / (TILE * WG)), 1];
    const maxGrid = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (grid[0] > maxGrid || grid[1] > maxGrid) {
      throw new RangeError(`dequantMatmul: ${label} needs a ${grid[0]}x${grid[1]} grid, over this device's ${maxGrid} workgroups per dimension`);
    }
    const data = new Uint32Array([s.M, s.N, s.K, l.wordsPerRow, l.wordsPerGroup, l.groupsPerRow, 0, 0]);
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data.buffer);
    const pipeline = await this.cache.get(product, { BITS: s.format === 'int8' ? 8 : 4, ACCUMULATE: +accumulate, AFFINE: +(s.format === 'q4_1') });
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, a, w.words, w.scales, c].map((x, binding) => ({ binding, resource: bindingOf(x) })),
    });
    return { label, pipeline, bindGroup, workgroups: grid };
  }
}
