import { attentionBackward, attentionForward, SeededRandom } from '@fedllm/core';
import { AttentionKernels, attentionProbsFloats, attentionScratchFloats, type AttentionKernelShape, type Dispatch } from '../../src/index';
import { compare, openGpu, randomArray, readBack, run, upload, zeros, type CaseResult } from './common';

export interface AttentionCase extends AttentionKernelShape {
  seed: number;
}

/**
 * Forward then backward on the GPU (the backward consuming the GPU forward's out and probs) against
 * the CPU engine on the same seeded inputs. Outputs start filled with garbage, so entries the
 * kernels fail to write (the zeros of probs, the overwritten gradients) show up as errors.
 */
export async function attention(cases: AttentionCase[]): Promise<CaseResult[]> {
  const g = await openGpu();
  const kernels = new AttentionKernels(g.ctx.device);
  const results: CaseResult[] = [];
  for (const c of cases) {
    const rng = new SeededRandom(c.seed);
    const next = () => rng.next();
    const qN = c.B * c.T * c.nHeads * c.headDim, kvN = c.B * c.T * c.nKvHeads * c.headDim, pN = attentionProbsFloats(c);
    const q = randomArray(qN, next), k = randomArray(kvN, next), v = randomArray(kvN, next), dOut = randomArray(qN, next);

    const out = new Float32Array(qN);
    const probs = attentionForward(q, k, v, out, c);
    const dq = new Float32Array(qN), dk = new Float32Array(kvN), dv = new Float32Array(kvN);
    attentionBackward(q, k, v, probs, dOut, dq, dk, dv, c);

    const bq = upload(g, 'q', q), bk = upload(g, 'k', k), bv = upload(g, 'v', v), bdOut = upload(g, 'dOut', dOut);
    const garbage = (n: number) => randomArray(n, next, 3);
    const bOut = upload(g, 'out', garbage(qN)), bProbs = upload(g, 'probs', garbage(pN));
    const bdq = upload(g, 'dq', garbage(qN)), bdk = upload(g, 'dk', garbage(kvN)), bdv = upload(g, 'dv', garbage(kvN));
    const scratch = upload(g, 'scratch', garbage(attentionScratchFloats(c).backward));
    const fwd = await kernels.prepareForward(g.ledger, 'attn', c, { q: bq, k: bk, v: bv, out: bOut, probs: bProbs });
    const bwd = await kernels.prepareBackward(g.ledger, 'attn', c, {
      q: bq, k: bk, v: bv, out: bOut, probs: bProbs, dOut: bdOut, dq: bdq, dk: bdk, dv: bdv, scratch,
    });
    run(g, [...fwd, ...bwd]);

    const name = `B${c.B} T${c.T} H${c.nHeads}/${c.nKvHeads} hd${c.headDim}${c.window ? ` w${c.window}` : ''}`;
    results.push(
      compare(`${name} out`, await readBack(g, bOut, qN), out),
      compare(`${name} probs`, await readBack(g, bProbs, pN), probs),
      compare(`${name} dq`, await readBack(g, bdq, qN), dq),
      compare(`${name} dk`, await readBack(g, bdk, kvN), dk),
      compare(`${name} dv`, await readBack(g, bdv, kvN), dv),
    );
    g.ledger.destroyAll();
  }
  g.close();
  return results;
}

