/**
 * The architecture description the engines run: one type for every supported Llama-family
 * variant (Llama, Mistral, Qwen2). Parsed from a Hugging Face config.json by parseHfConfig.
 */
export interface ModelConfig {
  /** HF architecture string it was parsed from, e.g. "LlamaForCausalLM". */
  architecture: 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2). */
  attentionBias: boolean;
  /** o_proj carries a bias (Llama's attention_bias=true applies to all four projections). */
  oProjBias: boolean;
  /** MLP projections carry a bias (Llama's mlp_bias). */
  mlpBias: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  ropeScaling?: RopeScaling;
  /** Mistral-style sliding-window attention: a token sees at most this many previous positions. */
  slidingWindow?: number;
}

/** RoPE frequency scaling as in HF `rope_scaling` (null/absent means none). */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

