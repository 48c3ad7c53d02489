// A Node "bot" tab for coordinator tests: a second client implementation that downloads its plan's
// parts over HTTP and trains with the CPU engine (the WGSL engine's oracle).
import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import {
  assignmentSchema, PROTOCOL_VERSION, VOLUNTEER_NAMESPACE, type Ack, LlamaModel, LoraTrainer, loraFromPeft, loraToPeftTensors, parseHfConfig, parseSafetensors, peftAdapterConfig,
  serializeSafetensors, weightsFromHfTensors, type Assignment, type ClientCapabilities, type ModelConfig, type Tensor,
} from '@fedllm/core';

export const caps = (budgetBytes: number, label: string): ClientCapabilities => ({
  adapter: { vendor: 'node-bot', architecture: 'cpu', description: 'CPU reference engine', isFallbackAdapter: true },
  limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27 }, features: [], budgetBytes, budgetSource: 'preset', dataSource: 'assigned', label,
});

/** Trains the assignment on the CPU; returns the PEFT safetensors update and the config it fetched. */
export async function trainOnCpu(baseUrl: string, a: Assignment): Promise<{ bytes: Uint8Array; config: ModelConfig }> {
  const config = parseHfConfig(await (await fetch(`${baseUrl}${a.model.configUrl}`)).json());
  const tensors = new Map<string, Tensor>();
  for (const p of a.model.parts) {
    const bytes = new Uint8Array(await (await fetch(`${baseUrl}${p.url}`)).arrayBuffer());
    assert.equal(bytes.byteLength, p.bytes);
    for (const [n, t] of parseSafetensors(bytes)) tensors.set(n, t);
  }
  const model = new LlamaModel(config, weightsFromHfTensors(config, tensors, { plan: a.plan }));
  const lora = loraFromPeft(peftAdapterConfig({ config: a.lora, layers: new Map() }, config, 'x'), parseSafetensors(a.adapter), config, { plan: a.plan });
  const trainer = new LoraTrainer(model, lora, { lr: a.train.lr, clipNorm: a.train.clipNorm, plan: a.plan });
  assert.equal(a.data.kind, 'batches');
  if (a.data.kind !== 'batches') throw new Error('unreachable');
  const ids = new Int32Array(new Uint8Array(a.data.inputIds).buffer), tg = new Int32Array(new Uint8Array(a.data.targets).buffer);
  const n = a.train.batch * a.train.seqLen;
  for (let s = 0; s < a.train.steps; s++) {
    trainer.step({ B: a.train.batch, T: a.train.seqLen, inputIds: ids.subarray(s * n, (s + 1) * n), targets: tg.subarray(s * n, (s + 1) * n) });
  }
  return { bytes: serializeSafetensors(loraToPeftTensors(lora)), config };
}

/**
 * Connects a bot tab and says hello (as `clientId` when given); `assigned` resolves with its first
 * assignment, acknowledged.
 */
export async function joinBotTab(url: string, capabilities: ClientCapabilities, clientId?: string): Promise<{ tab: Socket; assigned: Promise<Assignment> }> {
  const tab = io(`${url}${VOLUNTEER_NAMESPACE}`, { transports: ['websocket'], reconnection: false });
  const assigned = new Promise<Assignment>((resolve) => tab.once('assign', (a: unknown, ack?: (x: unknown) => void) => {
    ack?.({ ok: true });
    resolve(assignmentSchema.parse(a));
  }));
  await new Promise<void>((r) => tab.once('connect', () => r()));
  const hello = (await tab.timeout(30_000).emitWithAck('hello', { protocol: PROTOCOL_VERSION, clientId, capabilities })) as Ack;
  assert.ok(hello.ok, JSON.stringify(hello));
  return { tab, assigned };
}
