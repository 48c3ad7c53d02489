// The coordinator keeps answering while a run opens (layer importance, layer similarity, the base
// evaluation, FedSODA's alignment of a sub-model: all in the run worker) and while a round aggregates and is evaluated: a
// health check polled every 20 ms answers quickly throughout. The target is 100 ms; the bound
// asserted is looser for a contended CI machine, and the measured worst case is printed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { ADMIN_NAMESPACE, type Ack } from '@fedllm/core';
import { Coordinator } from '../src/coordinator/coordinator';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';
import { caps, joinBotTab, trainOnCpu } from './support/cpuBotTab';

const CI_BOUND_MS = 400;
const dir = await mkdtemp(join(tmpdir(), 'coord-responsive-'));
const coordinator = await Coordinator.start({
  modelDir: DEFAULT_MODEL_DIR, dbPath: join(dir, 'state.db'), runsDir: join(dir, 'runs'), webRoot: join(dir, 'no-web'), port: 0,
  adminToken: 'token', log: () => {}, defaultRun: false,
});
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.close();
  await coordinator.close();
});

/** Polls /healthz back to back (20 ms apart) until stopped; the slowest answer. */
function probe(url: string): { stop: () => Promise<{ worstMs: number; samples: number }> } {
  let running = true, worstMs = 0, samples = 0;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await fetch(`${url}/healthz`);
      await r.arrayBuffer();
      assert.equal(r.status, 200);
      worstMs = Math.max(worstMs, performance.now() - t0);
      samples++;
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  return { stop: async () => { running = false; await loop; return { worstMs, samples }; } };
}

test('health checks answer promptly while a run opens and while a round aggregates', async () => {
  const admin = io(`${coordinator.url}${ADMIN_NAMESPACE}`, { transports: ['websocket'], reconnection: false, auth: { token: 'token' } });
  sockets.push(admin);
  await new Promise<void>((r) => admin.once('connect', () => r()));
  const created = (await admin.timeout(30_000).emitWithAck('createRun', {
    rounds: 1, clientsPerRound: 1, minClients: 1, localSteps: 1, batch: 2, seqLen: 32, evalExamples: 24, deadlineMs: 60_000,
    lora: { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] }, strategy: 'fedsoda', importance: 'loss-on-skip',
    strategyOptions: { fedsodaAlignSteps: 40 }, // the heaviest planning: distillation of the tab's sub-model, in the run worker
  })) as Ack<{ runId: string }>;
  assert.ok(created.ok, JSON.stringify(created));
  const { tab, assigned } = await joinBotTab(coordinator.url, caps(64 * 2 ** 20, 'bot'));
  sockets.push(tab);

  // Opening: importance (loss-on-skip), layer CKA (FedSODA's groups), the base evaluation, the first plans (an aligned sub-model).
  let p = probe(coordinator.url);
  assert.ok(((await admin.timeout(120_000).emitWithAck('start', { runId: created.ok ? created.runId : '' })) as Ack).ok);
  const a = await assigned;
  const opening = await p.stop();
  const { bytes } = await trainOnCpu(coordinator.url, a); // the bot's own work on this thread: not measured

  // Aggregation, the held-out evaluation of the new adapter, the checkpoint and the commit.
  p = probe(coordinator.url);
  const meta = { runId: a.runId, round: 0, taskId: a.taskId, numSamples: 2, losses: [1], peakBytes: a.estimateBytes, estimateBytes: a.estimateBytes, tokensPerSecond: 1, buildMs: 1, trainMs: 1, bytesDownloaded: 0 };
  assert.ok(((await tab.timeout(30_000).emitWithAck('update', meta, bytes)) as Ack).ok);
  await new Promise<void>((resolve) => {
    const poll = () => (coordinator.snapshot().rounds.length === 1 ? resolve() : setTimeout(poll, 20));
    poll();
  });
  const committing = await p.stop();
  console.log(`health check worst case: ${opening.worstMs.toFixed(1)} ms over ${opening.samples} checks while the run opened, ${committing.worstMs.toFixed(1)} ms over ${committing.samples} while round 0 aggregated and committed (target 100 ms)`);
  assert.ok(opening.samples >= 3 && committing.samples >= 2, 'the windows were long enough to measure');
  assert.ok(opening.worstMs < CI_BOUND_MS, `opening: ${opening.worstMs} ms`);
  assert.ok(committing.worstMs < CI_BOUND_MS, `committing: ${committing.worstMs} ms`);
});
