// Runs in a test page (headless Chromium, real WebGPU): executes kernels on the GPU and the same
// op on the CPU reference engine of @fedllm/core, and returns the differences to Playwright.
import { gemmABt, SeededRandom, transpose } from '@fedllm/core';
import { createGpuContext, GpuMemoryLedger, MatmulKernels, type GpuContext, type MatmulShape, type MatmulVariant } from '../src/index';

export interface MatmulCase extends MatmulShape, MatmulVariant {
  seed: number;
}

export interface CaseResult {
  name: string;
  maxAbsErr: number;
  maxAbsRef: number;
}

function random(n: number, rng: SeededRandom): Float32Array {
  return Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
}

async function readBack(ctx: GpuContext, ledger: GpuMemoryLedger, src: GPUBuffer, n: number): Promise<Float32Array> {
  const read = ledger.createBuffer('readback', n * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const enc = ctx.device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, read, 0, n * 4);
  ctx.device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  ledger.destroy(read);
  return out;
}

function upload(ctx: GpuContext, ledger: GpuMemoryLedger, label: string, data: Float32Array, extraUsage = 0): GPUBuffer {
  const b = ledger.createBuffer(label, data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage);
  ctx.device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
  return b;
}

function compare(name: string, got: Float32Array, ref: ArrayLike<number>): CaseResult {
  let maxAbsErr = 0, maxAbsRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i] - ref[i]);
    maxAbsErr = Number.isNaN(e) ? Infinity : Math.max(maxAbsErr, e);
    maxAbsRef = Math.max(maxAbsRef, Math.abs(ref[i]));
  }
  return { name, maxAbsErr, maxAbsRef };
}

async function matmul(cases: MatmulCase[]): Promise<CaseResult[]> {
  const ctx = await createGpuContext();
  const ledger = new GpuMemoryLedger(ctx.device);
  const kernels = new MatmulKernels(ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const a = random(c.M * c.R, rng), b = random(c.R * c.N, rng), c0 = random(c.M * c.N, rng);
    // CPU reference: bring both operands to the A[M,R]·B[N,R]ᵀ layout of gemmABt.
    const aRows = c.transA ? transpose(a, c.R, c.M) : a;
    const bRows = c.transB ? b : transpose(b, c.R, c.N);
    const ref = Float32Array.from(c0);
    gemmABt(aRows, bRows, ref, c.M, c.R, c.N, c.accumulate, c.alpha ?? 1);

    const bufA = upload(ctx, ledger, 'A', a), bufB = upload(ctx, ledger, 'B', b), bufC = upload(ctx, ledger, 'C', c0);
    const uni = ledger.createBuffer('dims', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    ctx.device.queue.writeBuffer(uni, 0, MatmulKernels.uniformData(c));
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    await kernels.encode(pass, c, c, uni, bufA, bufB, bufC);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    const got = await readBack(ctx, ledger, bufC, c.M * c.N);
    out.push(compare(`M${c.M} N${c.N} R${c.R} tA${+c.transA} tB${+c.transB} acc${+c.accumulate}`, got, ref));
    for (const buf of [bufA, bufB, bufC, uni]) ledger.destroy(buf);
  }
  if (ledger.liveBytes !== 0) throw new Error(`ledger leak: ${ledger.liveBytes} bytes live after the run`);
  ctx.device.destroy();
  return out;
}

/** Ledger behaviour on a real device: budget refusal before allocation, peak tracking, sealing. */
async function ledger(): Promise<{ peak: number; live: number; budgetError: string; sealedError: string }> {
  const ctx = await createGpuContext();
  const l = new GpuMemoryLedger(ctx.device, 1000);
  const a = l.createBuffer('a.x', 400, GPUBufferUsage.STORAGE);
  const b = l.createBuffer('b.y', 398, GPUBufferUsage.STORAGE); // rounds up to 400
  let budgetError = '';
  try { l.createBuffer('c.z', 400, GPUBufferUsage.STORAGE); } catch (e) { budgetError = `${(e as Error).name}: ${(e as Error).message}`; }
  l.destroy(a);
  const peak = l.peakBytes;
  l.seal();
  let sealedError = '';
  try { l.createBuffer('d', 4, GPUBufferUsage.STORAGE); } catch (e) { sealedError = (e as Error).name; }
  l.destroy(b);
  const live = l.liveBytes;
  ctx.device.destroy();
  return { peak, live, budgetError, sealedError };
}

const harness = { matmul, ledger };
(globalThis as unknown as { kernelHarness: typeof harness }).kernelHarness = harness;
export type KernelHarness = typeof harness;
