/**
 * The models a coordinator can fine-tune: Hugging Face directories directly under its models root
 * (plus its --model, wherever that lies). Lists them from their config.json alone, resolves a
 * run's choice inside the root, and loads a directory into what a run needs (the parts the tabs
 * download, the base weights), cached per directory so switching runs back and forth, and the
 * admin downloads, do not re-read and re-hash the files each time.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { modelDirNameSchema, parseHfConfig, ProtocolError, type LlamaWeights, type ModelConfig, type ModelList, type ModelListing } from '@fedllm/core';
import { loadModelDir, readPackedGgufBase } from '@fedllm/core/node';
import { ModelParts } from './modelParts';

export interface LoadedModel {
  /** The directory as the run row stores it. */
  dir: string;
  parts: ModelParts;
  weights: LlamaWeights;
}

/** Loaded models kept: the active one and one more (the last one downloaded from or listed for a new run). */
const CACHE_SIZE = 2;
const WEIGHT_FILE = /^model.*\.(safetensors|gguf)$/;

/** A run's stored modelId no longer matches its directory: the files changed after the run was created. */
export class ModelChangedError extends Error {
  override name = 'ModelChangedError';
}

export class ModelCatalog {
  private readonly cache = new Map<string, Promise<LoadedModel>>();

  constructor(readonly root: string, readonly defaultDir: string) {}

  /** The Hugging Face directories directly under the root; those whose config.json does not parse are left out. */
  async list(): Promise<ModelList> {
    const models = (await this.scan()).map((m) => m.listing);
    const rel = relative(resolve(this.root), resolve(this.defaultDir));
    const defaultModel = models.some((m) => m.name === rel) ? rel : null;
    return { root: this.root, models, defaultModel, defaultDir: this.defaultDir };
  }

  /** The listing and parsed config of every model directory under the root. */
  async scan(): Promise<{ listing: ModelListing; config: ModelConfig }[]> {
    const names = (await readdir(this.root).catch(() => [] as string[])).sort();
    const out: { listing: ModelListing; config: ModelConfig }[] = [];
    for (const name of names) {
      const m = await describeModelDir(join(this.root, name), name);
      if (m) out.push(m);
    }
    return out;
  }

  /**
   * The directory a createRun names (undefined: the --model directory), loaded; refused on field
   * "modelDir" when it is not a plain name in the root, or does not load as a model.
   */
  async choose(name: string | undefined): Promise<LoadedModel> {
    if (name === undefined) return this.load(this.defaultDir);
    const checked = modelDirNameSchema.safeParse(name);
    const dir = join(this.root, name);
    // The schema already refuses separators and ".."; the containment check keeps that true whatever the platform.
    const rel = relative(resolve(this.root), resolve(dir));
    if (!checked.success || rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.includes(sep)) {
      throw new ProtocolError('bad-settings', `invalid run setting modelDir: "${name}" is not a directory name under the models root ${this.root}`, 'modelDir');
    }
    try {
      return await this.load(dir);
    } catch (e) {
      throw new ProtocolError('bad-settings', `invalid run setting modelDir: ${name} does not load as a model: ${(e as Error).message}`, 'modelDir');
    }
  }

  /** The model a stored run was created for; ModelChangedError when its directory now holds another one. */
  async forRun(run: { id: string; modelDir: string; modelId: string }): Promise<LoadedModel> {
    const m = await this.load(run.modelDir);
    if (m.parts.id !== run.modelId) {
      throw new ModelChangedError(`run ${run.id} was created for model ${run.modelId}, but ${run.modelDir} now holds model ${m.parts.id} (its files changed); create a new run for it`);
    }
    return m;
  }

  /** Loads (or returns the cached) model of a directory; a failed load is not cached. */
  load(dir: string): Promise<LoadedModel> {
    const key = resolve(dir);
    let p = this.cache.get(key);
    if (p) {
      this.cache.delete(key); // re-inserted below: most recently used last
    } else {
      p = loadModel(dir);
      p.catch(() => { if (this.cache.get(key) === p) this.cache.delete(key); });
    }
    this.cache.set(key, p);
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }
}

async function loadModel(dir: string): Promise<LoadedModel> {
  const loaded = await loadModelDir(dir);
  const configJson = await readFile(join(dir, 'config.json'), 'utf8');
  const tokenizerJson = await readFile(join(dir, 'tokenizer.json'), 'utf8').catch(() => undefined);
  // A GGUF base is served packed, as the tabs' sessions hold it; its float image stays here for the CPU engine.
  const packed = await readPackedGgufBase(dir, loaded.config);
  return { dir, parts: ModelParts.build(loaded.config, loaded.weights, configJson, tokenizerJson, packed), weights: loaded.weights };
}

/** A directory's listing from its config.json and weight file sizes; undefined when it is not a model we can run. */
async function describeModelDir(dir: string, name: string): Promise<{ listing: ModelListing; config: ModelConfig } | undefined> {
  try {
    if (!(await stat(dir)).isDirectory()) return undefined;
    const cfg = parseHfConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
    let weightsBytes = 0;
    for (const f of await readdir(dir)) if (WEIGHT_FILE.test(f)) weightsBytes += (await stat(join(dir, f))).size;
    return { config: cfg, listing: { name, architecture: cfg.architecture, numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize, vocabSize: cfg.vocabSize, weightsBytes } };
  } catch {
    return undefined;
  }
}
