import { applyRope, buildRopeTables, SeededRandom, type ModelConfig, type RopeScaling } from '@fedllm/core';
import { RopeKernels } from '../../src/index';
import { compare, openGpu, randomArray, readBack, run, upload, zeros, type CaseResult, errorMessages } from './common';

export interface RopeCase {
  B: number;
  T: number;
  nHeads: number;
  headDim: number;
  /** Table rows (>= T). */
  maxPos: number;
  inverse: boolean;
  ropeTheta?: number;
  ropeScaling?: RopeScaling;
  seed: number;
}

/** Just what buildRopeTables reads; the rest is a plausible small Llama. */
function ropeConfig(c: RopeCase): ModelConfig {
  return {
    architecture: 'LlamaForCausalLM', vocabSize: 32, hiddenSize: c.nHeads * c.headDim, intermediateSize: 4, numLayers: 1,
    numHeads: c.nHeads, numKvHeads: c.nHeads, headDim: c.headDim, maxPositionEmbeddings: c.maxPos,
    ropeTheta: c.ropeTheta ?? 10000, rmsNormEps: 1e-5, tieWordEmbeddings: false, attentionBias: false, oProjBias: false,
    mlpBias: false, ropeScaling: c.ropeScaling,
  };
}

/** In-place rotation (forward or inverse) against core's applyRope on the same tables. */
export async function rope(cases: RopeCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const k = new RopeKernels(g.ctx.device);
  const out: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const tables = buildRopeTables(ropeConfig(c), c.maxPos);
    const n = c.B * c.T * c.nHeads * c.headDim;
    const x = randomArray(n, () => rng.next(), 2);
    const ref = Float32Array.from(x);
    applyRope(ref, tables, c.B, c.T, c.nHeads, c.inverse);
    const bx = upload(g, 'x', x);
    const bt = k.uploadTables(g.ledger, 'rope', tables);
    run(g, [await k.prepare(g.ledger, 'rope', { B: c.B, T: c.T, nHeads: c.nHeads }, c.inverse, bx, bt)]);
    const name = `B${c.B} T${c.T} heads${c.nHeads} hd${c.headDim} maxPos${c.maxPos} inv${+c.inverse}${c.ropeScaling ? ` ${c.ropeScaling.type}` : ''}`;
    out.push(compare(name, await readBack(g, bx, n), ref));
    g.ledger.destroyAll();
  }
  g.close();
  return out;
}

/** Forward then inverse on the GPU returns the input (to float32 rounding). */
export async function ropeRoundTrip(c: RopeCase): Promise<CaseResult> {
  const g = await openGpu();
  const k = new RopeKernels(g.ctx.device);
  const rng = new SeededRandom(c.seed);
  const n = c.B * c.T * c.nHeads * c.headDim;
  const x = randomArray(n, () => rng.next());
  const bx = upload(g, 'x', x);
  const bt = k.uploadTables(g.ledger, 'rope', buildRopeTables(ropeConfig(c), c.maxPos));
  const s = { B: c.B, T: c.T, nHeads: c.nHeads };
  run(g, [await k.prepare(g.ledger, 'fwd', s, false, bx, bt), await k.prepare(g.ledger, 'inv', s, true, bx, bt)]);
  const r = compare('rope forward then inverse', await readBack(g, bx, n), x);
  g.ledger.destroyAll();
  g.close();
  return r;
}

/** prepare() on undersized buffers or bad shapes: each entry is "<ErrorName>: <message>" (or "no error"). */
export async function ropeErrors(): Promise<string[]> {
  const g = await openGpu();
  const k = new RopeKernels(g.ctx.device);
  const base: RopeCase = { B: 2, T: 4, nHeads: 3, headDim: 8, maxPos: 6, inverse: false, seed: 1 };
  const tables = k.uploadTables(g.ledger, 't', buildRopeTables(ropeConfig(base), base.maxPos));
  const s = { B: 2, T: 4, nHeads: 3 };
  const attempts: (() => Promise<unknown>)[] = [
    () => k.prepare(g.ledger, 'e', s, false, zeros(g, 'x', 2 * 4 * 3 * 8 - 1), tables),
    () => k.prepare(g.ledger, 'e', { ...s, T: 7 }, false, zeros(g, 'x', 2 * 7 * 3 * 8), tables),
    () => k.prepare(g.ledger, 'e', s, true, zeros(g, 'x', 2 * 4 * 3 * 8), { ...tables, sin: zeros(g, 'sin', 6 * 4 - 1) }),
    () => k.prepare(g.ledger, 'e', s, true, zeros(g, 'x', 2 * 4 * 3 * 8), { ...tables, headDim: 7 }),
  ];
  const out = await errorMessages(attempts);
  g.ledger.destroyAll();
  g.close();
  return out;
}
