// The coordinator in process with real sockets, a real SQLite file and the default model, driven
// by a Node "bot" tab: a second client implementation that speaks the socket protocol and trains
// with the CPU engine. Hostile and malformed messages must be refused with typed errors while the
// run goes on; a valid update must be aggregated, evaluated and committed as a PEFT directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  ADMIN_NAMESPACE, assignmentSchema, parseSafetensors, PROTOCOL_VERSION, serializeSafetensors, VOLUNTEER_NAMESPACE,
  type Ack,
} from '@fedllm/core';
import { Coordinator } from '../src/coordinator/coordinator';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';
import { caps, trainOnCpu } from './support/cpuBotTab';

const TOKEN = 'test-admin-token';
const MiB = 2 ** 20;
const dir = await mkdtemp(join(tmpdir(), 'coord-proto-'));
const coordinator = await Coordinator.start({
  modelDir: DEFAULT_MODEL_DIR, dbPath: join(dir, 'state.db'), runsDir: join(dir, 'runs'), webRoot: join(dir, 'no-web'), port: 0,
  adminToken: TOKEN, log: () => {},
  defaultRun: { rounds: 2, clientsPerRound: 1, minClients: 1, localSteps: 2, batch: 2, seqLen: 32, evalExamples: 16, deadlineMs: 60_000, lora: { rank: 4, alpha: 8, targets: ['q', 'v'] } },
});
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.close();
  await coordinator.close();
});

function connect(ns: string, auth?: Record<string, string>): Socket {
  const s = io(`${coordinator.url}${ns}`, { transports: ['websocket'], auth, reconnection: false });
  sockets.push(s);
  return s;
}

async function emit(s: Socket, event: string, ...args: unknown[]): Promise<Ack<Record<string, unknown>>> {
  return (await s.timeout(30_000).emitWithAck(event, ...args)) as Ack<Record<string, unknown>>;
}

function refusedWith(a: Ack<Record<string, unknown>>, code: string): void {
  assert.equal(a.ok, false, `expected a refusal with ${code}, got ok`);
  if (!a.ok) assert.equal(a.error.code, code, a.error.message);
}

test('admin control needs the token; bad settings name the field', async () => {
  const noToken = connect(ADMIN_NAMESPACE);
  const err = await new Promise<Error>((resolve) => noToken.once('connect_error', resolve));
  assert.match(err.message, /unauthorized/);
  const wrong = connect(ADMIN_NAMESPACE, { token: 'nope' });
  assert.match((await new Promise<Error>((resolve) => wrong.once('connect_error', resolve))).message, /unauthorized/);

  const admin = connect(ADMIN_NAMESPACE, { token: TOKEN });
  await new Promise<void>((r) => admin.once('connect', () => r()));
  const bad = await emit(admin, 'createRun', { lora: { rank: 0 } });
  refusedWith(bad, 'bad-settings');
  if (!bad.ok) assert.equal(bad.error.field, 'lora.rank');
  refusedWith(await emit(admin, 'pause', { runId: 'no-such-run' }), 'run-not-active');
  refusedWith(await emit(admin, 'stop', {}), 'bad-message');
});

