import type { Tensor } from './tensor';

/**
 * Base weights of one decoder layer. Linear weights are [out, in], as in HF. Generic over the
 * tensor type so the CPU engine can run the same weights in float64.
 */
export interface LayerWeights<T extends { shape: number[] } = Tensor> {
  inputNorm: T; // [hidden]
  qProj: T; // [numHeads*headDim, hidden]
  kProj: T; // [numKvHeads*headDim, hidden]
  vProj: T; // [numKvHeads*headDim, hidden]
  oProj: T; // [hidden, numHeads*headDim]
  qBias?: T;
  kBias?: T;
  vBias?: T;
  oBias?: T;
  postNorm: T; // [hidden]
  gateProj: T; // [intermediate, hidden]
  upProj: T; // [intermediate, hidden]
  downProj: T; // [hidden, intermediate]
  gateBias?: T;
  upBias?: T;
  downBias?: T;
}

/**
 * All weights of a Llama-family causal LM. `layers[i]` may be undefined when a submodel
 * was loaded with only some layers present (the plan decides which).
 * With tied embeddings `lmHead` is the same object as `embed`.
 */
export interface LlamaWeights<T extends { shape: number[] } = Tensor> {
  embed: T; // [vocab, hidden]
  layers: (LayerWeights<T> | undefined)[];
  finalNorm: T; // [hidden]
  lmHead: T; // [vocab, hidden]
}

/**
 * Applies f to every tensor of the weights, keeping the structure, absent layers and optional
 * biases, and a tied head tied (f runs once for the embedding and the result is shared).
 */
export function mapWeightTensors<T extends { shape: number[] }, U extends { shape: number[] }>(
  w: LlamaWeights<T>, f: (t: T) => U,
): LlamaWeights<U> {
  const embed = f(w.embed);
  const layers = w.layers.map((l) => {
    if (!l) return undefined;
    const out: Record<string, U> = {};
    for (const [k, v] of Object.entries(l) as [string, T | undefined][]) if (v) out[k] = f(v);
    return out as unknown as LayerWeights<U>;
  });
  return { embed, layers, finalNorm: f(w.finalNorm), lmHead: w.lmHead === w.embed ? embed : f(w.lmHead) };
}
