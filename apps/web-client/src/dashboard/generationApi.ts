/** What the dashboard's text-generation worker offers (comlink). */

export interface GenerationModelFiles {
  configUrl: string;
  tokenizerUrl: string;
  partUrls: string[];
}

export interface GenerationOptions {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  seed: number;
}

export interface GenerationWorkerApi {
  /** Downloads and builds the base model on the CPU engine; returns the bytes fetched. */
  loadModel(files: GenerationModelFiles): Promise<{ bytes: number; numLayers: number }>;
  /** The PEFT adapter to generate with (adapter_config.json text and adapter_model.safetensors), or none. */
  setAdapter(adapter: { configJson: string; weights: Uint8Array } | null): Promise<{ layers: number; rank: number } | null>;
  generate(prompt: string, o: GenerationOptions): Promise<{ text: string; tokens: number; ms: number }>;
}
