/**
 * The admin namespace: run control (create, start, pause, resume, stop, configure) and live state.
 * The token is checked when the socket connects, before any event is accepted, with a
 * constant-time comparison; a socket without it never gets a connection.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Namespace } from 'socket.io';
import {
  errorAck, parseMessage, ProtocolError, runHistoryRequestSchema, type Ack, type CoordinatorSnapshot, type RunHistory, type RunHistoryEntry,
  type RunSettingsInput,
} from '@fedllm/core';

export interface AdminActions {
  createRun(settings: unknown): string;
  start(runId: string): void;
  pause(runId: string): void;
  resume(runId: string): void;
  stop(runId: string): void;
  configure(runId: string, settings: unknown): void;
  snapshot(): CoordinatorSnapshot;
  listRuns(): RunHistoryEntry[];
  runHistory(runId: string): RunHistory;
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
export function tokenMatches(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest(), b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function runIdOf(req: unknown): string {
  const id = (req as { runId?: unknown } | null)?.runId;
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw new ProtocolError('bad-message', 'request needs a "runId" string');
  return id;
}

export function attachAdminNamespace(nsp: Namespace, token: string, actions: AdminActions, log: (m: string) => void): void {
  nsp.use((socket, next) => {
    if (tokenMatches(socket.handshake.auth?.token, token)) return next();
    log(`admin connection refused from ${socket.handshake.address}: missing or wrong token`);
    next(new Error('unauthorized: the admin token is missing or wrong'));
  });
  nsp.on('connection', (socket) => {
    const on = (event: string, fn: (req: unknown) => Record<string, unknown> | void) => {
      socket.on(event, (...args: unknown[]) => {
        const ack = args[args.length - 1];
        if (typeof ack !== 'function') return;
        try {
          (ack as (a: Ack<Record<string, unknown>>) => void)({ ok: true, ...(fn(args[0]) ?? {}) });
        } catch (e) {
          (ack as (a: unknown) => void)(errorAck(e));
        }
      });
    };
    on('createRun', (req) => ({ runId: actions.createRun(req as RunSettingsInput) }));
    on('start', (req) => actions.start(runIdOf(req)));
    on('pause', (req) => actions.pause(runIdOf(req)));
    on('resume', (req) => actions.resume(runIdOf(req)));
    on('stop', (req) => actions.stop(runIdOf(req)));
    on('configure', (req) => actions.configure(runIdOf(req), (req as { settings?: unknown }).settings));
    on('snapshot', () => ({ state: actions.snapshot() }));
    on('listRuns', () => ({ runs: actions.listRuns() }));
    on('runHistory', (req) => ({ ...actions.runHistory(parseMessage(runHistoryRequestSchema, req, 'runHistory').runId) }));
    socket.emit('state', actions.snapshot());
  });
}
