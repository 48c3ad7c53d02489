// A tab's data shard is its "local data" for the whole run: a coordinator that restarts and sees
// the tabs re-join in another order must still give each the shard it had. Real sockets, the
// default model, one SQLite file shared by two coordinator lifetimes in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { assignmentSchema, PROTOCOL_VERSION, VOLUNTEER_NAMESPACE, type Ack, type Assignment } from '@fedllm/core';
import { Coordinator } from '../src/coordinator/coordinator';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';
import { caps } from './support/cpuBotTab';

const MiB = 2 ** 20;

async function startCoordinator(dir: string): Promise<Coordinator> {
  return Coordinator.start({
    modelDir: DEFAULT_MODEL_DIR, dbPath: join(dir, 'state.db'), runsDir: join(dir, 'runs'), webRoot: join(dir, 'no-web'), port: 0,
    adminToken: 'shards-token', log: () => {},
    defaultRun: {
      rounds: 2, clientsPerRound: 2, minClients: 2, shards: 2, localSteps: 1, batch: 2, seqLen: 32, evalExamples: 8, deadlineMs: 60_000,
      lora: { rank: 2, alpha: 4, targets: ['q'] },
    },
  });
}

/** Says hello as `clientId` and resolves with its first assignment. */
async function join1(url: string, clientId: string, sockets: Socket[]): Promise<Assignment> {
  const s = io(`${url}${VOLUNTEER_NAMESPACE}`, { transports: ['websocket'], reconnection: false });
  sockets.push(s);
  const assigned = new Promise<unknown>((resolve) => s.once('assign', resolve));
  await new Promise<void>((r) => s.once('connect', () => r()));
  const hello = (await s.timeout(30_000).emitWithAck('hello', { protocol: PROTOCOL_VERSION, clientId, capabilities: caps(64 * MiB, clientId) })) as Ack<{ clientId: string }>;
  assert.ok(hello.ok && hello.clientId === clientId, JSON.stringify(hello));
  return assignmentSchema.parse(await assigned);
}

const tokens = (a: Assignment) => {
  assert.equal(a.data.kind, 'batches');
  return a.data.kind === 'batches' ? Buffer.from(a.data.inputIds).toString('base64') : '';
};

test('a restarted coordinator gives each re-joining tab the shard it had, whatever the join order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coord-shards-'));
  const sockets: Socket[] = [];
  let coordinator = await startCoordinator(dir);
  const first = new Map<string, Assignment>();
  try {
    // x joins first (shard 0), then y (shard 1); round 0 is handed out and never answered.
    const ax = join1(coordinator.url, 'tab-x', sockets);
    await new Promise((r) => setTimeout(r, 200));
    const ay = join1(coordinator.url, 'tab-y', sockets);
    first.set('tab-x', await ax).set('tab-y', await ay);
    assert.equal(first.get('tab-x')!.round, 0);
    assert.notEqual(tokens(first.get('tab-x')!), tokens(first.get('tab-y')!), 'the two shards hand out different rows');
  } finally {
    for (const s of sockets.splice(0)) s.close();
    await coordinator.close();
  }

  coordinator = await startCoordinator(dir);
  try {
    // The run resumes at round 0 (nothing committed); now y joins first.
    const ay = join1(coordinator.url, 'tab-y', sockets);
    await new Promise((r) => setTimeout(r, 200));
    const ax = join1(coordinator.url, 'tab-x', sockets);
    const again = new Map([['tab-y', await ay], ['tab-x', await ax]]);
    for (const [id, a] of again) {
      assert.equal(a.runId, first.get(id)!.runId);
      assert.equal(a.round, 0, 'round 0 is re-run');
      assert.equal(tokens(a), tokens(first.get(id)!), `${id} trains on the rows of its own shard after the restart`);
    }
  } finally {
    for (const s of sockets) s.close();
    await coordinator.close();
  }
});
