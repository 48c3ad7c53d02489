/**
 * Loading and saving Hugging Face model directories (config.json, model.safetensors or a sharded
 * model.safetensors.index.json, tokenizer.json, tokenizer_config.json) on Node.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseHfConfig, toHfConfig } from '../model/hfConfig';
import { hfTensorNamesForLayers, weightsFromHfTensors, weightsToHfTensors } from '../model/hfWeights';
import type { LlamaWeights } from '../model/llamaWeights';
import type { ModelConfig } from '../model/modelConfig';
import { parseSafetensors, serializeSafetensors } from '../model/safetensors';
import type { SafetensorsInput, SafetensorsTensor } from '../model/safetensors';
import type { DType, Tensor } from '../model/tensor';
import { ggufHfTensors, importGgufFiles, readGgufFile } from './ggufFile';

/** Thrown when a model directory or one of its files is missing or unreadable. */
export class ModelDirError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelDirError';
  }
}

/** What loadModelDir returns. */
export interface LoadedModelDir {
  config: ModelConfig;
  weights: LlamaWeights;
  /** Parsed tokenizer.json, when the directory has one. */
  tokenizerJson?: unknown;
  /** Parsed tokenizer_config.json, when the directory has one. */
  tokenizerConfig?: unknown;
}

/** Options for saveModelDir. */
export interface SaveModelDirOptions {
  /** On-disk dtype of the weights (default F32). */
  dtype?: DType;
  tokenizerJson?: unknown;
  tokenizerConfig?: unknown;
}

