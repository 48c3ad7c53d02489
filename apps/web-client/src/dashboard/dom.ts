/** Small DOM helpers for the dashboard's parts. */

/** The element with this id; a missing one is a bug in dashboard.html, so say which. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`dashboard: dashboard.html has no element #${id}`);
  return e as T;
}

/** A new element with text or children, and optional class and data attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K, o: { text?: string; className?: string; title?: string; data?: Record<string, string> } = {}, children: Node[] = [],
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (o.text !== undefined) e.textContent = o.text;
  if (o.className) e.className = o.className;
  if (o.title) e.title = o.title;
  for (const [k, v] of Object.entries(o.data ?? {})) e.dataset[k] = v;
  e.append(...children);
  return e;
}

/** "12 s ago", "3 min ago". */
export function ago(t: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - t) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
