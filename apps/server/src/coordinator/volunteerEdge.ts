/**
 * The volunteer namespace: tabs say hello with their capabilities, receive assignments, and send
 * updates or failures. Every inbound message is validated here, at the edge; a refused message
 * gets an ack with a typed error and changes nothing, and the socket stays usable.
 */
import { randomUUID } from 'node:crypto';
import type { Namespace, Socket } from 'socket.io';
import {
  errorAck, failureSchema, helloSchema, parseMessage, PROTOCOL_VERSION, ProtocolError, updateMetaSchema, type Ack, type AssignmentWire,
} from '@fedllm/core';
import type { ClientRegistry, ConnectedClient } from './clientRegistry';
import type { FederatedRun } from './federatedRun';
import { ASSIGN_ACK_TIMEOUT_MS } from './coordinatorLimits';

export interface VolunteerEdgeDeps {
  registry: ClientRegistry;
  activeRun: () => FederatedRun | undefined;
  maxUpdateBytes: () => number;
  log: (msg: string) => void;
  onClientSeen: (c: ConnectedClient) => void;
}

type AckFn = (a: Ack<Record<string, unknown>>) => void;

/** Wraps a handler: ignores events without an ack callback, answers errors as typed acks. */
function handler(socket: Socket, fn: (args: unknown[]) => Record<string, unknown> | void, log: (m: string) => void) {
  return (...args: unknown[]) => {
    const ack = args[args.length - 1];
    if (typeof ack !== 'function') return; // every volunteer event is acknowledged; others are noise
    try {
      const r = fn(args.slice(0, -1));
      (ack as AckFn)({ ok: true, ...(r ?? {}) });
    } catch (e) {
      const body = errorAck(e);
      log(`refused message from ${socket.id}: ${body.error.code}: ${body.error.message}`);
      (ack as AckFn)(body);
    }
  };
}

/**
 * Emits an assignment and waits for the tab's ack; rejects on timeout or as soon as the socket
 * disconnects (socket.io would leave the ack timer running until it fires).
 */
function assignWithAck(socket: Socket, payload: AssignmentWire): Promise<Ack> {
  return new Promise((resolve, reject) => {
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      socket.off('disconnect', onGone);
      fn();
    };
    const onGone = () => settle(() => reject(new Error('the tab disconnected before acknowledging')));
    const timer = setTimeout(() => settle(() => reject(new Error(`no acknowledgement within ${ASSIGN_ACK_TIMEOUT_MS} ms`))), ASSIGN_ACK_TIMEOUT_MS);
    socket.once('disconnect', onGone);
    socket.emit('assign', payload, (ack: Ack) => settle(() => resolve(ack)));
  });
}

export function attachVolunteerNamespace(nsp: Namespace, d: VolunteerEdgeDeps): void {
  nsp.on('connection', (socket) => {
    let client: ConnectedClient | undefined;
    const need = (): ConnectedClient => {
      if (!client) throw new ProtocolError('bad-message', 'say hello first');
      client.lastSeen = Date.now();
      return client;
    };

    socket.on('hello', handler(socket, ([raw]) => {
      const h = parseMessage(helloSchema, raw, 'hello');
      if (h.protocol !== PROTOCOL_VERSION) throw new ProtocolError('unsupported-protocol', `protocol ${h.protocol} is not supported; this coordinator speaks ${PROTOCOL_VERSION}`);
      const now = Date.now();
      client = {
        clientId: h.clientId ?? randomUUID(), socketId: socket.id, capabilities: h.capabilities, state: 'idle',
        connectedAt: now, lastSeen: now, bytesUp: 0, bytesDown: 0,
        send: (event, payload) => socket.emit(event, payload),
        assign: (payload) => assignWithAck(socket, payload),
      };
      d.registry.add(client);
      d.onClientSeen(client);
      d.log(`tab ${h.capabilities.label ?? client.clientId} joined: budget ${h.capabilities.budgetBytes} B, ${h.capabilities.adapter.description || h.capabilities.adapter.vendor || 'unknown adapter'}`);
      return { clientId: client.clientId, maxUpdateBytes: d.maxUpdateBytes() };
    }, d.log));

    socket.on('update', handler(socket, ([rawMeta, blob]) => {
      const c = need();
      const meta = parseMessage(updateMetaSchema, rawMeta, 'update');
      if (!(blob instanceof Uint8Array) && !(blob instanceof ArrayBuffer)) throw new ProtocolError('bad-message', 'update needs the adapter as binary safetensors');
      const bytes = blob instanceof Uint8Array ? blob : new Uint8Array(blob);
      const run = d.activeRun();
      if (!run) throw new ProtocolError('run-not-active', 'no run is active');
      run.acceptUpdate(c, meta, bytes, bytes.byteLength + JSON.stringify(meta).length);
      d.onClientSeen(c);
    }, d.log));

    socket.on('failed', handler(socket, ([raw]) => {
      const c = need();
      const f = parseMessage(failureSchema, raw, 'failure report');
      const run = d.activeRun();
      if (!run) throw new ProtocolError('run-not-active', 'no run is active');
      c.lastError = `${f.code}: ${f.message}`;
      run.acceptFailure(c, f);
      d.log(`tab ${c.capabilities.label ?? c.clientId} failed task ${f.taskId}: ${f.code}: ${f.message}`);
      d.onClientSeen(c);
    }, d.log));

    socket.on('disconnect', (reason) => {
      const c = d.registry.remove(socket.id);
      if (!c) return;
      d.log(`tab ${c.capabilities.label ?? c.clientId} left (${reason})`);
      d.activeRun()?.clientGone(c.clientId);
    });
  });
}
