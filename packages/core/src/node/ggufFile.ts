/**
 * Reading GGUF files on Node: the header, metadata and tensor table through @huggingface/gguf,
 * the tensor data by us (ggufTensorTable checks every range; ../model/gguf dequantizes).
 */
import { gguf } from '@huggingface/gguf';
import { readFile, stat } from 'node:fs/promises';
import { parseHfConfig } from '../model/hfConfig';
import type { ModelConfig } from '../model/modelConfig';
import type { Tensor } from '../model/tensor';
import { GgufError, ggufTensorTable, type GgufContents } from '../model/gguf/ggufContents';
import { hfConfigFromGguf } from '../model/gguf/ggufLlamaConfig';
import { hfTensorsFromGguf } from '../model/gguf/ggufLlamaTensors';
import { tokenizerFilesFromGguf } from '../model/gguf/ggufTokenizer';

export interface GgufFile {
  path: string;
  contents: GgufContents;
  bytes: Uint8Array;
}

/** Reads and validates a GGUF file. @throws GgufError naming the file and what is wrong. */
export async function readGgufFile(path: string): Promise<GgufFile> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new GgufError(`${path} does not exist or is not a file`);
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf(path, { allowLocalFile: true });
  } catch (e) {
    throw new GgufError(`${path} is not a readable GGUF file: ${(e as Error).message}`, { cause: e });
  }
  if (!parsed.littleEndian) throw new GgufError(`${path} is a big-endian GGUF; only little-endian files are supported`);
  const bytes = new Uint8Array(await readFile(path));
  // The header reader does not bound its reads by the file size: a cut header parses as zeros.
  const dataStart = Number(parsed.tensorDataOffset);
  if (!(dataStart <= bytes.length) || parsed.tensorInfoByteRange[1] > bytes.length) {
    throw new GgufError(`${path} is truncated: its header runs to byte ${Math.max(dataStart, parsed.tensorInfoByteRange[1])}, the file has ${bytes.length}`);
  }
  try {
    const tensors = ggufTensorTable(
      parsed.tensorInfos.map((t) => ({ name: t.name, shape: t.shape, type: t.dtype, relativeOffset: t.offset })),
      dataStart,
      bytes.length,
    );
    return { path, contents: { metadata: parsed.metadata as Record<string, unknown>, tensors }, bytes };
  } catch (e) {
    throw new GgufError(`${path}: ${(e as Error).message}`, { cause: e });
  }
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
