import { dequantizeMatrix, gemmABt, quantizeMatrix, SeededRandom, transpose } from '@fedllm/core';
import { DequantMatmulKernels, type DequantMatmulShape, type DequantProduct } from '../../src/index';
import { compare, openGpu, randomArray, readBack, run, upload, type CaseResult } from './common';

export interface DequantMatmulCase extends DequantMatmulShape {
  product: DequantProduct;
  accumulate: boolean;
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
    const a = randomArray(c.M * (fwd ? c.K : c.N), next), c0 = randomArray(c.M * (fwd ? c.N : c.K), next);
    const ref = Float32Array.from(c0);
    if (fwd) gemmABt(a, deq, ref, c.M, c.K, c.N, c.accumulate);
    else gemmABt(a, transpose(deq, c.N, c.K), ref, c.M, c.N, c.K, c.accumulate);
    const bufA = upload(g, 'A', a), words = upload(g, 'W', q.words), scales = upload(g, 'S', q.scales), bufC = upload(g, 'C', c0);
    run(g, [await kernels.prepare(g.ledger, 'dq', c.product, c.accumulate, c, bufA, { words, scales }, bufC)]);
    out.push(compare(`${c.format} ${c.product} M${c.M} N${c.N} K${c.K} acc${+c.accumulate}`, await readBack(g, bufC, c0.length), ref));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}
