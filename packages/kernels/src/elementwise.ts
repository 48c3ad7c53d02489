import elementwiseWgsl from './elementwise.wgsl?raw';
import { bindableBytes, bindingOf, bufferOf, PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Bindable, type Dispatch } from './dispatch';
import type { GpuMemoryLedger } from './memoryLedger';

/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension: grids never exceed it in any dimension. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/**
 * A grid of `count` workgroups that respects maxComputeWorkgroupsPerDimension: x up to 65535,
 * then as many rows of y as needed. Shaders recover the flat workgroup index as
 * wid.y · num_workgroups.x + wid.x and skip the tail past their element count.
 */
export function flatWorkgroupGrid(count: number): [number, number, number] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`workgroup count must be a positive integer, got ${count}`);
  const x = Math.min(count, MAX_WORKGROUPS_PER_DIMENSION);
  const y = Math.ceil(count / x);
  if (y > MAX_WORKGROUPS_PER_DIMENSION) throw new RangeError(`${count} workgroups exceed a ${MAX_WORKGROUPS_PER_DIMENSION}² grid`);
  return [x, y, 1];
}

/**
 * Invocations per workgroup for the one-workgroup-per-row kernels (rmsNorm, crossEntropy): the
 * smallest power of two that covers the row width, at most 256, so narrow rows do not leave most
 * of a workgroup idle (their tree reductions need a power of two).
 */
export function rowWorkgroupSize(width: number): number {
  let wg = 1;
  while (wg < width && wg < 256) wg *= 2;
  return wg;
}

/** Throws unless `buf` holds at least n 32-bit integers (token ids, targets). */
export function requireInt32s(kernel: string, name: string, buf: Bindable, n: number): void {
  const bytes = bindableBytes(buf);
  if (bytes < n * 4) throw new RangeError(`${kernel}: ${name} holds ${bytes / 4} int32 values, needs ${n}`);
}

/**
 * Throws unless the named buffers are pairwise distinct. WebGPU forbids a writable storage
 * binding aliasing any other binding of the same dispatch, but reports it asynchronously as a
 * validation error; this reports it at prepare time, by name.
 */
export function requireDistinctBuffers(kernel: string, buffers: Record<string, Bindable>): void {
  const seen = new Map<GPUBuffer, string>();
  for (const [name, slice] of Object.entries(buffers)) {
    const b = bufferOf(slice);
    const prev = seen.get(b);
    if (prev !== undefined) throw new RangeError(`${kernel}: ${name} and ${prev} are the same buffer; they must not alias`);
    seen.set(b, name);
  }
}

/**
 * Host-side check of token ids before upload: the gather kernel does not check them (an id out of
 * range would silently read another row or robust-access garbage), so callers validate here.
 */
export function validateTokenIds(ids: ArrayLike<number>, vocab: number, what = 'token id'): void {
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i];
    if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new RangeError(`${what} ${t} at position ${i} outside vocabulary [0, ${vocab})`);
  }
}

export interface EmbeddingShape {
  /** Number of gathered rows (B·T tokens). */
  rows: number;
  /** Row width (hidden size). */
  D: number;
  /** Rows of the table (vocabulary size). */
  vocab: number;
}

const WG = 64;

// Binding roles in elementwise.wgsl.
const PARAMS = 0, IN_A = 1, IN_B = 2, IN_C = 3, OUT_A = 4, OUT_B = 5, IDS = 6;

/**
 * Elementwise kernels (see elementwise.wgsl). Every prepare validates sizes and aliasing, writes
 * its uniform (through the ledger) and returns a Dispatch to record in the step loop. Outputs
 * never alias inputs: y += alpha·x (prepareScaleAccumulate) is the in-place form.
 */
