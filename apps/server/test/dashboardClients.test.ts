// The dashboard's rows of tabs: a connected tab joined with its current or last assignment, a tab
// too small for any plan shown as rejected with why, and tabs that leave remembered as dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientSnapshot, RoundSummary } from '@fedllm/core';
import { clientView } from '../src/coordinator/clientView';
import { DepartedClients } from '../src/coordinator/departedClients';
import type { ConnectedClient } from '../src/coordinator/clientRegistry';
import type { TaskRecord } from '../src/coordinator/roundAttempt';

function tab(id: string, over: Partial<ConnectedClient> = {}): ConnectedClient {
  return {
    clientId: id, socketId: `s-${id}`, state: 'idle', connectedAt: 1, lastSeen: 2, bytesUp: 10, bytesDown: 20,
    capabilities: { label: id, budgetBytes: 8 << 20, adapter: { vendor: 'google', description: 'SwiftShader' } } as ConnectedClient['capabilities'],
    send: () => {}, assign: async () => ({ ok: true }),
    ...over,
  };
}

const round0: RoundSummary = {
  round: 0, accuracy: 0.7, evalLoss: 1, trainLoss: 1, participants: 1, bytesUp: 1, bytesDown: 1, durationMs: 1,
  clients: [{ clientId: 'a', plan: '0,2', layersKept: 2, budgetBytes: 8 << 20, estimateBytes: 5, peakBytes: 4, bytesUp: 1, bytesDown: 1, status: 'received', tokensPerSecond: 99 }],
};

test('a tab shows its open assignment first, else its last committed one', () => {
  const last = clientView(tab('a'), [], [round0]);
  assert.equal(last.round, 0);
  assert.equal(last.plan, '0,2');
  assert.equal(last.peakBytes, 4);
  assert.equal(last.tokensPerSecond, 99);
  assert.equal(last.bytesDown, 20);
  assert.equal(last.adapter, 'google SwiftShader');
  const open: Omit<TaskRecord, 'task'> = {
    taskId: 't', clientId: 'a', round: 1, plan: { layers: [{ index: 1, attention: true, mlp: false }] }, budgetBytes: 8 << 20, estimateBytes: 7,
    shard: 0, issuedAt: 0, deadline: 0, status: 'assigned', bytesDown: 0, bytesUp: 0,
  };
  const now = clientView(tab('a', { state: 'training' }), [open], [round0]);
  assert.equal(now.round, 1);
  assert.equal(now.plan, '1a');
  assert.equal(now.estimateBytes, 7);
  assert.equal(now.state, 'training');
  const failed = clientView(tab('a'), [{ ...open, status: 'failed', reason: 'out-of-memory: boom' }], [round0]);
  assert.equal(failed.reason, 'out-of-memory: boom');
});

test('a tab below the smallest plan is shown as rejected, with the reason', () => {
  const v = clientView(tab('b', { lastError: 'budget 1048576 B is below the smallest plan (6000000 B): too small' }), [], []);
  assert.equal(v.state, 'rejected');
  assert.match(v.reason!, /below the smallest plan/);
});

test('tabs that leave are listed as dropped until they come back', () => {
  const d = new DepartedClients();
  const a = clientView(tab('a'), [], []), b = clientView(tab('b'), [], []);
  d.update([a, b]);
  assert.deepEqual(d.list(), []);
  d.update([a], 100);
  const gone: ClientSnapshot[] = d.list();
  assert.equal(gone.length, 1);
  assert.equal(gone[0].clientId, 'b');
  assert.equal(gone[0].connected, false);
  assert.equal(gone[0].state, 'dropped');
  assert.match(gone[0].reason!, /disconnected/);
  d.update([a, b]);
  assert.deepEqual(d.list(), []);
});
