/**
 * Functional similarity of decoder layers: linear CKA between the residual stream leaving each
 * layer, on calibration batches, measured once by the coordinator with the CPU engine (so no tab
 * has to run the full model: the reviewers' objection to FedPruner's client-side similarity).
 */
import type { LlamaModel, TokenBatch } from '../../engine/llamaModel';
import { linearCkaMatrix } from '../linearCka';

/** L×L CKA of the layer outputs over at most `maxTokens` token positions of the batches. */
export function layerOutputCka(model: LlamaModel, batches: readonly TokenBatch[], maxTokens = 1024): number[][] {
  if (batches.length === 0) throw new Error('layer similarity needs at least one calibration batch');
  const H = model.config.hiddenSize, L = model.config.numLayers;
  const outs: Float32Array[] = Array.from({ length: L }, () => new Float32Array(maxTokens * H));
  let n = 0;
  for (const b of batches) {
    if (n >= maxTokens) break;
    const hs = model.hiddenStates(b);
    const take = Math.min(b.B * b.T, maxTokens - n);
    for (let l = 0; l < L; l++) outs[l].set(hs[l + 1].subarray(0, take * H), n * H);
    n += take;
  }
  return linearCkaMatrix(outs.map((o) => o.subarray(0, n * H)), n, H);
}
