/**
 * The "try it" worker: the CPU reference engine of @fedllm/core, off the page's main thread. It
 * fetches the coordinator's base model (config, tokenizer, the safetensors parts of every layer),
 * takes a PEFT adapter from the page (which fetched it with the admin token), and continues prompts.
 */
import * as Comlink from 'comlink';
import {
  generateTokens, LlamaModel, loraFromPeft, parseHfConfig, parseSafetensors, SeededRandom, TextTokenizer, weightsFromHfTensors,
  type LoraAdapter, type ModelConfig, type Tensor,
} from '@fedllm/core';
import type { GenerationModelFiles, GenerationOptions, GenerationWorkerApi } from './generationApi';

let loaded: { model: LlamaModel; tokenizer: TextTokenizer; config: ModelConfig } | undefined;
let adapter: LoraAdapter | undefined;

async function get(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res;
}

const api: GenerationWorkerApi = {
  async loadModel(files: GenerationModelFiles) {
    const configText = await (await get(files.configUrl)).text();
    const tokenizerText = await (await get(files.tokenizerUrl)).text();
    const config = parseHfConfig(JSON.parse(configText));
    const tensors = new Map<string, Tensor>();
    let bytes = configText.length + tokenizerText.length;
    for (const url of files.partUrls) {
      const part = new Uint8Array(await (await get(url)).arrayBuffer());
      bytes += part.byteLength;
      for (const [name, t] of parseSafetensors(part)) tensors.set(name, t);
    }
    const weights = weightsFromHfTensors(config, tensors);
    loaded = { model: new LlamaModel(config, weights), tokenizer: new TextTokenizer(JSON.parse(tokenizerText)), config };
    adapter = undefined;
    return { bytes, numLayers: config.numLayers };
  },

  async setAdapter(a) {
    if (!loaded) throw new Error('load the model first');
    adapter = a ? loraFromPeft(JSON.parse(a.configJson), parseSafetensors(a.weights), loaded.config) : undefined;
    return adapter ? { layers: adapter.layers.size, rank: adapter.config.rank } : null;
  },

  async generate(prompt: string, o: GenerationOptions) {
    if (!loaded) throw new Error('load the model first');
    const t0 = performance.now();
    const { model, tokenizer } = loaded;
    const eos = tokenizer.eosId;
    const ids = prompt.length ? tokenizer.encode(prompt) : [];
    const out = generateTokens(model, eos !== undefined ? [eos, ...ids] : ids, {
      maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK, rng: new SeededRandom(o.seed),
      stopIds: eos !== undefined ? [eos] : [], lora: adapter,
    });
    return { text: prompt + tokenizer.decode(out), tokens: out.length, ms: performance.now() - t0 };
  },
};

Comlink.expose(api);
