/**
 * The dashboard's socket on the coordinator's admin namespace. The token goes in the handshake
 * (auth.token); the coordinator refuses the connection without the right one, so every control
 * action needs it. Acks are typed by AdminClientToServer; a refused request throws AdminRefusal
 * with the server's code, message and field.
 */
import { io, type Socket } from 'socket.io-client';
import { ADMIN_NAMESPACE, type Ack, type AdminClientToServer, type AdminServerToClient, type CoordinatorSnapshot, type RoundSummary } from '@fedllm/core';

export class AdminRefusal extends Error {
  override name = 'AdminRefusal';
  constructor(readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

export type ConnectionState = 'connecting' | 'connected' | 'refused' | 'disconnected';

export interface AdminConnectionEvents {
  onState(s: CoordinatorSnapshot): void;
  onRoundCommitted(r: RoundSummary & { runId: string }): void;
  onConnection(state: ConnectionState, detail?: string): void;
}

const ACK_TIMEOUT_MS = 30_000;

export class AdminConnection {
  private readonly socket: Socket<AdminServerToClient, AdminClientToServer>;

  constructor(token: string, ev: AdminConnectionEvents, url = location.origin) {
    this.socket = io(`${url}${ADMIN_NAMESPACE}`, { auth: { token }, transports: ['websocket'], reconnectionDelayMax: 5_000 });
    ev.onConnection('connecting');
    this.socket.on('connect', () => ev.onConnection('connected'));
    this.socket.on('disconnect', (reason) => ev.onConnection('disconnected', reason));
    this.socket.on('connect_error', (e) => {
      // A refused token is final: socket.io does not retry middleware refusals, and neither do we.
      const refused = /unauthorized/i.test(e.message);
      ev.onConnection(refused ? 'refused' : 'disconnected', e.message);
    });
    this.socket.on('state', (s) => ev.onState(s));
    this.socket.on('roundCommitted', (r) => ev.onRoundCommitted(r));
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  close(): void {
    this.socket.close();
  }

  /** Emits an admin event and returns its ack's payload; throws AdminRefusal when refused. */
  async request<E extends keyof AdminClientToServer>(event: E, ...args: RequestArgs<E>): Promise<AckPayload<E>> {
    if (!this.socket.connected) throw new AdminRefusal('not-connected', 'not connected to the coordinator (check the admin token)');
    const timed = this.socket.timeout(ACK_TIMEOUT_MS);
    const emit = timed.emitWithAck.bind(timed) as unknown as (e: E, ...a: unknown[]) => Promise<Ack<AckPayload<E>>>;
    const a = await emit(event, ...args);
    if (!a.ok) throw new AdminRefusal(a.error.code, a.error.message, a.error.field);
    return a as AckPayload<E>;
  }
}

type Params<E extends keyof AdminClientToServer> = Parameters<AdminClientToServer[E]>;
/** The event's arguments before its ack callback. */
type RequestArgs<E extends keyof AdminClientToServer> = Params<E> extends [...infer A, (a: never) => void] ? A : never;
/** What the event's ack carries when it succeeds. */
type AckPayload<E extends keyof AdminClientToServer> = Params<E> extends [...unknown[], (a: Ack<infer T>) => void] ? T : never;