test('a bot tab: hostile messages are refused, a valid update is aggregated and committed', async () => {
  const tab = connect(VOLUNTEER_NAMESPACE);
  await new Promise<void>((r) => tab.once('connect', () => r()));
  const assignments: unknown[] = [];
  const waiters: ((a: unknown) => void)[] = [];
  tab.on('assign', (a: unknown) => (waiters.shift() ?? ((x: unknown) => assignments.push(x)))(a));
  const nextAssignment = () => new Promise<unknown>((resolve) => (assignments.length ? resolve(assignments.shift()) : waiters.push(resolve)));

  refusedWith(await emit(tab, 'update', { runId: 'r', round: 0, taskId: 't' }, new Uint8Array(8)), 'bad-message'); // before hello
  refusedWith(await emit(tab, 'hello', { protocol: PROTOCOL_VERSION, capabilities: { budgetBytes: -1 } }), 'bad-message');
  refusedWith(await emit(tab, 'hello', { protocol: 99, capabilities: caps(64 * MiB, 'bot') }), 'unsupported-protocol');
  const hello = await emit(tab, 'hello', { protocol: PROTOCOL_VERSION, capabilities: caps(64 * MiB, 'bot') });
  assert.ok(hello.ok);

  const a = assignmentSchema.parse(await nextAssignment());
  assert.equal(a.round, 0);
  assert.ok(a.estimateBytes <= a.budgetBytes);
  const good = (await trainOnCpu(coordinator.url, a)).bytes;
  const meta = { runId: a.runId, round: a.round, taskId: a.taskId, numSamples: 4, losses: [1, 0.9], peakBytes: a.estimateBytes, estimateBytes: a.estimateBytes, tokensPerSecond: 1, buildMs: 1, trainMs: 1, bytesDownloaded: 0 };

  refusedWith(await emit(tab, 'update', { ...meta, taskId: 'not-a-task' }, good), 'unknown-task');
  refusedWith(await emit(tab, 'update', { ...meta, round: 7 }, good), 'stale-round');
  refusedWith(await emit(tab, 'update', { ...meta, runId: 'other-run' }, good), 'stale-round');
  refusedWith(await emit(tab, 'update', { ...meta, numSamples: 'many' }, good), 'bad-message');
  refusedWith(await emit(tab, 'update', meta, 'not binary'), 'bad-message');
  refusedWith(await emit(tab, 'update', { ...meta, losses: [NaN] }, good), 'not-finite');
  // NaN inside the adapter.
  const nan = parseSafetensors(good);
  const first = [...nan.values()][0];
  first.data[0] = NaN;
  refusedWith(await emit(tab, 'update', meta, serializeSafetensors(nan)), 'not-finite');
  // Wrong shape: a tensor of the right name with one column too few.
  const shaped = new Map(parseSafetensors(good));
  const [name, t] = [...shaped][0];
  shaped.set(name, { dtype: t.dtype, shape: [t.shape[0], t.shape[1] - 1], data: t.data.slice(0, t.shape[0] * (t.shape[1] - 1)) });
  refusedWith(await emit(tab, 'update', meta, serializeSafetensors(shaped)), 'bad-tensor');
  refusedWith(await emit(tab, 'update', meta, new Uint8Array(16)), 'bad-tensor');
  // Over the size the hello announced (the plan's LoRA plus headroom).
  const limit = (hello as unknown as { maxUpdateBytes: number }).maxUpdateBytes;
  assert.ok(limit > good.byteLength);
  refusedWith(await emit(tab, 'update', meta, new Uint8Array(limit + 1)), 'too-large');

  // The assignment is still open after all that: the real update is accepted, once.
  const ok = await emit(tab, 'update', meta, good);
  assert.ok(ok.ok, JSON.stringify(ok));
  const dup = await emit(tab, 'update', meta, good);
  assert.equal(dup.ok, false);

  // Round 0 commits: a PEFT directory with the aggregated adapter (one client: exactly its update).
  const b = assignmentSchema.parse(await nextAssignment());
  assert.equal(b.round, 1);
  const runDir = join(dir, 'runs', a.runId, 'round-0000');
  assert.ok(existsSync(join(runDir, 'adapter_model.safetensors')));
  const committed = parseSafetensors(new Uint8Array(await readFile(join(runDir, 'adapter_model.safetensors'))));
  for (const [n, tt] of parseSafetensors(good)) assert.deepEqual(Array.from(committed.get(n)!.data), Array.from(tt.data), n);
  // The next round hands out the committed adapter.
  const handed = parseSafetensors(b.adapter);
  for (const [n, tt] of handed) assert.deepEqual(Array.from(tt.data), Array.from(committed.get(n)!.data), n);
  const snap = coordinator.snapshot();
  assert.equal(snap.rounds.length, 1);
  assert.ok(snap.rounds[0].accuracy >= 0 && snap.rounds[0].accuracy <= 1);
});
