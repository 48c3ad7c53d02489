/**
 * Folds a LoRA adapter into the base weights: for every adapted projection,
 * W' = W + (alpha / rank) · B · A (W [out, in], B [out, r], A [r, in]), so a plain model with W'
 * computes what the base model with the adapter computes. The result is a new LlamaWeights; the
 * base weights are not changed, and tensors the adapter does not touch are shared, not copied.
 */
import { LORA_TARGET_WEIGHTS, loraScale, targetDims, type LoraAdapter } from './lora';
import type { LayerWeights, LlamaWeights } from './llamaWeights';
import type { ModelConfig } from './modelConfig';
import type { Tensor } from './tensor';

export class MergeLoraError extends Error {
  override name = 'MergeLoraError';
}

export function mergeLoraIntoWeights(cfg: ModelConfig, base: LlamaWeights, adapter: LoraAdapter): LlamaWeights {
  const scale = loraScale(adapter.config);
  const r = adapter.config.rank;
  const layers = base.layers.map((l, i): LayerWeights | undefined => {
    const lora = adapter.layers.get(i);
    if (!lora) return l;
    if (!l) throw new MergeLoraError(`the adapter has LoRA for layer ${i}, whose base weights were not loaded`);
    const out: LayerWeights = { ...l };
    for (const t of adapter.config.targets) {
      const pair = lora[t];
      if (!pair) continue;
      const field = LORA_TARGET_WEIGHTS[t][0];
      const W = l[field];
      const [fin, fout] = targetDims(cfg, t);
      if (W.shape[0] !== fout || W.shape[1] !== fin) throw new MergeLoraError(`layer ${i} ${field} has shape [${W.shape}], expected [${fout}, ${fin}]`);
      if (pair.A.shape[0] !== r || pair.A.shape[1] !== fin || pair.B.shape[0] !== fout || pair.B.shape[1] !== r) {
        throw new MergeLoraError(`layer ${i} ${t}: LoRA shapes A [${pair.A.shape}] and B [${pair.B.shape}] do not fit [${fout}, ${fin}] at rank ${r}`);
      }
      out[field] = foldPair(W, pair.A.data, pair.B.data, r, scale);
    }
    return out;
  });
  for (const i of adapter.layers.keys()) {
    if (i < 0 || i >= base.layers.length) throw new MergeLoraError(`the adapter has LoRA for layer ${i}; the model has ${base.layers.length} layers`);
  }
  return { embed: base.embed, layers, finalNorm: base.finalNorm, lmHead: base.lmHead };
}

/** W + scale · B·A, accumulated in float64 per element and rounded once to float32. */
function foldPair(W: Tensor, A: Float32Array, B: Float32Array, r: number, scale: number): Tensor {
  const [fout, fin] = W.shape;
  const data = new Float32Array(W.data.length);
  const acc = new Float64Array(fin);
  for (let o = 0; o < fout; o++) {
    acc.fill(0);
    for (let k = 0; k < r; k++) {
      const b = B[o * r + k];
      if (b === 0) continue;
      const row = k * fin;
      for (let j = 0; j < fin; j++) acc[j] += b * A[row + j];
    }
    const w = o * fin;
    for (let j = 0; j < fin; j++) data[w + j] = W.data[w + j] + scale * acc[j];
  }
  return { shape: [fout, fin], data };
}
