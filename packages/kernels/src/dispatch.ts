import type { GpuMemoryLedger } from './memoryLedger';

/**
 * A kernel launch prepared when a training session is built: pipeline, bind group (with its
 * uniform buffer already written) and grid. The step loop only records these, so it creates no
 * buffers and no bind groups.
 */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

export function recordDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

/** Creates and fills a uniform buffer through the ledger (it counts against the budget too). */
export function uniformBuffer(device: GPUDevice, ledger: GpuMemoryLedger, label: string, data: ArrayBuffer): GPUBuffer {
  const buf = ledger.createBuffer(label, data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  device.queue.writeBuffer(buf, 0, data);
  return buf;
}

/**
 * A byte range of a buffer bound on its own (offset a multiple of the device's
 * minStorageBufferOffsetAlignment): how a tensor larger than one binding may be worked on in
 * row chunks, each chunk a binding of its own.
 */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** A whole buffer or a slice of one, as a kernel binding. */
export type Bindable = GPUBuffer | BufferSlice;

export function isSlice(b: Bindable): b is BufferSlice {
  return 'buffer' in b && 'offset' in b;
}

export function bindableBytes(b: Bindable): number {
  return b.size;
}

export function bufferOf(b: Bindable): GPUBuffer {
  return isSlice(b) ? b.buffer : b;
}

/** The bind group resource of a whole buffer or a slice. */
export function bindingOf(b: Bindable): GPUBufferBinding {
  return isSlice(b) ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b };
}

/** Throws unless `buf` holds at least n float32 values. */
export function requireFloats(kernel: string, name: string, buf: Bindable, n: number): void {
  const bytes = bindableBytes(buf);
  if (bytes < n * 4) throw new RangeError(`${kernel}: ${name} holds ${bytes / 4} floats, needs ${n}`);
}

/** Throws unless every value is a positive integer. */
export function requirePositiveInts(kernel: string, dims: Record<string, number>): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${kernel}: ${k} must be a positive integer, got ${v}`);
  }
}

/**
 * Pipelines of one WGSL module, compiled once per set of override constants and cached
 * (shader compilation costs ~0.5 s on SwiftShader, so sessions share them).
 */
export class PipelineCache {
  private readonly module: GPUShaderModule;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();

  constructor(private readonly device: GPUDevice, private readonly label: string, code: string) {
    this.module = device.createShaderModule({ label, code });
  }

  get(entryPoint: string, constants: Record<string, number> = {}): Promise<GPUComputePipeline> {
    const key = `${entryPoint}|${Object.entries(constants).map(([k, v]) => `${k}=${v}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipelineAsync({
        label: `${this.label}.${key}`, layout: 'auto', compute: { module: this.module, entryPoint, constants },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }
}
