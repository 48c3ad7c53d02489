// A run with a seed-method strategy through the real coordinator (sockets, SQLite, HTTP): DevFT's
// stage models are built by the coordinator and served like the base model's parts, a bot tab
// trains them on the CPU engine, and the committed global adapter carries each stage layer's LoRA
// on every member layer of its group (the transfer step).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  ADMIN_NAMESPACE, assignmentSchema, fakeQuantizeWeights, parseHfConfig, parseRunSettings, parseSafetensors, planKeepingLayers, PROTOCOL_VERSION,
  planPeakBytes, VOLUNTEER_NAMESPACE, weightsFromHfTensors, type Ack, type Tensor,
} from '@fedllm/core';
import { loadModelDir } from '@fedllm/core/node';
import { Coordinator } from '../src/coordinator/coordinator';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';
import { caps, joinBotTab, trainOnCpu } from './support/cpuBotTab';

const MiB = 2 ** 20;
const dir = await mkdtemp(join(tmpdir(), 'coord-strategy-'));
const logs: string[] = [];
const coordinator = await Coordinator.start({
  modelDir: DEFAULT_MODEL_DIR, dbPath: join(dir, 'state.db'), runsDir: join(dir, 'runs'), webRoot: join(dir, 'no-web'), port: 0,
  adminToken: 'token', log: (m) => logs.push(m),
  defaultRun: {
    rounds: 3, clientsPerRound: 1, minClients: 1, localSteps: 1, batch: 2, seqLen: 16, evalExamples: 8, deadlineMs: 60_000,
    lora: { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] }, strategy: 'devft', strategyOptions: { devftStages: 2 },
  },
});
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.close();
  await coordinator.close();
});

test('DevFT through the coordinator: served stage models, growing depth, LoRA transferred to group members', async () => {
  const tab = io(`${coordinator.url}${VOLUNTEER_NAMESPACE}`, { transports: ['websocket'], reconnection: false });
  sockets.push(tab);
  const queue: unknown[] = [], waiters: ((a: unknown) => void)[] = [];
  tab.on('assign', (a: unknown, ack?: (x: unknown) => void) => {
    ack?.({ ok: true });
    (waiters.shift() ?? ((x: unknown) => queue.push(x)))(a);
  });
  const next = () => new Promise<unknown>((r) => (queue.length ? r(queue.shift()) : waiters.push(r)));
  await new Promise<void>((r) => tab.once('connect', () => r()));
  const hello = (await tab.timeout(30_000).emitWithAck('hello', { protocol: PROTOCOL_VERSION, capabilities: caps(256 * MiB, 'bot') })) as Ack;
  assert.ok(hello.ok);

  const depths: number[] = [];
  const modelIds = new Set<string>();
  const handed: Map<string, { data: Float32Array }>[] = [];
  for (let round = 0; round < 3; round++) {
    const a = assignmentSchema.parse(await next());
    assert.equal(a.round, round);
    const { bytes, config } = await trainOnCpu(coordinator.url, a);
    depths.push(config.numLayers);
    modelIds.add(a.model.configUrl);
    assert.equal(a.plan.layers.length, config.numLayers, 'the whole stage model is trained');
    handed.push(parseSafetensors(a.adapter));
    const meta = { runId: a.runId, round, taskId: a.taskId, numSamples: 2, losses: [1], peakBytes: a.estimateBytes, estimateBytes: a.estimateBytes, tokensPerSecond: 1, buildMs: 1, trainMs: 1, bytesDownloaded: 0 };
    const ok = (await tab.timeout(30_000).emitWithAck('update', meta, bytes)) as Ack;
    assert.ok(ok.ok, JSON.stringify(ok));
  }
  // 6 layers, 2 stages over 3 rounds (roundsPerStage: 1 + 2, the remainder to the full-depth
  // stage): a fused 3-layer stage model for round 0, then the full model (another model id).
  assert.deepEqual(depths, [3, 6, 6]);
  assert.equal(modelIds.size, 2);

  // Round 0 committed the stage-0 LoRA transferred to all six layers: members of a group are equal.
  const groupsLine = logs.find((l) => l.includes('strategy devft, round 0'))!;
  const groups = groupsLine.split('groups ')[1].split(' | ').map((g) => g.split('+').map(Number));
  assert.equal(groups.length, 3);
  const runId = coordinator.snapshot().runId!;
  const committed = parseSafetensors(new Uint8Array(await readFile(join(dir, 'runs', runId, 'round-0000', 'adapter_model.safetensors'))));
  const name = (l: number) => `base_model.model.model.layers.${l}.self_attn.q_proj.lora_B.weight`;
  for (const g of groups) for (const m of g) assert.deepEqual(committed.get(name(m))!.data, committed.get(name(g[0]))!.data, `group ${g}`);
  // ...and round 1 (full depth) started from exactly that adapter.
  assert.equal(handed[1].size, committed.size);
  for (const [n, t] of handed[1]) assert.deepEqual(t.data, committed.get(n)!.data, n);
  await new Promise<void>((resolve) => {
    const poll = () => (coordinator.snapshot().rounds.length === 3 ? resolve() : setTimeout(poll, 100));
    poll();
  });
  assert.equal(coordinator.snapshot().status, 'completed');
});

