import { dequantizeMatrix, gemmABt, quantizeMatrix, SeededRandom, transpose } from '@fedllm/core';
import { DequantMatmulKernels, type DequantGatherShape, type DequantMatmulShape, type DequantProduct } from '../../src/index';
import { compare, openGpu, randomArray, readBack, run, upload, type CaseResult } from './common';

export interface DequantMatmulCase extends DequantMatmulShape {
  product: DequantProduct;
  accumulate: boolean;
  seed: number;
}

export interface DequantGatherCase extends DequantGatherShape {
  /** Rows of the whole table; the kernel binds rows [first, first + rows) of it. */
  vocab: number;
  seed: number;
}

/**
 * The dequantizing matmuls against the CPU: W is quantized on the CPU, and the reference is a
 * plain matmul with dequantize(W), so only the GPU's arithmetic is under test.
 */
export async function dequantMatmul(cases: DequantMatmulCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const kernels = new DequantMatmulKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const next = () => rng.next();
    // Weights with a few outliers, so rows and groups get different scales.
    const w = randomArray(c.N * c.K, next).map((x, i) => x * (i % 13 === 0 ? 4 : 0.3));
    const q = quantizeMatrix(w, c.N, c.K, c.format);
    const deq = dequantizeMatrix(q);
    const fwd = c.product === 'forward';
    const aw = fwd ? c.K : c.N, cw = fwd ? c.N : c.K, lda = c.lda ?? aw, ldc = c.ldc ?? cw;
    // Strided rows: A's and C's rows sit lda / ldc floats apart; the gaps of C must stay untouched.
    const a = randomArray((c.M - 1) * lda + aw, next), c0 = randomArray((c.M - 1) * ldc + cw, next);
    const dense = (src: Float32Array, ld: number, w: number) => Float32Array.from({ length: c.M * w }, (_, i) => src[Math.floor(i / w) * ld + (i % w)]);
    const out0 = dense(c0, ldc, cw);
    if (fwd) gemmABt(dense(a, lda, aw), deq, out0, c.M, c.K, c.N, c.accumulate);
    else gemmABt(dense(a, lda, aw), transpose(deq, c.N, c.K), out0, c.M, c.N, c.K, c.accumulate);
    const ref = Float32Array.from(c0);
    out0.forEach((v, i) => (ref[Math.floor(i / cw) * ldc + (i % cw)] = v));
    const bufA = upload(g, 'A', a), words = upload(g, 'W', q.words), scales = upload(g, 'S', q.scales), bufC = upload(g, 'C', c0);
    run(g, [await kernels.prepare(g.ledger, 'dq', c.product, c.accumulate, c, bufA, { words, scales }, bufC)]);
    out.push(compare(`${c.format} ${c.product} M${c.M} N${c.N} K${c.K} acc${+c.accumulate}${c.lda ? ` lda${c.lda}` : ''}${c.ldc ? ` ldc${c.ldc}` : ''}`, await readBack(g, bufC, c0.length), ref));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}

/**
 * The packed embedding lookup against the CPU: the table is quantized on the CPU and the
 * reference copies rows of dequantize(table); rows of ids outside the bound slice keep what the
 * output held. Exact (the kernel computes each value with one rounding, as the CPU does).
 */
export async function dequantGather(cases: DequantGatherCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const kernels = new DequantMatmulKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const next = () => rng.next();
    const table = randomArray(c.vocab * c.D, next).map((x, i) => x * (i % 11 === 0 ? 3 : 0.5));
    const q = quantizeMatrix(table.subarray(c.first * c.D, (c.first + c.rows) * c.D), c.rows, c.D, c.format);
    const deq = dequantizeMatrix(q);
    const ids = Int32Array.from({ length: c.M }, () => Math.floor(next() * 1e9) % c.vocab);
    const o0 = randomArray(c.M * c.D, next), ref = Float32Array.from(o0);
    ids.forEach((id, m) => {
      if (id >= c.first && id < c.first + c.rows) ref.set(deq.subarray((id - c.first) * c.D, (id - c.first + 1) * c.D), m * c.D);
    });
    const words = upload(g, 'W', q.words), scales = upload(g, 'S', q.scales), bufIds = upload(g, 'ids', ids), bufOut = upload(g, 'out', o0);
    run(g, [await kernels.prepareGather(g.ledger, 'gather', c, { words, scales }, bufIds, bufOut)]);
    out.push(compare(`gather ${c.format} M${c.M} D${c.D} rows ${c.first}..${c.first + c.rows - 1} of ${c.vocab}`, await readBack(g, bufOut, o0.length), ref));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}
