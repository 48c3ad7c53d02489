// DevFT's stage and layer groups are the strategy's own state: committed with each round in the
// SQLite store, so a coordinator restarted in the middle of a stage serves the same fused stage
// model (same content id) for the rest of the stage instead of regrouping from the trained
// adapter. Real sockets, the default model, one SQLite file shared by two coordinator lifetimes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Socket } from 'socket.io-client';
import type { Ack, Assignment } from '@fedllm/core';
import { Coordinator } from '../src/coordinator/coordinator';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';
import { caps, joinBotTab, trainOnCpu } from './support/cpuBotTab';

const MiB = 2 ** 20;

function startCoordinator(dir: string, logs: string[]): Promise<Coordinator> {
  return Coordinator.start({
    modelDir: DEFAULT_MODEL_DIR, dbPath: join(dir, 'state.db'), runsDir: join(dir, 'runs'), webRoot: join(dir, 'no-web'), port: 0,
    adminToken: 'devft-token', log: (m) => logs.push(m),
    defaultRun: {
      rounds: 5, clientsPerRound: 1, minClients: 1, localSteps: 1, batch: 2, seqLen: 16, evalExamples: 4, deadlineMs: 60_000,
      lora: { rank: 2, alpha: 4, targets: ['q', 'v'] }, strategy: 'devft', strategyOptions: { devftStages: 2 },
    },
  });
}

/** Joins as `clientId`; resolves with the socket and its first assignment. */
async function joinTab(url: string, clientId: string): Promise<{ tab: Socket; first: Assignment }> {
  const { tab, assigned } = await joinBotTab(url, caps(256 * MiB, clientId), clientId);
  return { tab, first: await assigned };
}

test('a coordinator restarted mid-DevFT-stage continues the stage on the same fused model', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coord-devft-'));
  const logs: string[] = [];
  let coordinator = await startCoordinator(dir, logs);
  let round0: Assignment;
  try {
    const { tab, first } = await joinTab(coordinator.url, 'tab-d');
    round0 = first;
    assert.equal(round0.round, 0);
    const { bytes, config } = await trainOnCpu(coordinator.url, round0);
    assert.equal(config.numLayers, 3, 'stage 0 is a fused 3-layer model');
    const meta = { runId: round0.runId, round: 0, taskId: round0.taskId, numSamples: 2, losses: [1], peakBytes: round0.estimateBytes, estimateBytes: round0.estimateBytes, tokensPerSecond: 1, buildMs: 1, trainMs: 1, bytesDownloaded: 0 };
    const ok = (await tab.timeout(30_000).emitWithAck('update', meta, bytes)) as Ack;
    assert.ok(ok.ok, JSON.stringify(ok));
    await new Promise<void>((resolve) => {
      const poll = () => (coordinator.snapshot().rounds.length === 1 ? resolve() : setTimeout(poll, 50));
      poll();
    });
    tab.close();
  } finally {
    await coordinator.close();
  }
  const groupsLine = logs.find((l) => l.includes('strategy devft, round 0'))!;
  const groups = groupsLine.split('groups ')[1].split(' | ').map((g) => g.split('+').map(Number));
  const db = new Database(join(dir, 'state.db'), { readonly: true });
  const stored = db.prepare('SELECT strategy_state_json AS s FROM rounds WHERE round = 0').get() as { s: string };
  db.close();
  assert.deepEqual(JSON.parse(stored.s), { stage: 0, groups }, 'round 0 committed with the stage and its groups');

  logs.length = 0;
  coordinator = await startCoordinator(dir, logs);
  try {
    const { tab, first: round1 } = await joinTab(coordinator.url, 'tab-d');
    try {
      assert.equal(round1.runId, round0.runId);
      assert.equal(round1.round, 1, 'round 1 is still stage 0 (rounds 0-1 of 5)');
      assert.equal(round1.model.id, round0.model.id, 'the same fused stage model, by content id');
      assert.ok(logs.some((l) => /restored the global adapter of round 0 .* and the strategy's state/.test(l)), logs.join('\n'));
      assert.ok(logs.some((l) => l.includes('strategy devft, round 1') && l.includes(groupsLine.split('groups ')[1])), 'the same groups');
    } finally {
      tab.close();
    }
  } finally {
    await coordinator.close();
  }
});