test('FedSODA through the coordinator: an int4 tab gets the aligned sub-model of its tier, quantized', async () => {
  const admin = io(`${coordinator.url}${ADMIN_NAMESPACE}`, { transports: ['websocket'], reconnection: false, auth: { token: 'token' } });
  sockets.push(admin);
  await new Promise<void>((r) => admin.once('connect', () => r()));
  const settings = {
    rounds: 1, clientsPerRound: 1, minClients: 1, localSteps: 1, batch: 2, seqLen: 16, evalExamples: 8, deadlineMs: 60_000,
    lora: { rank: 2, alpha: 4, targets: ['q', 'v', 'down'] }, strategy: 'fedsoda', strategyOptions: { fedsodaFormat: 'int4', fedsodaAlignSteps: 2 },
    importance: 'block-influence', // the one-pass measure, run in the evaluation worker
  } as const;
  const created = (await admin.timeout(30_000).emitWithAck('createRun', settings)) as Ack<{ runId: string }>;
  assert.ok(created.ok, JSON.stringify(created));
  const cfg = parseHfConfig(JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'config.json'), 'utf8')));
  // A budget that holds 3 int4 layers at this shape (and not 4).
  const s = parseRunSettings(settings);
  const shape = { config: cfg, lora: s.lora, batch: s.batch, seqLen: s.seqLen, clipNorm: s.clipNorm, weightFormat: 'int4' as const };
  const budget = planPeakBytes(shape, planKeepingLayers([0, 1, 2]));
  assert.ok(planPeakBytes(shape, planKeepingLayers([0, 1, 2, 3])) > budget);

  const { tab, assigned } = await joinBotTab(coordinator.url, caps(budget, 'int4-tab'));
  sockets.push(tab);
  assert.ok(((await admin.timeout(120_000).emitWithAck('start', { runId: created.ok ? created.runId : '' })) as Ack).ok);

  const a = await assigned;
  assert.ok(logs.some((l) => l.startsWith('measuring layer importance (block-influence')), 'block influence measured');
  assert.ok(logs.some((l) => l.startsWith('layer importance (1 - cos(stream in, stream out)): ')));
  assert.equal(a.model.weightFormat, 'int4');
  assert.equal(a.plan.layers.length, 3, 'SGP keeps one layer per group, 3 groups for this budget');
  assert.ok(a.estimateBytes <= budget);
  // The served projections are the int4 quantize-dequantize image: quantizing them again changes nothing.
  const { config } = await trainOnCpu(coordinator.url, a);
  const parts = new Map<string, Tensor>();
  for (const p of a.model.parts) for (const [n, t] of parseSafetensors(new Uint8Array(await (await fetch(`${coordinator.url}${p.url}`)).arrayBuffer()))) parts.set(n, t);
  const served = weightsFromHfTensors(config, parts, { plan: a.plan });
  const base = (await loadModelDir(DEFAULT_MODEL_DIR)).weights;
  for (const l of a.plan.layers) {
    const w = served.layers[l.index]!.upProj;
    assert.deepEqual(fakeQuantizeWeights(config, served, 'int4').layers[l.index]!.upProj.data, w.data, `layer ${l.index} is exactly int4-representable`);
    assert.ok(w.data.some((v, i) => v !== base.layers[l.index]!.upProj.data[i]), `layer ${l.index} differs from the base (aligned)`);
  }
});
