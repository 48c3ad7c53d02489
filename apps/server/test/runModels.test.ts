// Runs on a model of their own: the coordinator in process (real sockets, SQLite, files) with a
// temporary models root holding the default model and a second, 2-layer model written here. The
// admin lists both, creates a run on the second and starts it; from then the coordinator serves
// that model (snapshot, config URL) and a volunteer's plan covers only its 2 layers. A modelDir
// that is a path, leaves the root or does not load is refused on its field; all of it needs the token.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  ADMIN_NAMESPACE, assignmentSchema, initLlamaWeights, parseHfConfig, PROTOCOL_VERSION, SeededRandom, serializeSafetensors, VOLUNTEER_NAMESPACE,
  weightsToHfTensors, type Ack, type ClientCapabilities, type ModelList,
} from '@fedllm/core';
import { Coordinator } from '../src/coordinator/coordinator';
import { ModelCatalog, ModelChangedError } from '../src/coordinator/modelCatalog';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';

const TOKEN = 'models-admin-token';
const caps: ClientCapabilities = {
  adapter: { vendor: 'node-bot', architecture: 'cpu', description: 'CPU reference engine', isFallbackAdapter: true },
  limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27 }, features: [], budgetBytes: 64 * 2 ** 20, budgetSource: 'preset', dataSource: 'assigned', label: 'bot',
};

const work = await mkdtemp(join(tmpdir(), 'run-models-'));
const root = join(work, 'models');
await cp(DEFAULT_MODEL_DIR, join(root, 'tiny-brown-llama'), { recursive: true });
// The second model: the default's architecture cut to 2 layers, random weights, the same tokenizer.
const small = join(root, 'small-2-layers');
await mkdir(small);
const hf = { ...JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'config.json'), 'utf8')), num_hidden_layers: 2 };
const cfg = parseHfConfig(hf);
await writeFile(join(small, 'config.json'), JSON.stringify(hf));
await writeFile(join(small, 'model.safetensors'), serializeSafetensors(weightsToHfTensors(cfg, initLlamaWeights(cfg, new SeededRandom(7)))));
for (const f of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(DEFAULT_MODEL_DIR, f), join(small, f));
// Not models: a directory without config.json, and one whose config does not parse.
await mkdir(join(root, 'notes'));
await mkdir(join(root, 'broken'));
await writeFile(join(root, 'broken', 'config.json'), '{"model_type": "gpt2"}');

const coordinator = await Coordinator.start({
  modelDir: join(root, 'tiny-brown-llama'), dbPath: join(work, 'state.db'), runsDir: join(work, 'runs'), webRoot: join(work, 'no-web'), port: 0,
  adminToken: TOKEN, log: () => {}, defaultRun: false,
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

async function admin(): Promise<Socket> {
  const s = connect(ADMIN_NAMESPACE, { token: TOKEN });
  await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('connect_error', j); });
  return s;
}

async function emit<T = Record<string, unknown>>(s: Socket, event: string, ...args: unknown[]): Promise<Ack<T>> {
  return (await s.timeout(30_000).emitWithAck(event, ...args)) as Ack<T>;
}

const RUN = { rounds: 1, clientsPerRound: 1, minClients: 1, localSteps: 1, batch: 2, seqLen: 32, evalExamples: 8, lora: { rank: 2, alpha: 4, targets: ['q', 'v'] } };

test('listModels and createRun need the admin token', async () => {
  const s = connect(ADMIN_NAMESPACE, { token: 'wrong' });
  const err = await new Promise<Error>((r) => s.once('connect_error', r));
  assert.match(err.message, /unauthorized/);
});

test('listModels lists the model directories under the root', async () => {
  const a = await emit<ModelList>(await admin(), 'listModels');
  assert.ok(a.ok, JSON.stringify(a));
  if (!a.ok) return;
  assert.deepEqual(a.models.map((m) => m.name), ['small-2-layers', 'tiny-brown-llama']);
  assert.equal(a.defaultModel, 'tiny-brown-llama');
  const s = a.models[0];
  assert.deepEqual({ ...s, weightsBytes: 0 }, { name: 'small-2-layers', architecture: 'LlamaForCausalLM', numLayers: 2, hiddenSize: 128, vocabSize: 1024, weightsBytes: 0 });
  assert.ok(s.weightsBytes > 0 && s.weightsBytes < a.models[1].weightsBytes);
});

test('a modelDir that is a path, outside the root or not a model is refused on its field', async () => {
  const s = await admin();
  for (const modelDir of ['../x', '/etc', '..', 'a/b', 'missing', 'notes', 'broken', 5]) {
    const a = await emit(s, 'createRun', { ...RUN, modelDir });
    assert.equal(a.ok, false, `modelDir ${JSON.stringify(modelDir)} was accepted`);
    if (!a.ok) {
      assert.equal(a.error.code, 'bad-settings', a.error.message);
      assert.equal(a.error.field, 'modelDir', a.error.message);
    }
  }
});

test('a run on the second model: served, planned and snapshotted with its 2 layers', { timeout: 120_000 }, async () => {
  const s = await admin();
  const created = await emit<{ runId: string }>(s, 'createRun', { ...RUN, name: 'small', modelDir: 'small-2-layers' });
  assert.ok(created.ok, JSON.stringify(created));
  if (!created.ok) return;
  const started = await emit(s, 'start', { runId: created.runId });
  assert.ok(started.ok, JSON.stringify(started));

  const tab = connect(VOLUNTEER_NAMESPACE);
  await new Promise<void>((r) => tab.once('connect', () => r()));
  const assigned = new Promise<unknown>((resolve) => tab.once('assign', (a: unknown, ack: (x: unknown) => void) => {
    ack({ ok: true });
    resolve(a);
  }));
  const hello = await emit(tab, 'hello', { protocol: PROTOCOL_VERSION, capabilities: caps });
  assert.ok(hello.ok, JSON.stringify(hello));

  const a = assignmentSchema.parse(await assigned);
  assert.equal(a.runId, created.runId);
  assert.ok(a.plan.layers.length > 0);
  assert.ok(a.plan.layers.every((l) => l.index < 2), `plan layers ${a.plan.layers.map((l) => l.index)}`);

  const snap = coordinator.snapshot();
  assert.equal(snap.runId, created.runId);
  assert.equal(snap.model?.numLayers, 2);
  assert.equal(snap.model?.dir, small);
  assert.equal(a.model.configUrl, snap.model?.configUrl);
  const served = await (await fetch(`${coordinator.url}${snap.model!.configUrl}`)).json();
  assert.equal(parseHfConfig(served).numLayers, 2);
  // The tab's update limit follows the served model and the run's LoRA (smaller than the 6-layer model's).
  assert.ok((hello as unknown as { maxUpdateBytes: number }).maxUpdateBytes > 0);
});

test('a run whose model directory changed after it was created is refused', async () => {
  // A copy of the second model; a fresh catalog stands for a coordinator restarted after the files changed.
  const dir = join(work, 'changing');
  await cp(small, dir, { recursive: true });
  const id = (await new ModelCatalog(work, dir).load(dir)).parts.id;
  const run = { id: 'run-x', modelDir: dir, modelId: id };
  assert.equal((await new ModelCatalog(work, dir).forRun(run)).parts.id, id);
  await writeFile(join(dir, 'model.safetensors'), serializeSafetensors(weightsToHfTensors(cfg, initLlamaWeights(cfg, new SeededRandom(8)))));
  await assert.rejects(new ModelCatalog(work, dir).forRun(run), (e: unknown) => e instanceof ModelChangedError && /its files changed/.test((e as Error).message));
});
