import { AdamW, SeededRandom } from '@fedllm/core';
import { AdamWKernels } from '../../src/index';
import { compare, openGpu, readBack, run, upload, zeros, type CaseResult, errorMessages } from './common';

export interface AdamWCase {
  n: number;
  /** Learning rate of each step (its length is the number of steps). */
  lrs: number[];
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  seed: number;
}

function randomValues(n: number, rng: SeededRandom, scale: number): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  const k = (2 * scale) / 4294967296;
  for (let i = 0; i < n; i++) a[i] = rng.nextUint32() * k - scale;
  return a;
}

/**
 * Several AdamW steps (new gradients and learning rate each step, written with
 * updateHyperparameters) against core's AdamW; compares param, m and v at the end.
 */
export async function adamw(cases: AdamWCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const k = new AdamWKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const n = c.n;
    const p0 = randomValues(n, rng, 1);
    const opts = { beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay };
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    const cpu = new AdamW([{ tensor: { shape: [n], data: Float32Array.from(p0) }, decay: true }], { lr: 0, ...defined });

    const bp = upload(g, 'param', p0), bg = zeros(g, 'grad', n), bm = zeros(g, 'm', n), bv = zeros(g, 'v', n);
    const d = await k.prepare(g.ledger, 'adamw', n, defined, { lr: 123, step: 7 }, bp, bg, bm, bv);
    g.ledger.seal(); // the step loop must not allocate
    for (let s = 0; s < c.lrs.length; s++) {
      // Gradients of varying size, some exactly zero.
      const grad = randomValues(n, rng, s % 2 ? 0.01 : 1);
      for (let i = 3; i < n; i += 7) grad[i] = 0;
      cpu.update([grad], c.lrs[s]);
      g.ctx.device.queue.writeBuffer(bg, 0, grad);
      d.updateHyperparameters({ lr: c.lrs[s], step: s + 1 });
      run(g, [d]);
    }
    g.ledger.unseal();
    const name = `n${n} steps${c.lrs.length} wd${c.weightDecay ?? 0}`;
    out.push(compare(`${name} param`, await readBack(g, bp, n), cpu.params[0].tensor.data));
    out.push(compare(`${name} m`, await readBack(g, bm, n), cpu.m[0]));
    out.push(compare(`${name} v`, await readBack(g, bv, n), cpu.v[0]));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}

/** prepare() / updateHyperparameters() on bad input: each entry is "<ErrorName>: <message>" (or "no error"). */
export async function adamwErrors(): Promise<string[]> {
  const g = await openGpu();
  const k = new AdamWKernels(g.ctx.device);
  const f = (n: number) => zeros(g, 'f', n);
  const ok = { lr: 1e-3, step: 1 };
  const attempts: (() => Promise<unknown>)[] = [
    () => k.prepare(g.ledger, 'e', 10, {}, ok, f(10), f(10), f(10), f(9)),
    () => k.prepare(g.ledger, 'e', 10, {}, ok, f(9), f(10), f(10), f(10)),
    () => k.prepare(g.ledger, 'e', 10, {}, { lr: 1e-3, step: 0 }, f(10), f(10), f(10), f(10)),
    () => k.prepare(g.ledger, 'e', 10, { beta2: 1 }, ok, f(10), f(10), f(10), f(10)),
    () => { const a = f(10); return k.prepare(g.ledger, 'e', 10, {}, ok, f(10), f(10), a, a); },
    async () => (await k.prepare(g.ledger, 'e', 10, {}, ok, f(10), f(10), f(10), f(10))).updateHyperparameters({ lr: -1, step: 2 }),
  ];
  const out = await errorMessages(attempts);
  g.ledger.destroyAll();
  g.close();
  return out;
}