const CONFIG = 'config.json';
const WEIGHTS = 'model.safetensors';
const WEIGHTS_INDEX = 'model.safetensors.index.json';
/** A model directory may hold its weights as one GGUF file instead (written by `npm run models`). */
export const GGUF_WEIGHTS = 'model.gguf';
const TOKENIZER = 'tokenizer.json';
const TOKENIZER_CONFIG = 'tokenizer_config.json';
const TORCH_DTYPE: Record<DType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelDirError(`${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

async function readOptionalJson(path: string): Promise<unknown> {
  return (await isFile(path)) ? readJson(path) : undefined;
}

/** Reads the checkpoint's tensors, decoding only names that pass `include`. */
async function readCheckpoint(dir: string, config: ModelConfig, include: (name: string) => boolean): Promise<Map<string, Tensor>> {
  const single = join(dir, WEIGHTS);
  if (await isFile(single)) return parseSafetensors(await readFile(single), { include });
  const ggufPath = join(dir, GGUF_WEIGHTS);
  if (await isFile(ggufPath)) return ggufHfTensors(await readGgufFile(ggufPath), config, include);

  const indexPath = join(dir, WEIGHTS_INDEX);
  if (!(await isFile(indexPath))) {
    const hasBin = (await isFile(join(dir, 'pytorch_model.bin'))) || (await isFile(join(dir, 'pytorch_model.bin.index.json')));
    throw new ModelDirError(
      `${dir} has none of ${WEIGHTS}, ${WEIGHTS_INDEX}, ${GGUF_WEIGHTS}` +
        (hasBin ? '; PyTorch .bin checkpoints are not supported, convert them to safetensors first' : ''),
    );
  }
  const index = await readJson(indexPath);
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new ModelDirError(`${indexPath} has no "weight_map" object mapping tensor names to shard files`);
  }
  // Trust the index: each shard contributes exactly the wanted tensors the index assigns to it.
  const shardOf = new Map(Object.entries(weightMap as Record<string, unknown>));
  const shards = new Set<string>();
  for (const [name, file] of shardOf) {
    if (typeof file !== 'string' || basename(file) !== file) {
      throw new ModelDirError(`${indexPath}: shard for "${name}" must be a file name inside the directory, got ${JSON.stringify(file)}`);
    }
    if (include(name)) shards.add(file);
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const file of shards) {
    const path = join(dir, file);
    if (!(await isFile(path))) throw new ModelDirError(`shard ${path} listed in ${indexPath} does not exist`);
    const part = parseSafetensors(await readFile(path), { include: (n) => shardOf.get(n) === file && include(n) });
    for (const [name, t] of part) tensors.set(name, t);
  }
  return tensors;
}

/**
 * Loads a Hugging Face model directory. With `opts.layers`, only those decoder layers (plus
 * embeddings, final norm and lm_head) are decoded; the other `weights.layers` entries are undefined.
 * Throws ModelDirError naming the missing directory/file, or the config/weights parsers' errors.
 */
export async function loadModelDir(dir: string, opts: { layers?: number[] } = {}): Promise<LoadedModelDir> {
  const dirStat = await stat(dir).catch(() => undefined);
  if (!dirStat) throw new ModelDirError(`model directory ${dir} does not exist`);
  if (dirStat.isFile() && dir.endsWith('.gguf')) return loadGgufAsModelDir(dir, opts);
  if (!dirStat.isDirectory()) throw new ModelDirError(`${dir} is not a directory (expected a model directory or a .gguf file)`);
  const configPath = join(dir, CONFIG);
  if (!(await isFile(configPath))) throw new ModelDirError(`${dir} has no ${CONFIG}`);
  const config = parseHfConfig(await readJson(configPath));

  const allLayers = Array.from({ length: config.numLayers }, (_, i) => i);
  const wanted = new Set(hfTensorNamesForLayers(config, opts.layers ?? allLayers));
  const known = new Set([...hfTensorNamesForLayers(config, allLayers), 'lm_head.weight']);
  // Skip known tensors we do not need; still read unknown ones so the mapper can report them.
  const tensors = await readCheckpoint(dir, config, (n) => wanted.has(n) || !known.has(n));
  const weights = weightsFromHfTensors(config, tensors, opts);

  const result: LoadedModelDir = { config, weights };
  const tokenizerJson = await readOptionalJson(join(dir, TOKENIZER));
  const tokenizerConfig = await readOptionalJson(join(dir, TOKENIZER_CONFIG));
  if (tokenizerJson !== undefined) result.tokenizerJson = tokenizerJson;
  if (tokenizerConfig !== undefined) result.tokenizerConfig = tokenizerConfig;
  return result;
}

/**
 * What an adapter trained on the model at `dir` names as its base (PEFT's base_model_name_or_path):
 * config.json's `_name_or_path` when it has one (an imported model names its Hugging Face id, so
 * the adapter applies to that model elsewhere), else `dir` itself.
 */
export async function modelNameOrPath(dir: string): Promise<string> {
  const config = await readOptionalJson(join(dir, CONFIG)).catch(() => undefined);
  const name = (config as { _name_or_path?: unknown } | undefined)?._name_or_path;
  return typeof name === 'string' && name !== '' ? name : dir;
}

/** `--model file.gguf`: config and tokenizer from the GGUF's metadata, weights dequantized. */
async function loadGgufAsModelDir(path: string, opts: { layers?: number[] }): Promise<LoadedModelDir> {
  const file = await readGgufFile(path);
  const { config, tokenizerJson, tokenizerConfig } = importGgufFiles(file);
  const wanted = new Set(hfTensorNamesForLayers(config, opts.layers ?? Array.from({ length: config.numLayers }, (_, i) => i)));
  const weights = weightsFromHfTensors(config, ggufHfTensors(file, config, (n) => wanted.has(n)), opts);
  return { config, weights, tokenizerJson, tokenizerConfig };
}

/** Writes via a temporary file and rename, so readers never see a half-written file. */
async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Saves a model directory that transformers can load: config.json, model.safetensors (in
 * `opts.dtype`, default F32, with metadata format "pt" as transformers expects) and the tokenizer
 * files when given. Creates `dir` if needed; each file is written atomically.
 */
export async function saveModelDir(
  dir: string,
  config: ModelConfig,
  weights: LlamaWeights,
  opts: SaveModelDirOptions = {},
): Promise<void> {
  const dtype = opts.dtype ?? 'F32';
  const hfConfig = { ...toHfConfig(config), torch_dtype: TORCH_DTYPE[dtype] };
  const inputs = new Map<string, SafetensorsInput>();
  for (const [name, t] of weightsToHfTensors(config, weights)) inputs.set(name, { dtype, shape: t.shape, data: t.data });

  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, WEIGHTS), serializeSafetensors(inputs, { format: 'pt' }));
  if (opts.tokenizerJson !== undefined) await writeFileAtomic(join(dir, TOKENIZER), jsonText(opts.tokenizerJson));
  if (opts.tokenizerConfig !== undefined) await writeFileAtomic(join(dir, TOKENIZER_CONFIG), jsonText(opts.tokenizerConfig));
  await writeFileAtomic(join(dir, CONFIG), jsonText(hfConfig));
}