export class ElementwiseKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'elementwise', elementwiseWgsl);
  }

  private async build(
    ledger: GpuMemoryLedger, label: string, entry: string, n: number, D: number, scalar: number, bindings: [number, Bindable][], first = 0,
  ): Promise<Dispatch> {
    const pipeline = await this.cache.get(entry);
    const data = new ArrayBuffer(16);
    new Uint32Array(data, 0, 2).set([n, D]);
    new Float32Array(data, 8, 1)[0] = scalar;
    new Uint32Array(data, 12, 1)[0] = first;
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data);
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: [[PARAMS, uniform] as [number, Bindable], ...bindings].map(([binding, b]) => ({ binding, resource: bindingOf(b) })),
    });
    return { label, pipeline, bindGroup, workgroups: flatWorkgroupGrid(Math.ceil(n / WG)) };
  }

  /** out = a + b over n values. */
  async prepareAdd(ledger: GpuMemoryLedger, label: string, n: number, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer): Promise<Dispatch> {
    requirePositiveInts('add', { n });
    requireFloats('add', 'a', a, n);
    requireFloats('add', 'b', b, n);
    requireFloats('add', 'out', out, n);
    requireDistinctBuffers('add', { out, a, b });
    return this.build(ledger, label, 'add', n, 0, 0, [[IN_A, a], [IN_B, b], [OUT_A, out]]);
  }

  /** dst = src over n values. */
  async prepareCopy(ledger: GpuMemoryLedger, label: string, n: number, src: GPUBuffer, dst: GPUBuffer): Promise<Dispatch> {
    requirePositiveInts('copy', { n });
    requireFloats('copy', 'src', src, n);
    requireFloats('copy', 'dst', dst, n);
    requireDistinctBuffers('copy', { dst, src });
    return this.build(ledger, label, 'copy', n, 0, 0, [[IN_A, src], [OUT_A, dst]]);
  }

  /** dst = value over n values (value is rounded to float32). */
  async prepareFill(ledger: GpuMemoryLedger, label: string, n: number, value: number, dst: GPUBuffer): Promise<Dispatch> {
    requirePositiveInts('fill', { n });
    requireFloats('fill', 'dst', dst, n);
    return this.build(ledger, label, 'fill', n, 0, value, [[OUT_A, dst]]);
  }

  /** y += alpha·x over n values (alpha = 1: in-place residual add). */
  async prepareScaleAccumulate(
    ledger: GpuMemoryLedger, label: string, n: number, alpha: number, x: GPUBuffer, y: GPUBuffer,
  ): Promise<Dispatch> {
    requirePositiveInts('scaleAccumulate', { n });
    requireFloats('scaleAccumulate', 'x', x, n);
    requireFloats('scaleAccumulate', 'y', y, n);
    requireDistinctBuffers('scaleAccumulate', { y, x });
    return this.build(ledger, label, 'axpy', n, 0, alpha, [[IN_A, x], [OUT_A, y]]);
  }

  /**
   * h[i, :] = table[ids[i], :] for i < rows: table [vocab, D] float32, ids [rows] int32/uint32,
   * h [rows, D]. The kernel does not check ids: validate them on the host before upload
   * (validateTokenIds), as the CPU engine does.
   */
  async prepareEmbeddingGather(
    ledger: GpuMemoryLedger, label: string, s: EmbeddingShape, table: GPUBuffer, ids: GPUBuffer, h: GPUBuffer,
  ): Promise<Dispatch> {
    requirePositiveInts('embeddingGather', { rows: s.rows, D: s.D, vocab: s.vocab });
    requireFloats('embeddingGather', 'table', table, s.vocab * s.D);
    requireInt32s('embeddingGather', 'ids', ids, s.rows);
    requireFloats('embeddingGather', 'h', h, s.rows * s.D);
    requireDistinctBuffers('embeddingGather', { h, table, ids });
    return this.build(ledger, label, 'gather', s.rows * s.D, s.D, 0, [[IN_A, table], [IDS, ids], [OUT_A, h]]);
  }

  /**
   * One slice of a gather from a table bound in row slices: h[i, :] = slice[ids[i] − first, :]
   * for the rows whose id lies in the slice (the slice's rows: its byte size / (D·4)); other rows
   * are left for the other slices' dispatches.
   */
  async prepareEmbeddingGatherSlice(
    ledger: GpuMemoryLedger, label: string, s: EmbeddingShape, first: number, slice: Bindable, ids: GPUBuffer, h: GPUBuffer,
  ): Promise<Dispatch> {
    requirePositiveInts('embeddingGatherSlice', { rows: s.rows, D: s.D, vocab: s.vocab });
    const sliceRows = bindableBytes(slice) / (4 * s.D);
    if (!Number.isInteger(first) || first < 0 || !Number.isInteger(sliceRows) || sliceRows < 1 || first + sliceRows > s.vocab) {
      throw new RangeError(`embeddingGatherSlice: rows ${first}..${first + sliceRows - 1} of a ${s.vocab}-row table (whole rows of ${s.D} floats) needed`);
    }
    requireInt32s('embeddingGatherSlice', 'ids', ids, s.rows);
    requireFloats('embeddingGatherSlice', 'h', h, s.rows * s.D);
    requireDistinctBuffers('embeddingGatherSlice', { h, slice, ids });
    return this.build(ledger, label, 'gatherSlice', s.rows * s.D, s.D, 0, [[IN_A, slice], [IDS, ids], [OUT_A, h]], first);
  }

  /** act = silu(gate)·up over n values (core's swigluForward). */
  async prepareSwigluForward(
    ledger: GpuMemoryLedger, label: string, n: number, gate: GPUBuffer, up: GPUBuffer, act: GPUBuffer,
  ): Promise<Dispatch> {
    requirePositiveInts('swigluForward', { n });
    requireFloats('swigluForward', 'gate', gate, n);
    requireFloats('swigluForward', 'up', up, n);
    requireFloats('swigluForward', 'act', act, n);
    requireDistinctBuffers('swigluForward', { act, gate, up });
    return this.build(ledger, label, 'swigluForward', n, 0, 0, [[IN_A, gate], [IN_B, up], [OUT_A, act]]);
  }

  /** dGate = dAct·up·silu'(gate), dUp = dAct·silu(gate), both overwritten (core's swigluBackward). */
  async prepareSwigluBackward(
    ledger: GpuMemoryLedger, label: string, n: number,
    gate: GPUBuffer, up: GPUBuffer, dAct: GPUBuffer, dGate: GPUBuffer, dUp: GPUBuffer,
  ): Promise<Dispatch> {
    requirePositiveInts('swigluBackward', { n });
    for (const [name, b] of Object.entries({ gate, up, dAct, dGate, dUp })) requireFloats('swigluBackward', name, b, n);
    requireDistinctBuffers('swigluBackward', { dGate, dUp, gate, up, dAct });
    return this.build(ledger, label, 'swigluBackward', n, 0, 0, [[IN_A, gate], [IN_B, up], [IN_C, dAct], [OUT_A, dGate], [OUT_B, dUp]]);
  }
}
