/** Shared fixtures of the storage tests: a tiny model config, temp dirs, a store with a run. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLoraAdapter, SeededRandom, type LoraAdapter, type ModelConfig } from '@fedllm/core';
import { RunStore, type NewAssignment } from '../../src/storage/runStore';

export const TINY_MODEL: ModelConfig = {
  architecture: 'LlamaForCausalLM', vocabSize: 32, hiddenSize: 8, intermediateSize: 12, numLayers: 2, numHeads: 2,
  numKvHeads: 1, headDim: 4, maxPositionEmbeddings: 16, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: true,
  attentionBias: false, oProjBias: false, mlpBias: false, bosTokenId: 0, eosTokenId: 0,
};

/** A rank-2 adapter on q and down of both layers, with non-zero B so every tensor carries data. */
export function tinyAdapter(seed: number): LoraAdapter {
  return createLoraAdapter(TINY_MODEL, { rank: 2, alpha: 4, targets: ['q', 'down'] }, [0, 1], new SeededRandom(seed), 0.1);
}

export const PLAN_JSON = JSON.stringify({ layers: [{ index: 0, attention: true, mlp: true }, { index: 1, attention: true, mlp: false }] });

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A store at `dir/runs.db` with run `run-1` (`totalRounds` rounds) and clients c0..c(n-1). */
export function storeWithRun(dir: string, totalRounds: number, clients = 3): RunStore {
  const store = RunStore.open(join(dir, 'runs.db'));
  store.createRun({ id: 'run-1', name: 'test run', settingsJson: '{"rounds":3}', modelDir: '/models/tiny', modelId: 'abc123', task: 'spam', totalRounds });
  for (let i = 0; i < clients; i++) store.upsertClient({ id: `c${i}`, capabilitiesJson: '{}', budgetBytes: 1_000_000 + i });
  return store;
}

export function assignment(taskId: string, round: number, clientId: string, attempt = 0): NewAssignment {
  return {
    taskId, runId: 'run-1', round, attempt, clientId, label: `tab ${clientId}`, planJson: PLAN_JSON, budgetBytes: 1_000_000,
    estimateBytes: 900_000, issuedAt: 1000 + round, deadline: 60_000, bytesDown: 5000,
  };
}

export const SHA_A = 'a'.repeat(64);

/** Clients of the crash test's child loop. */
export const CHILD_CLIENTS = ['c0', 'c1', 'c2'];
/** The crash test's child commits a round with at least this many updates; fewer and it re-samples (a new attempt). */
export const MIN_UPDATES = 2;

/**
 * The crash test's checkpoint of a round that counted `samples` samples: every A value is the
 * round, every B value the samples, so a checkpoint of the committed attempt can be told from one
 * of an attempt that died before its commit.
 */
export function stampedAdapter(round: number, samples: number): LoraAdapter {
  const a = createLoraAdapter(TINY_MODEL, { rank: 2, alpha: 4, targets: ['q', 'down'] }, [0, 1], new SeededRandom(1));
  for (const l of a.layers.values()) {
    for (const p of Object.values(l)) {
      p.A.data.fill(round);
      p.B.data.fill(samples);
    }
  }
  return a;
}