/** The errors (name: message) prepare calls throw for invalid shapes and buffers. */
export async function attentionErrors(): Promise<Record<string, string>> {
  const g = await openGpu();
  const kernels = new AttentionKernels(g.ctx.device);
  const s: AttentionKernelShape = { B: 2, T: 5, nHeads: 4, nKvHeads: 2, headDim: 8 };
  const qN = 2 * 5 * 4 * 8, kvN = 2 * 5 * 2 * 8;
  const q = zeros(g, 'q', qN), k = zeros(g, 'k', kvN), v = zeros(g, 'v', kvN), out = zeros(g, 'out', qN);
  const probs = zeros(g, 'probs', attentionProbsFloats(s)), dOut = zeros(g, 'dOut', qN);
  const dq = zeros(g, 'dq', qN), dk = zeros(g, 'dk', kvN), dv = zeros(g, 'dv', kvN);
  const scratch = zeros(g, 'scratch', attentionScratchFloats(s).backward);
  const small = zeros(g, 'small', kvN - 1), tiny = zeros(g, 'tiny', 39);
  const bwd = { q, k, v, out, probs, dOut, dq, dk, dv, scratch };
  const attempts: Record<string, () => Promise<unknown>> = {
    undersizedK: () => kernels.prepareForward(g.ledger, 'e', s, { q, k: small, v, out, probs }),
    undersizedProbs: () => kernels.prepareForward(g.ledger, 'e', s, { q, k, v, out, probs: small }),
    undersizedScratch: () => kernels.prepareBackward(g.ledger, 'e', s, { ...bwd, scratch: tiny }),
    indivisibleHeads: () => kernels.prepareForward(g.ledger, 'e', { ...s, nKvHeads: 3 }, { q, k, v, out, probs }),
    indivisibleHeadsBackward: () => kernels.prepareBackward(g.ledger, 'e', { ...s, nHeads: 3 }, bwd),
    headDimTooLarge: () => kernels.prepareForward(g.ledger, 'e', { ...s, headDim: 257 }, { q, k, v, out, probs }),
    aliasedOutput: () => kernels.prepareBackward(g.ledger, 'e', s, { ...bwd, dk: dv }),
  };
  const errors: Record<string, string> = {};
  for (const [key, attempt] of Object.entries(attempts)) {
    try {
      await attempt();
      errors[key] = 'no error';
    } catch (e) {
      errors[key] = `${(e as Error).name}: ${(e as Error).message}`;
    }
  }
  const uniformsLeft = g.ledger.breakdown().find((x) => x.group === 'uniform');
  if (uniformsLeft) errors.uniformAllocated = `${uniformsLeft.bytes} bytes`;
  g.ledger.destroyAll();
  g.close();
  return errors;
}

/** Wall time (ms, mean and best of `iters` after a warm-up) of forward, backward and both, each submitted alone and awaited. */
export async function attentionTiming(s: AttentionKernelShape, iters: number): Promise<Record<'forward' | 'backward' | 'total', { meanMs: number; minMs: number }>> {
  const g = await openGpu();
  const kernels = new AttentionKernels(g.ctx.device);
  const rng = new SeededRandom(7);
  const next = () => rng.next();
  const qN = s.B * s.T * s.nHeads * s.headDim, kvN = s.B * s.T * s.nKvHeads * s.headDim;
  const q = upload(g, 'q', randomArray(qN, next)), k = upload(g, 'k', randomArray(kvN, next)), v = upload(g, 'v', randomArray(kvN, next));
  const dOut = upload(g, 'dOut', randomArray(qN, next)), out = zeros(g, 'out', qN), probs = zeros(g, 'probs', attentionProbsFloats(s));
  const dq = zeros(g, 'dq', qN), dk = zeros(g, 'dk', kvN), dv = zeros(g, 'dv', kvN), scratch = zeros(g, 'scratch', attentionScratchFloats(s).backward);
  const fwd = await kernels.prepareForward(g.ledger, 'fwd', s, { q, k, v, out, probs });
  const bwd = await kernels.prepareBackward(g.ledger, 'bwd', s, { q, k, v, out, probs, dOut, dq, dk, dv, scratch });
  const time = async (d: Dispatch[]): Promise<{ meanMs: number; minMs: number }> => {
    run(g, d);
    await g.ctx.device.queue.onSubmittedWorkDone(); // warm-up
    let total = 0, minMs = Infinity;
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now();
      run(g, d);
      await g.ctx.device.queue.onSubmittedWorkDone();
      const ms = performance.now() - t0;
      total += ms;
      minMs = Math.min(minMs, ms);
    }
    return { meanMs: total / iters, minMs };
  };
  const forward = await time(fwd), backward = await time(bwd), total = await time([...fwd, ...bwd]);
  g.ledger.destroyAll();
  g.close();
  return { forward, backward, total };
}
