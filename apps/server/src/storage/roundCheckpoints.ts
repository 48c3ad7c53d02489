/**
 * Each committed round's global adapter as a PEFT directory, `<runsDir>/<runId>/round-<NNNN>/`
 * (adapter_config.json + adapter_model.safetensors, loadable by Python PEFT). A directory appears
 * whole or not at all: it is written as `round-<NNNN>.partial`, every file and the directory are
 * fsynced, then it is renamed into place and the parent fsynced. Write the round's checkpoint
 * before RunStore.commitRound; the store records its sha256, which loading verifies.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  loraFromPeft, loraToPeftTensors, parseSafetensors, peftAdapterConfig, PeftAdapterError, serializeSafetensors,
  type LoraAdapter, type ModelConfig,
} from '@fedllm/core';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
const PARTIAL_SUFFIX = '.partial';
const ROUND_DIR = /^round-(\d{4,})$/;

export type RoundCheckpointErrorCode = 'bad-run-id' | 'missing' | 'hash-mismatch' | 'bad-keep';

/** A checkpoint that cannot be written, found or trusted. */
export class RoundCheckpointError extends Error {
  override name = 'RoundCheckpointError';
  constructor(readonly code: RoundCheckpointErrorCode, message: string) {
    super(message);
  }
}

/** `<runsDir>/<runId>/round-<NNNN>` (4 digits at least, so names sort by round). */
export function roundCheckpointDir(runsDir: string, runId: string, round: number): string {
  // The run id becomes a path component: refuse anything that could leave runsDir.
  if (!/^[A-Za-z0-9_.:-]+$/.test(runId) || runId === '.' || runId === '..') {
    throw new RoundCheckpointError('bad-run-id', `run id ${JSON.stringify(runId)} cannot name a directory; use letters, digits and _.:- only`);
  }
  if (!Number.isSafeInteger(round) || round < 0) throw new RangeError(`round must be an integer >= 0, got ${round}`);
  return join(runsDir, runId, `round-${String(round).padStart(4, '0')}`);
}

export interface RoundCheckpointInput {
  runsDir: string;
  runId: string;
  round: number;
  adapter: LoraAdapter;
  model: ModelConfig;
  /** base_model_name_or_path in adapter_config.json. */
  baseModel: string;
}

export interface WrittenRoundCheckpoint {
  dir: string;
  /** sha256 (hex) of adapter_model.safetensors: record it with the round. */
  adapterSha256: string;
  bytes: number;
}

/**
 * Writes a round's checkpoint durably and atomically, replacing a leftover directory of the same
 * round (an uncommitted round from before a crash). Only ever write the round about to be committed.
 */
export async function writeRoundCheckpoint(o: RoundCheckpointInput): Promise<WrittenRoundCheckpoint> {
  const dir = roundCheckpointDir(o.runsDir, o.runId, o.round);
  const tmp = dir + PARTIAL_SUFFIX;
  await mkdir(dirname(dir), { recursive: true });
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  const weights = serializeSafetensors(loraToPeftTensors(o.adapter), { format: 'pt' });
  await writeFileSynced(join(tmp, ADAPTER_WEIGHTS_FILE), weights);
  await writeFileSynced(join(tmp, ADAPTER_CONFIG_FILE), JSON.stringify(peftAdapterConfig(o.adapter, o.model, o.baseModel), null, 2) + '\n');
  await syncDir(tmp);
  // rename() cannot replace a non-empty directory; a crash between these two steps leaves no
  // directory for a round that was never committed, which the re-run writes again.
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  await syncDir(dirname(dir));
  return { dir, adapterSha256: sha256Hex(weights), bytes: weights.byteLength };
}

/** Loads a checkpoint, refusing it unless its weights file has the sha256 the store recorded. */
export async function loadRoundCheckpoint(dir: string, model: ModelConfig, expectedSha256: string): Promise<LoraAdapter> {
  const weights = await readOrMissing(join(dir, ADAPTER_WEIGHTS_FILE));
  const actual = sha256Hex(weights);
  if (actual !== expectedSha256) {
    throw new RoundCheckpointError('hash-mismatch', `${join(dir, ADAPTER_WEIGHTS_FILE)} has sha256 ${actual}, but the run store recorded ${expectedSha256}; the checkpoint was changed or damaged after its round committed`);
  }
  const configText = (await readOrMissing(join(dir, ADAPTER_CONFIG_FILE))).toString('utf8');
  let config: unknown;
  try {
    config = JSON.parse(configText);
  } catch (e) {
    throw new PeftAdapterError(`${join(dir, ADAPTER_CONFIG_FILE)} is not valid JSON: ${(e as Error).message}`);
  }
  return loraFromPeft(config, parseSafetensors(new Uint8Array(weights)), model);
}

/** The complete round checkpoints of a run on disk, by round. */
export async function listRoundCheckpoints(runsDir: string, runId: string): Promise<{ round: number; dir: string }[]> {
  const runDir = dirname(roundCheckpointDir(runsDir, runId, 0));
  let names: string[];
  try {
    names = await readdir(runDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.flatMap((n) => {
    const m = ROUND_DIR.exec(n);
    return m ? [{ round: Number(m[1]), dir: join(runDir, n) }] : [];
  }).sort((a, b) => a.round - b.round);
}

/**
 * Deletes checkpoints no longer needed: rounds above `committedRound` (written, never committed),
 * `.partial` leftovers, and committed rounds beyond the newest `keep`. The committed round's
 * checkpoint is always kept. Do not run it while a checkpoint is being written. Returns what it removed.
 */
export async function pruneRoundCheckpoints(runsDir: string, runId: string, o: { keep: number; committedRound: number }): Promise<string[]> {
  if (!Number.isInteger(o.keep) || o.keep < 1) throw new RoundCheckpointError('bad-keep', `keep must be an integer >= 1 (the committed round is always kept), got ${o.keep}`);
  const all = await listRoundCheckpoints(runsDir, runId);
  const committed = all.filter((c) => c.round <= o.committedRound);
  const kept = new Set(committed.slice(-o.keep).map((c) => c.round));
  kept.add(o.committedRound);
  const doomed = all.filter((c) => !kept.has(c.round)).map((c) => c.dir);
  const runDir = dirname(roundCheckpointDir(runsDir, runId, 0));
  const names = await readdir(runDir).catch(() => [] as string[]);
  doomed.push(...names.filter((n) => n.endsWith(PARTIAL_SUFFIX) && ROUND_DIR.test(n.slice(0, -PARTIAL_SUFFIX.length))).map((n) => join(runDir, n)));
  for (const d of doomed) await rm(d, { recursive: true, force: true });
  return doomed;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const h = await open(path, 'wx');
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
}

/** fsync of a directory makes the names in it (a rename, a new file) durable, not only the bytes. */
async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

async function readOrMissing(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RoundCheckpointError('missing', `round checkpoint file ${path} does not exist (a PEFT checkpoint needs ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE})`);
    }
    throw e;
  }
}
