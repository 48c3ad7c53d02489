import { rmsNormBackward, rmsNormForward, SeededRandom } from '@fedllm/core';
import { RmsNormKernels } from '../../src/index';
import { compare, openGpu, randomArray, readBack, run, upload, zeros, type CaseResult, errorMessages } from './common';

export interface RmsNormCase {
  M: number;
  D: number;
  eps: number;
  /** Backward adds into dx instead of overwriting it. */
  accumulate: boolean;
  /** Backward also accumulates dw. */
  withDw: boolean;
  /** Spread of x (small values make eps matter). */
  scale?: number;
  seed: number;
}

/**
 * Forward (y, invRms) and backward (dx, dw) against core's rmsNormForward / rmsNormBackward.
 * The backward gets the CPU forward's invRms on both sides, so it is tested on its own.
 */
export async function rmsNorm(cases: RmsNormCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const k = new RmsNormKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const next = () => rng.next();
    const { M, D } = c;
    const name = `M${M} D${D} eps${c.eps} acc${+c.accumulate} dw${+c.withDw}`;
    const x = randomArray(M * D, next, c.scale ?? 1);
    const w = Float32Array.from(randomArray(D, next, 0.5), (v) => 1 + v);
    const dy = randomArray(M * D, next);
    const dx0 = randomArray(M * D, next), dw0 = randomArray(D, next);

    const y = new Float32Array(M * D), invRms = new Float32Array(M);
    rmsNormForward(x, w, y, invRms, M, D, c.eps);
    const dx = Float32Array.from(dx0), dw = Float32Array.from(dw0);
    rmsNormBackward(x, w, invRms, dy, dx, c.withDw ? dw : undefined, M, D, c.accumulate);

    const bx = upload(g, 'x', x), bw = upload(g, 'w', w);
    const by = zeros(g, 'y', M * D), bInv = zeros(g, 'invRms', M);
    run(g, [await k.prepareForward(g.ledger, 'fwd', { M, D }, c.eps, bx, bw, by, bInv)]);
    out.push(compare(`${name} y`, await readBack(g, by, M * D), y));
    out.push(compare(`${name} invRms`, await readBack(g, bInv, M), invRms));

    const bdx = upload(g, 'dx', dx0), bdw = upload(g, 'dw', dw0);
    const bwd = await k.prepareBackward(g.ledger, 'bwd', { M, D }, c.accumulate, {
      x: bx, w: bw, invRms: upload(g, 'invRmsCpu', invRms), dy: upload(g, 'dy', dy), dx: bdx, dw: c.withDw ? bdw : undefined,
    });
    if (bwd.length !== (c.withDw ? 2 : 1)) throw new Error(`rmsNorm backward: ${bwd.length} dispatches`);
    run(g, bwd);
    out.push(compare(`${name} dx`, await readBack(g, bdx, M * D), dx));
    // Without dw, dw must be left as it was.
    out.push(compare(`${name} dw`, await readBack(g, bdw, D), dw));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}

/** prepare() on undersized or aliased buffers: each entry is "<ErrorName>: <message>" (or "no error"). */
export async function rmsNormErrors(): Promise<string[]> {
  const g = await openGpu();
  const k = new RmsNormKernels(g.ctx.device);
  const f = (n: number) => zeros(g, 'f', n);
  const attempts: (() => Promise<unknown>)[] = [
    () => k.prepareForward(g.ledger, 'e', { M: 3, D: 5 }, 1e-5, f(15), f(5), f(15), f(2)),
    () => k.prepareForward(g.ledger, 'e', { M: 3, D: 5 }, 1e-5, f(14), f(5), f(15), f(3)),
    () => k.prepareForward(g.ledger, 'e', { M: 3, D: 0 }, 1e-5, f(15), f(5), f(15), f(3)),
    () => k.prepareBackward(g.ledger, 'e', { M: 3, D: 5 }, false, { x: f(15), w: f(5), invRms: f(3), dy: f(15), dx: f(15), dw: f(4) }),
    () => k.prepareBackward(g.ledger, 'e', { M: 3, D: 5 }, true, { x: f(15), w: f(4), invRms: f(3), dy: f(15), dx: f(15) }),
    () => { const a = f(15); return k.prepareBackward(g.ledger, 'e', { M: 3, D: 5 }, true, { x: f(15), w: f(5), invRms: f(3), dy: a, dx: a }); },
  ];
  const out = await errorMessages(attempts);
  g.ledger.destroyAll();
  g.close();
  return out;
}
