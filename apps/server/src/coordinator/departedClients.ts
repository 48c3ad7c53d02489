/**
 * Tabs that left, remembered for the dashboard with why (the registry forgets a tab when its
 * socket closes). Fed with the registry's membership on every change: an id that was there and is
 * gone has departed; one that comes back is forgotten again. Bounded: the newest MAX are kept.
 */
import type { ClientSnapshot } from '@fedllm/core';

const MAX = 50;

export class DepartedClients {
  private present = new Map<string, ClientSnapshot>();
  private readonly gone = new Map<string, ClientSnapshot>();

  /** `now`: the connected tabs as the dashboard shows them. */
  update(now: ClientSnapshot[], at = Date.now()): void {
    const ids = new Set(now.map((c) => c.clientId));
    for (const [id, last] of this.present) {
      if (!ids.has(id)) this.gone.set(id, { ...last, connected: false, state: 'dropped', lastSeen: Math.max(last.lastSeen, at), reason: last.reason ?? 'the tab disconnected' });
    }
    for (const id of ids) this.gone.delete(id);
    while (this.gone.size > MAX) this.gone.delete(this.gone.keys().next().value!);
    this.present = new Map(now.map((c) => [c.clientId, c]));
  }

  list(): ClientSnapshot[] {
    return [...this.gone.values()].reverse();
  }
}
