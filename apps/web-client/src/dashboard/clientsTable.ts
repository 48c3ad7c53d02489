/**
 * The live table of tabs: connected ones first (adapter, budget, plan picture, state, round,
 * tokens/s, bytes, measured peak against the budget, last seen), then the ones that left or were
 * rejected, with why. The table's data-connected / data-departed count the rows (for tests).
 */
import type { ClientSnapshot } from '@fedllm/core';
import { formatBytes, formatNumber } from '../volunteer/format';
import { renderPlan } from '../volunteer/planPicture';
import { ago, byId, el } from './dom';
import { planFromText } from './planText';

export class ClientsTable {
  private readonly table = byId<HTMLTableElement>('clients');
  private readonly count = byId('clients-count');

  show(connected: ClientSnapshot[], departed: ClientSnapshot[], numLayers: number | undefined): void {
    const now = Date.now();
    const rows = [...connected, ...departed].map((c) => this.row(c, numLayers, now));
    if (rows.length === 0) {
      const td = el('td', { text: 'No tab has joined yet. Volunteers open the coordinator\'s page and press Join.', className: 'muted' });
      td.colSpan = 11;
      rows.push(el('tr', {}, [td]));
    }
    this.table.tBodies[0].replaceChildren(...rows);
    this.table.dataset.connected = String(connected.length);
    this.table.dataset.departed = String(departed.length);
    this.count.textContent = `${connected.length} connected${departed.length ? `, ${departed.length} left or rejected` : ''}`;
  }

  private row(c: ClientSnapshot, numLayers: number | undefined, now: number): HTMLTableRowElement {
    const plan = el('div', { className: 'plan' });
    renderPlan(plan, numLayers, planFromText(c.plan));
    const num = (text: string) => el('td', { text, className: 'num' });
    const tr = el('tr', { className: c.connected ? '' : 'departed', data: { clientId: c.clientId, state: c.state } }, [
      el('td', { text: c.label ?? c.clientId.slice(0, 8), title: c.clientId }),
      el('td', { text: c.adapter || '–' }),
      num(formatBytes(c.budgetBytes)),
      el('td', { title: c.plan ? `layers ${c.plan}` : 'no plan yet' }, [plan]),
      el('td', { text: c.taskStatus && c.state === 'idle' ? `idle (${c.taskStatus})` : c.state, className: 'state' }),
      num(c.round === undefined ? '–' : String(c.round)),
      num(formatNumber(c.tokensPerSecond, 0)),
      num(c.bytesUp === undefined ? '–' : `${formatBytes(c.bytesUp)} / ${formatBytes(c.bytesDown ?? 0)}`),
      el('td', {}, [this.meter(c)]),
      el('td', { text: ago(c.lastSeen, now) }),
      el('td', { text: c.reason ?? '', className: 'note' }),
    ]);
    return tr;
  }

  private meter(c: ClientSnapshot): HTMLElement {
    if (c.peakBytes === undefined) return el('span', { text: c.estimateBytes ? `est. ${formatBytes(c.estimateBytes)}` : '–', className: 'muted' });
    const frac = c.peakBytes / c.budgetBytes;
    const fill = el('div', { className: frac > 1 ? 'bar-fill over' : 'bar-fill' });
    fill.style.width = `${Math.min(100, frac * 100).toFixed(1)}%`;
    return el('span', { className: 'meter', title: `measured peak ${c.peakBytes} B of a ${c.budgetBytes} B budget` }, [
      el('span', { className: 'bar' }, [fill]),
      el('span', { text: `${formatBytes(c.peakBytes)} (${(frac * 100).toFixed(0)}%)` }),
    ]);
  }
}
