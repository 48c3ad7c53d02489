// Helpers shared by the kernel harnesses (they run in the test page, on real WebGPU).
import { createGpuContext, GpuMemoryLedger, type GpuContext } from '../../src/index';

export interface CaseResult {
  name: string;
  maxAbsErr: number;
  maxAbsRef: number;
}

export interface HarnessGpu {
  ctx: GpuContext;
  ledger: GpuMemoryLedger;
}

/** A device and an unbudgeted ledger for one harness call; `close` checks nothing leaked. */
export async function openGpu(): Promise<HarnessGpu & { close(): void }> {
  const ctx = await createGpuContext();
  const ledger = new GpuMemoryLedger(ctx.device);
  return {
    ctx, ledger,
    close() {
      const leaked = ledger.liveBytes;
      ledger.destroyAll();
      ctx.device.destroy();
      if (leaked !== 0) throw new Error(`harness leak: ${leaked} bytes still live`);
    },
  };
}

export function upload(g: HarnessGpu, label: string, data: Float32Array | Int32Array | Uint32Array): GPUBuffer {
  const b = g.ledger.createBuffer(label, data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
  g.ctx.device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
  return b;
}

export function zeros(g: HarnessGpu, label: string, n: number): GPUBuffer {
  return upload(g, label, new Float32Array(n));
}

export async function readBack(g: HarnessGpu, src: GPUBuffer, n: number): Promise<Float32Array> {
  const read = g.ledger.createBuffer('readback', n * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const enc = g.ctx.device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, read, 0, n * 4);
  g.ctx.device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  g.ledger.destroy(read);
  return out;
}

/** Records the dispatches in one compute pass and submits them. */
export function run(g: HarnessGpu, dispatches: import('../../src/index').Dispatch[]): void {
  const enc = g.ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(...d.workgroups);
  }
  pass.end();
  g.ctx.device.queue.submit([enc.finish()]);
}

export function compare(name: string, got: ArrayLike<number>, ref: ArrayLike<number>): CaseResult {
  let maxAbsErr = 0, maxAbsRef = 0;
  if (got.length < ref.length) return { name: `${name} (got ${got.length} values, expected ${ref.length})`, maxAbsErr: Infinity, maxAbsRef: 0 };
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i] - ref[i]);
    maxAbsErr = Number.isNaN(e) ? Infinity : Math.max(maxAbsErr, e);
    maxAbsRef = Math.max(maxAbsRef, Math.abs(ref[i]));
  }
  return { name, maxAbsErr, maxAbsRef };
}

export function randomArray(n: number, next: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (next() * 2 - 1) * scale);
}

/** Runs each attempt and reports "<ErrorName>: <message>" for it, or "no error". */
export async function errorMessages(attempts: (() => unknown)[]): Promise<string[]> {
  const out: string[] = [];
  for (const attempt of attempts) {
    try {
      await attempt();
      out.push('no error');
    } catch (e) {
      out.push(`${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  return out;
}
