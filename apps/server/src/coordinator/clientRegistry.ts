/** The tabs connected to the volunteer namespace, and what each is doing now. */
import type { Ack, AssignmentWire, ClientCapabilities } from '@fedllm/core';

export type ClientState = 'idle' | 'training' | 'gone';

export interface ConnectedClient {
  clientId: string;
  socketId: string;
  capabilities: ClientCapabilities;
  state: ClientState;
  /** The assignment the tab is working on, if any. */
  taskId?: string;
  connectedAt: number;
  lastSeen: number;
  lastError?: string;
  /** Socket bytes this tab sent and received (adapters and batches), over its connection. */
  bytesUp: number;
  bytesDown: number;
  /** Send a cancel notice to the tab. */
  send: (event: 'cancel', payload: unknown) => void;
  /** Send an assignment; resolves with the tab's acknowledgement, rejects on timeout. */
  assign: (payload: AssignmentWire) => Promise<Ack>;
}

export class ClientRegistry {
  private readonly bySocket = new Map<string, ConnectedClient>();
  private readonly listeners = new Set<() => void>();

  add(c: ConnectedClient): void {
    // A tab that reconnects with its old clientId replaces its previous connection.
    for (const [sid, old] of this.bySocket) if (old.clientId === c.clientId) this.bySocket.delete(sid);
    this.bySocket.set(c.socketId, c);
    this.changed();
  }

  remove(socketId: string): ConnectedClient | undefined {
    const c = this.bySocket.get(socketId);
    if (c) {
      c.state = 'gone';
      this.bySocket.delete(socketId);
      this.changed();
    }
    return c;
  }

  bySocketId(socketId: string): ConnectedClient | undefined {
    return this.bySocket.get(socketId);
  }

  byClientId(clientId: string): ConnectedClient | undefined {
    for (const c of this.bySocket.values()) if (c.clientId === clientId) return c;
    return undefined;
  }

  all(): ConnectedClient[] {
    return [...this.bySocket.values()];
  }

  idle(): ConnectedClient[] {
    return this.all().filter((c) => c.state === 'idle');
  }

  /** Called on every join, leave and state change (the round loop waits on it). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(): void {
    for (const fn of this.listeners) fn();
  }
}
