import { gemmABt, SeededRandom, transpose } from '@fedllm/core';
import { GpuMemoryLedger, MatmulKernels, createGpuContext, type MatmulShape, type MatmulVariant } from '../../src/index';
import { compare, openGpu, randomArray, readBack, run, upload, type CaseResult } from './common';

export interface MatmulCase extends MatmulShape, MatmulVariant {
  seed: number;
}

export async function matmul(cases: MatmulCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const kernels = new MatmulKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const next = () => rng.next();
    const a = randomArray(c.M * c.R, next), b = randomArray(c.R * c.N, next), c0 = randomArray(c.M * c.N, next);
    // CPU reference: bring both operands to the A[M,R]·B[N,R]ᵀ layout of gemmABt.
    const aRows = c.transA ? transpose(a, c.R, c.M) : a;
    const bRows = c.transB ? b : transpose(b, c.R, c.N);
    const ref = Float32Array.from(c0);
    gemmABt(aRows, bRows, ref, c.M, c.R, c.N, c.accumulate, c.alpha ?? 1);
    const bufA = upload(g, 'A', a), bufB = upload(g, 'B', b), bufC = upload(g, 'C', c0);
    run(g, [await kernels.prepare(g.ledger, 'mm', c, c, bufA, bufB, bufC)]);
    out.push(compare(`M${c.M} N${c.N} R${c.R} tA${+c.transA} tB${+c.transB} acc${+c.accumulate}`, await readBack(g, bufC, c.M * c.N), ref));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}

/** Ledger behaviour on a real device: budget refusal before allocation, peak tracking, sealing. */
export async function ledger(): Promise<{ peak: number; live: number; budgetError: string; sealedError: string }> {
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

/**
 * Row strides: A is the first columns of a wider matrix (lda > its width) and C the first N
 * columns of one ldc wide, as when a weight split into row slices writes its columns of the
 * output. The columns of C past N must come back untouched.
 */
export async function matmulStrided(cases: (MatmulCase & { lda: number; ldc: number })[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const kernels = new MatmulKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const next = () => rng.next();
    const aRowsStored = c.transA ? c.R : c.M, aCols = c.transA ? c.M : c.R;
    const aWide = randomArray(aRowsStored * c.lda, next), b = randomArray(c.R * c.N, next), cWide = randomArray(c.M * c.ldc, next);
    const a = new Float32Array(aRowsStored * aCols);
    for (let i = 0; i < aRowsStored; i++) a.set(aWide.subarray(i * c.lda, i * c.lda + aCols), i * aCols);
    const c0 = new Float32Array(c.M * c.N);
    for (let i = 0; i < c.M; i++) c0.set(cWide.subarray(i * c.ldc, i * c.ldc + c.N), i * c.N);
    const aRows = c.transA ? transpose(a, c.R, c.M) : a;
    const bRows = c.transB ? b : transpose(b, c.R, c.N);
    const sub = Float32Array.from(c0);
    gemmABt(aRows, bRows, sub, c.M, c.R, c.N, c.accumulate, c.alpha ?? 1);
    const ref = Float32Array.from(cWide);
    for (let i = 0; i < c.M; i++) ref.set(sub.subarray(i * c.N, (i + 1) * c.N), i * c.ldc);
    const bufA = upload(g, 'A', aWide), bufB = upload(g, 'B', b), bufC = upload(g, 'C', cWide);
    run(g, [await kernels.prepare(g.ledger, 'mm', c, c, bufA, bufB, bufC)]);
    out.push(compare(`M${c.M} N${c.N} R${c.R} lda${c.lda} ldc${c.ldc} tA${+c.transA} tB${+c.transB} acc${+c.accumulate}`, await readBack(g, bufC, c.M * c.ldc), ref));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}
