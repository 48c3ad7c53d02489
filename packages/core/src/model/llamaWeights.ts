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
