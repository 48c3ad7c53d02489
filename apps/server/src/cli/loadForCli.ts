import { LlamaModel, planKeepingLayers, type LoraAdapter, type SubmodelPlan, type TextTokenizer } from '@fedllm/core';
import { loadAdapterDir, loadModelDir, loadTokenizerDir } from '@fedllm/core/node';
import { intList } from './cliSupport';

export interface CliModel {
  model: LlamaModel;
  tokenizer?: TextTokenizer;
  adapter?: LoraAdapter;
  plan?: SubmodelPlan;
}

/** Loads --model (and --adapter, --layers) the same way for every command. */
export async function loadForCli(
  dir: string, o: { adapter?: string; layers?: string; needTokenizer?: boolean; maxSeqLen?: number },
): Promise<CliModel> {
  const layers = o.layers ? intList(o.layers, 'layers') : undefined;
  const loaded = await loadModelDir(dir, { layers });
  const model = new LlamaModel(loaded.config, loaded.weights, o.maxSeqLen);
  // Only commands that read or write text load the tokenizer: logits takes ids, and must work for
  // checkpoints whose tokenizer.json this library cannot parse.
  const tokenizer = o.needTokenizer ? await loadTokenizerDir(dir) : undefined;
  const adapter = o.adapter ? await loadAdapterDir(o.adapter, loaded.config) : undefined;
  return { model, tokenizer, adapter, plan: layers ? planKeepingLayers(layers) : undefined };
}
