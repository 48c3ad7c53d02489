/**
 * GGUF files on Node: read whole, parsed by ../model/gguf (header through @huggingface/gguf,
 * tensor data by us), and turned into model-directory files or weights.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseHfConfig } from '../model/hfConfig';
import type { ModelConfig } from '../model/modelConfig';
import type { Tensor } from '../model/tensor';
import { GgufError } from '../model/gguf/ggufContents';
import { parseGgufBytes, type GgufFile } from '../model/gguf/parseGgufBytes';
export type { GgufFile } from '../model/gguf/parseGgufBytes';
import { hfConfigFromGguf } from '../model/gguf/ggufLlamaConfig';
import { hfTensorsFromGguf } from '../model/gguf/ggufLlamaTensors';
import { tokenizerFilesFromGguf } from '../model/gguf/ggufTokenizer';
import { PACKED_GGML_TYPES } from '../model/gguf/ggufPacked';
import { ggufQuantizedWeights } from '../model/gguf/ggufPackedWeights';
import { ggufNameOfHfTensor } from '../model/gguf/ggufLlamaTensors';
import { hfProjectionName, type QuantizedLlamaWeights } from '../model/weightQuantization';
import { planKeepingLayers } from '../model/submodelPlan';
import { join } from 'node:path';

/** Reads and validates a GGUF file. @throws GgufError naming the file and what is wrong. */
export async function readGgufFile(path: string): Promise<GgufFile> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new GgufError(`${path} does not exist or is not a file`);
  return parseGgufBytes(new Uint8Array(await readFile(path)), path);
}

/** HF-named float32 tensors of a GGUF llama model (those passing `include`). */
export function ggufHfTensors(file: GgufFile, config: ModelConfig, include?: (hfName: string) => boolean): Map<string, Tensor> {
  try {
    return hfTensorsFromGguf(file.contents, file.bytes, config.numHeads, config.numKvHeads, include);
  } catch (e) {
    throw new GgufError(`${file.path}: ${(e as Error).message}`, { cause: e });
  }
}

export interface ImportedGguf {
  hfConfig: Record<string, unknown>;
  config: ModelConfig;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  generationConfig: Record<string, unknown>;
}

/** config.json, tokenizer files and generation_config.json contents of a GGUF llama model. */
export function importGgufFiles(file: GgufFile): ImportedGguf {
  try {
    const hfConfig = hfConfigFromGguf(file.contents);
    const config = parseHfConfig(hfConfig);
    const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(file.contents.metadata);
    const generationConfig: Record<string, unknown> = { bos_token_id: hfConfig.bos_token_id, eos_token_id: hfConfig.eos_token_id };
    if (hfConfig.pad_token_id !== undefined) generationConfig.pad_token_id = hfConfig.pad_token_id;
    return { hfConfig, config, tokenizerJson, tokenizerConfig, generationConfig };
  } catch (e) {
    throw new GgufError(`${file.path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The base of a GGUF model (a .gguf path, or a directory holding model.gguf) as a GPU holds it: its
 * Q4_1 / Q8_0 tensors packed (ggufQuantizedWeights, all layers). Undefined for a float checkpoint,
 * or a GGUF whose projections are stored in a type that is not kept packed (served as float32).
 */
export async function readPackedGgufBase(dirOrFile: string, config: ModelConfig): Promise<QuantizedLlamaWeights | undefined> {
  const path = dirOrFile.endsWith('.gguf') ? dirOrFile : join(dirOrFile, 'model.gguf');
  if (!(await stat(path).catch(() => undefined))?.isFile()) return undefined;
  const file = await readGgufFile(path);
  const first = file.contents.tensors.get(ggufNameOfHfTensor(hfProjectionName(0, 'qProj')) ?? '');
  if (!first || !PACKED_GGML_TYPES.has(first.type)) return undefined;
  return ggufQuantizedWeights(file, config, planKeepingLayers([...Array(config.numLayers).keys()]));
}
