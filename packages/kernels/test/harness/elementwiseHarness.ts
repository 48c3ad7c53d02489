import { SeededRandom, swigluBackward, swigluForward } from '@fedllm/core';
import { ElementwiseKernels, validateTokenIds } from '../../src/index';
import { compare, openGpu, readBack, run, upload, zeros, type CaseResult, errorMessages } from './common';

export type ElementwiseOp = 'add' | 'copy' | 'fill' | 'axpy' | 'gather' | 'swigluForward' | 'swigluBackward';

export interface ElementwiseCase {
  op: ElementwiseOp;
  /** Element count (gather: number of gathered rows). */
  n: number;
  /** gather: row width and table rows. */
  D?: number;
  vocab?: number;
  /** fill: the value; axpy: alpha. */
  scalar?: number;
  /** Spread of the random inputs (swiglu: covers both saturated ends of the sigmoid). */
  scale?: number;
  seed: number;
}

/** Uniform values in [-scale, scale): a plain loop, as the large cases hold millions of values. */
function randomValues(n: number, rng: SeededRandom, scale: number): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  const k = (2 * scale) / 4294967296;
  for (let i = 0; i < n; i++) a[i] = rng.nextUint32() * k - scale;
  return a;
}

function map2(a: Float32Array, b: Float32Array, f: (x: number, y: number) => number): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = f(a[i], b[i]);
  return o;
}

/** Runs each case on the GPU and through the CPU reference (core's swiglu; plain loops otherwise). */
export async function elementwise(cases: ElementwiseCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const k = new ElementwiseKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const n = c.n, name = `${c.op} n${n}${c.D ? ` D${c.D} vocab${c.vocab}` : ''}`;
    const scalar = c.scalar ?? 0.75;
    const rand = (len: number) => randomValues(len, rng, c.scale ?? 1);
    switch (c.op) {
      case 'add': {
        const a = rand(n), b = rand(n);
        const ref = map2(a, b, (x, y) => x + y);
        const o = zeros(g, 'out', n);
        run(g, [await k.prepareAdd(g.ledger, 'add', n, upload(g, 'a', a), upload(g, 'b', b), o)]);
        out.push(compare(name, await readBack(g, o, n), ref));
        break;
      }
      case 'copy': {
        const a = rand(n);
        const o = zeros(g, 'out', n);
        run(g, [await k.prepareCopy(g.ledger, 'copy', n, upload(g, 'a', a), o)]);
        out.push(compare(name, await readBack(g, o, n), a));
        break;
      }
      case 'fill': {
        // One extra value past n must stay untouched.
        const init = rand(n + 1);
        const ref = Float32Array.from(init);
        ref.fill(scalar, 0, n);
        const o = upload(g, 'out', init);
        run(g, [await k.prepareFill(g.ledger, 'fill', n, scalar, o)]);
        out.push(compare(name, await readBack(g, o, n + 1), ref));
        break;
      }
      case 'axpy': {
        const x = rand(n), y = rand(n);
        const ref = map2(y, x, (yv, xv) => yv + scalar * xv);
        const o = upload(g, 'y', y);
        run(g, [await k.prepareScaleAccumulate(g.ledger, 'axpy', n, scalar, upload(g, 'x', x), o)]);
        out.push(compare(`${name} alpha${scalar}`, await readBack(g, o, n), ref));
        break;
      }
      case 'gather': {
        const D = c.D ?? 1, vocab = c.vocab ?? 1;
        const table = rand(vocab * D);
        const ids = Int32Array.from({ length: n }, () => rng.int(vocab));
        ids[0] = vocab - 1; // the last table row is reachable
        validateTokenIds(ids, vocab);
        // As LlamaModel's embedding lookup.
        const ref = new Float32Array(n * D);
        for (let i = 0; i < n; i++) for (let j = 0; j < D; j++) ref[i * D + j] = table[ids[i] * D + j];
        const o = zeros(g, 'h', n * D);
        run(g, [await k.prepareEmbeddingGather(g.ledger, 'gather', { rows: n, D, vocab }, upload(g, 'table', table), upload(g, 'ids', ids), o)]);
        out.push(compare(name, await readBack(g, o, n * D), ref));
        break;
      }
      case 'swigluForward': {
        const gate = rand(n), up = rand(n);
        const ref = new Float32Array(n);
        swigluForward(gate, up, ref, n);
        const o = zeros(g, 'act', n);
        run(g, [await k.prepareSwigluForward(g.ledger, 'swiglu', n, upload(g, 'gate', gate), upload(g, 'up', up), o)]);
        out.push(compare(name, await readBack(g, o, n), ref));
        break;
      }
      case 'swigluBackward': {
        const gate = rand(n), up = rand(n), dAct = randomValues(n, rng, 1);
        const refGate = new Float32Array(n), refUp = new Float32Array(n);
        swigluBackward(gate, up, dAct, refGate, refUp, n);
        const dGate = zeros(g, 'dGate', n), dUp = zeros(g, 'dUp', n);
        run(g, [await k.prepareSwigluBackward(
          g.ledger, 'swigluB', n, upload(g, 'gate', gate), upload(g, 'up', up), upload(g, 'dAct', dAct), dGate, dUp,
        )]);
        out.push(compare(`${name} dGate`, await readBack(g, dGate, n), refGate));
        out.push(compare(`${name} dUp`, await readBack(g, dUp, n), refUp));
        break;
      }
    }
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}

/** prepare() on undersized or aliased buffers: each entry is "<ErrorName>: <message>" (or "no error"). */
export async function elementwiseErrors(): Promise<string[]> {
  const g = await openGpu();
  const k = new ElementwiseKernels(g.ctx.device);
  const f = (n: number) => zeros(g, 'f', n);
  const ids = upload(g, 'ids', new Int32Array(5));
  const attempts: (() => Promise<unknown>)[] = [
    () => k.prepareAdd(g.ledger, 'x', 100, f(100), f(100), f(99)),
    () => k.prepareCopy(g.ledger, 'x', 10, f(9), f(10)),
    () => k.prepareFill(g.ledger, 'x', 0, 1, f(10)),
    () => k.prepareScaleAccumulate(g.ledger, 'x', 8, 1, f(8), f(7)),
    () => k.prepareEmbeddingGather(g.ledger, 'x', { rows: 6, D: 4, vocab: 3 }, f(12), ids, f(24)),
    () => k.prepareEmbeddingGather(g.ledger, 'x', { rows: 5, D: 4, vocab: 3 }, f(11), ids, f(20)),
    () => k.prepareSwigluBackward(g.ledger, 'x', 16, f(16), f(16), f(16), f(16), f(15)),
    () => { const a = f(4); return k.prepareAdd(g.ledger, 'x', 4, a, f(4), a); },
    () => { const a = f(4), b = f(4); return k.prepareSwigluBackward(g.ledger, 'x', 4, a, b, f(4), b, f(4)); },
  ];
  const out = await errorMessages(attempts);
  try { validateTokenIds(Int32Array.of(0, 2, 3), 3); out.push('no error'); } catch (e) { out.push(`${(e as Error).name}: ${(e as Error).message}`); }
  g.ledger.destroyAll();
  g.close();
  return out;
}
