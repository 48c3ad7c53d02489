import dequantMatmulWgsl from './dequantMatmul.wgsl?raw';
import { formatBits, quantizedLayout, type WeightFormat } from '@fedllm/core';
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
  /** Floats between rows of A and of C (default: their widths, K or N); the LM head writes a column slice of the logits. */
  lda?: number;
  ldc?: number;
}

/** An embedding lookup from a packed [rows, D] table holding vocabulary rows [first, first + rows). */
export interface DequantGatherShape {
  /** Token ids gathered (B·T). */
  M: number;
  /** Hidden size: columns of the table and of the output. */
  D: number;
  first: number;
  rows: number;
  format: Exclude<WeightFormat, 'f32'>;
}

const PACKED_FORMATS = ['int8', 'int4', 'q8_0', 'q4_1'];

function requirePackedFormat(kernel: string, format: string): void {
  if (!PACKED_FORMATS.includes(format)) throw new RangeError(`${kernel}: format must be one of ${PACKED_FORMATS.join(', ')}, got "${format}"`);
}

/** A packed weight on the GPU: its words and its float32 scales (core's QuantizedMatrix layout). */
export interface PackedWeightBuffers {
  words: Bindable;
  scales: Bindable;
}

const TILE = 4;
const WG = 8;

/**
 * Matmuls against a packed int8 / int4 / q8_0 / q4_1 weight W [N, K], dequantized in registers:
 *   forward:   C[M,N] (+)= A[M,K] · deq(W)ᵀ     inputGrad: C[M,K] (+)= A[M,N] · deq(W)
 * The frozen projections of a quantized base need only these two (their weight gradient is
 * never formed; LoRA's products stay on the float matmul); a packed vocabulary table adds the
 * gather (embedding) and runs the LM head on the same two products.
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
    requirePackedFormat('dequantMatmul', s.format);
    if (product !== 'forward' && product !== 'inputGrad') throw new RangeError(`dequantMatmul: unknown product "${product}"`);
    const l = quantizedLayout(s.N, s.K, s.format);
    const fwd = product === 'forward';
    const aWidth = fwd ? s.K : s.N, cWidth = fwd ? s.N : s.K;
    const lda = s.lda ?? aWidth, ldc = s.ldc ?? cWidth;
    if (!Number.isInteger(lda) || lda < aWidth || !Number.isInteger(ldc) || ldc < cWidth) throw new RangeError(`dequantMatmul: lda ${lda} / ldc ${ldc} must be integers of at least ${aWidth} / ${cWidth}`);
    requireFloats('dequantMatmul', fwd ? 'X' : 'dY', a, (s.M - 1) * lda + aWidth);
    requireFloats('dequantMatmul', fwd ? 'Y' : 'dX', c, (s.M - 1) * ldc + cWidth);
    if (bindableBytes(w.words) < l.words * 4) throw new RangeError(`dequantMatmul: W holds ${bindableBytes(w.words) / 4} words, a ${s.N} x ${s.K} ${s.format} weight needs ${l.words}`);
    requireFloats('dequantMatmul', 'scales', w.scales, l.scales);
    const grid: [number, number, number] = [Math.ceil((fwd ? s.N / TILE : l.wordsPerRow) / WG), Math.ceil(s.M / (TILE * WG)), 1];
    this.requireGrid(label, grid);
    const data = new Uint32Array([s.M, s.N, s.K, l.wordsPerRow, l.wordsPerGroup, l.groupsPerRow, lda, ldc, 0, 0, 0, 0]);
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data.buffer);
    const pipeline = await this.cache.get(product, this.constants(s.format, accumulate));
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, a, w.words, w.scales, c].map((x, binding) => ({ binding, resource: bindingOf(x) })),
    });
    return { label, pipeline, bindGroup, workgroups: grid };
  }

  /** out[m, :] = deq(table[ids[m] - first, :]) for the ids this slice of the table holds. */
  async prepareGather(ledger: GpuMemoryLedger, label: string, s: DequantGatherShape, table: PackedWeightBuffers, ids: Bindable, out: Bindable): Promise<Dispatch> {
    requirePositiveInts('dequantGather', { M: s.M, D: s.D, rows: s.rows });
    requirePackedFormat('dequantGather', s.format);
    if (!Number.isInteger(s.first) || s.first < 0) throw new RangeError(`dequantGather: first must be a non-negative integer, got ${s.first}`);
    const l = quantizedLayout(s.rows, s.D, s.format);
    if (bindableBytes(table.words) < l.words * 4) throw new RangeError(`dequantGather: the table holds ${bindableBytes(table.words) / 4} words, ${s.rows} rows of ${s.D} ${s.format} values need ${l.words}`);
    requireFloats('dequantGather', 'scales', table.scales, l.scales);
    requireFloats('dequantGather', 'ids', ids, s.M);
    requireFloats('dequantGather', 'out', out, s.M * s.D);
    const grid: [number, number, number] = [Math.ceil(l.wordsPerRow / WG), Math.ceil(s.M / WG), 1];
    this.requireGrid(label, grid);
    const data = new Uint32Array([s.M, s.rows, s.D, l.wordsPerRow, l.wordsPerGroup, l.groupsPerRow, s.D, s.D, s.first, 0, 0, 0]);
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data.buffer);
    const pipeline = await this.cache.get('gather', this.constants(s.format, false));
    const entries = [[0, uniform], [2, table.words], [3, table.scales], [4, out], [5, ids]] as const;
    const bindGroup = this.device.createBindGroup({
      label, layout: pipeline.getBindGroupLayout(0),
      entries: entries.map(([binding, x]) => ({ binding, resource: bindingOf(x) })),
    });
    return { label, pipeline, bindGroup, workgroups: grid };
  }

  private constants(format: Exclude<WeightFormat, 'f32'>, accumulate: boolean) {
    return { BITS: formatBits(format), ACCUMULATE: +accumulate, AFFINE: +(format === 'q4_1') };
  }

  private requireGrid(label: string, grid: [number, number, number]): void {
    const maxGrid = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (grid[0] > maxGrid || grid[1] > maxGrid) {
      throw new RangeError(`dequantMatmul: ${label} needs a ${grid[0]}x${grid[1]} grid, over this device's ${maxGrid} workgroups per dimension`);
    }
  }
}
