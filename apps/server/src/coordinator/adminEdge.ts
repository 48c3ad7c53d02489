/**
 * The admin namespace: run control (create, start, pause, resume, stop, configure), the models a
 * run can use, and live state.
 * The token is checked when the socket connects, before any event is accepted, with a
 * constant-time comparison; a socket without it never gets a connection.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Namespace } from 'socket.io';
import {
  errorAck, parseMessage, ProtocolError, runHistoryRequestSchema, type Ack, type CoordinatorSnapshot, type ModelList, type RunHistory,
  type RunHistoryEntry,
} from '@fedllm/core';

export interface AdminActions {
  /** Settings plus an optional modelDir; both are validated by the coordinator (field-level errors). */
  createRun(request: unknown): Promise<string>;
  start(runId: string): Promise<void> | void;
  pause(runId: string): void;
  resume(runId: string): void;
  stop(runId: string): void;
  configure(runId: string, settings: unknown): void;
  snapshot(): CoordinatorSnapshot;
  listRuns(): RunHistoryEntry[];
  runHistory(runId: string): RunHistory;
  listModels(): Promise<ModelList>;
}

type Reply = Record<string, unknown> | void;

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
    // Handlers may be async (loading a model); the ack waits for them, and a throw either way is a typed refusal.
    const on = (event: string, fn: (req: unknown) => Reply | Promise<Reply>) => {
      socket.on(event, (...args: unknown[]) => {
        const ack = args[args.length - 1];
        if (typeof ack !== 'function') return;
        const req = args.length > 1 ? args[0] : undefined;
        Promise.resolve().then(() => fn(req)).then(
          (r) => (ack as (a: Ack<Record<string, unknown>>) => void)({ ok: true, ...(r ?? {}) }),
          (e: unknown) => (ack as (a: unknown) => void)(errorAck(e)),
        );
      });
    };
    on('createRun', async (req) => ({ runId: await actions.createRun(req) }));
    on('start', async (req) => actions.start(runIdOf(req)));
    on('pause', (req) => actions.pause(runIdOf(req)));
    on('resume', (req) => actions.resume(runIdOf(req)));
    on('stop', (req) => actions.stop(runIdOf(req)));
    on('configure', (req) => actions.configure(runIdOf(req), (req as { settings?: unknown }).settings));
    on('snapshot', () => ({ state: actions.snapshot() }));
    on('listRuns', () => ({ runs: actions.listRuns() }));
    on('listModels', async () => ({ ...(await actions.listModels()) }));
    on('runHistory', (req) => ({ ...actions.runHistory(parseMessage(runHistoryRequestSchema, req, 'runHistory').runId) }));
    socket.emit('state', actions.snapshot());
  });
}
