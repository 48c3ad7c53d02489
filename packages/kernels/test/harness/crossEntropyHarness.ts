import { crossEntropy as cpuCrossEntropy, IGNORE_INDEX, SeededRandom } from '@fedllm/core';
import { CrossEntropyKernels, validateTargets } from '../../src/index';
import { compare, openGpu, randomArray, readBack, run, upload, zeros, type CaseResult, errorMessages } from './common';

export interface CrossEntropyCase {
  N: number;
  V: number;
  /** Fraction of rows whose target is −1 (1: every row ignored). */
  ignoreFrac: number;
  /** Spread of the logits (large values test the max subtraction). */
  scale: number;
  gradScale: number;
  seed: number;
}

/**
 * Per-row losses (both variants) and the in-place gradient against core's crossEntropy: the
 * per-row reference is core's function on that one row, the gradient its gradScale form on all.
 */
export async function crossEntropy(cases: CrossEntropyCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const k = new CrossEntropyKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const { N, V } = c;
    const logits = randomArray(N * V, () => rng.next(), c.scale);
    const targets = Int32Array.from({ length: N }, () => (rng.next() < c.ignoreFrac ? IGNORE_INDEX : rng.int(V)));
    if (c.ignoreFrac < 1) targets[N - 1] = V - 1; // the last class is reachable
    validateTargets(targets, V);
    const lossRef = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      lossRef[n] = cpuCrossEntropy(logits.subarray(n * V, (n + 1) * V), targets.subarray(n, n + 1), 1, V).lossSum;
    }
    const gradRef = Float32Array.from(logits);
    const total = cpuCrossEntropy(gradRef, targets, N, V, c.gradScale);
    const name = `N${N} V${V} ignored${c.ignoreFrac} scale${c.scale}`;

    const bt = upload(g, 'targets', targets);
    // Loss only: logits stay as they were.
    const bl = upload(g, 'logits', logits), bLoss = zeros(g, 'lossRows', N);
    run(g, [await k.prepareLoss(g.ledger, 'ce', { N, V }, bl, bt, bLoss)]);
    const lossRows = await readBack(g, bLoss, N);
    out.push(compare(`${name} loss`, lossRows, lossRef));
    out.push(compare(`${name} loss leaves logits`, await readBack(g, bl, N * V), logits));
    let sum = 0;
    for (const l of lossRows) sum += l;
    out.push(compare(`${name} lossSum (count ${total.count})`, [sum], [total.lossSum]));

    // Gradient: prepared with another scale, then rewritten through setGradScale.
    const bl2 = upload(g, 'logits2', logits), bLoss2 = upload(g, 'lossRows2', new Float32Array(N).fill(123));
    const d = await k.prepareLossAndGrad(g.ledger, 'ceGrad', { N, V }, 5, bl2, bt, bLoss2);
    g.ledger.seal(); // rewriting the uniform is no allocation
    d.setGradScale(c.gradScale);
    run(g, [d]);
    g.ledger.unseal();
    out.push(compare(`${name} grad-variant loss`, await readBack(g, bLoss2, N), lossRef));
    out.push(compare(`${name} grad gs${c.gradScale}`, await readBack(g, bl2, N * V), gradRef));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}

/** prepare() on undersized or aliased buffers: each entry is "<ErrorName>: <message>" (or "no error"). */
export async function crossEntropyErrors(): Promise<string[]> {
  const g = await openGpu();
  const k = new CrossEntropyKernels(g.ctx.device);
  const f = (n: number) => zeros(g, 'f', n);
  const ids = (n: number) => upload(g, 't', new Int32Array(n));
  const attempts: (() => Promise<unknown>)[] = [
    () => k.prepareLoss(g.ledger, 'e', { N: 4, V: 3 }, f(11), ids(4), f(4)),
    () => k.prepareLoss(g.ledger, 'e', { N: 4, V: 3 }, f(12), ids(3), f(4)),
    () => k.prepareLossAndGrad(g.ledger, 'e', { N: 4, V: 3 }, 0.25, f(12), ids(4), f(3)),
    () => k.prepareLossAndGrad(g.ledger, 'e', { N: 4, V: 0 }, 0.25, f(12), ids(4), f(4)),
    () => { const a = f(12); return k.prepareLossAndGrad(g.ledger, 'e', { N: 4, V: 3 }, 0.25, a, ids(4), a); },
  ];
  const out = await errorMessages(attempts);
  try { validateTargets(Int32Array.of(-1, 2, 3), 3); out.push('no error'); } catch (e) { out.push(`${(e as Error).name}: ${(e as Error).message}`); }
  g.ledger.destroyAll();
  g.close();
  return out;
}
