/**
 * Past runs from the coordinator's store (admin `listRuns`), with their final metrics; ticked runs
 * are compared side by side: settings and results in columns, one per run.
 */
import type { RunHistoryEntry } from '@fedllm/core';
import { formatBytes, formatNumber } from '../volunteer/format';
import { byId, el } from './dom';

const COMPARED: [string, (r: RunHistoryEntry) => string][] = [
  ['status', (r) => r.status],
  ['task', (r) => r.task],
  ['method', (r) => (!r.settings ? '–' : !r.settings.strategy || r.settings.strategy === 'budget-planner' ? `planner, ${r.settings.aggregation ?? 'fedavg-factors'}` : r.settings.strategy)],
  ['plans', (r) => (r.settings ? `${r.settings.granularity}, ${r.settings.layerPick}` : '–')],
  ['rounds committed', (r) => `${r.committedRound + 1} / ${r.totalRounds}`],
  ['clients per round', (r) => String(r.settings?.clientsPerRound ?? '–')],
  ['LoRA rank / alpha', (r) => (r.settings ? `${r.settings.lora.rank} / ${r.settings.lora.alpha}` : '–')],
  ['LoRA targets', (r) => r.settings?.lora.targets.join(',') ?? '–'],
  ['lr', (r) => String(r.settings?.lr ?? '–')],
  ['local steps × batch × seq', (r) => (r.settings ? `${r.settings.localSteps} × ${r.settings.batch} × ${r.settings.seqLen}` : '–')],
  ['partition', (r) => (r.settings ? (r.settings.partition.kind === 'dirichlet' ? `dirichlet ${r.settings.partition.alpha}` : r.settings.partition.kind) : '–')],
  ['final accuracy', (r) => formatNumber(r.final?.accuracy ?? undefined, 3)],
  ['final eval loss', (r) => formatNumber(r.final?.evalLoss ?? undefined, 4)],
  ['final train loss', (r) => formatNumber(r.final?.trainLoss ?? undefined, 4)],
  ['bytes up / down', (r) => (r.final ? `${formatBytes(r.final.bytesUp)} / ${formatBytes(r.final.bytesDown)}` : '–')],
  ['time in rounds', (r) => (r.final ? `${(r.final.durationMs / 1000).toFixed(0)} s` : '–')],
  ['samples', (r) => String(r.samplesTotal)],
];

export class HistoryPanel {
  private readonly table = byId<HTMLTableElement>('history');
  private readonly compare = byId('compare');
  private runs: RunHistoryEntry[] = [];
  private readonly ticked = new Set<string>();

  show(runs: RunHistoryEntry[]): void {
    this.runs = runs;
    this.table.dataset.runs = String(runs.length);
    this.table.tBodies[0].replaceChildren(...runs.map((r) => {
      const box = el('input');
      box.type = 'checkbox';
      box.checked = this.ticked.has(r.id);
      box.setAttribute('aria-label', `compare ${r.id}`);
      box.addEventListener('change', () => {
        if (box.checked) this.ticked.add(r.id);
        else this.ticked.delete(r.id);
        this.renderCompare();
      });
      return el('tr', { data: { runId: r.id, status: r.status } }, [
        el('td', {}, [box]),
        el('td', { text: r.name, title: r.id }),
        el('td', { text: r.status }),
        el('td', { text: r.task }),
        el('td', { text: `${r.committedRound + 1} / ${r.totalRounds}`, className: 'num' }),
        el('td', { text: formatNumber(r.final?.accuracy ?? undefined, 3), className: 'num' }),
        el('td', { text: formatNumber(r.final?.evalLoss ?? undefined, 4), className: 'num' }),
        el('td', { text: r.final ? `${formatBytes(r.final.bytesUp)} / ${formatBytes(r.final.bytesDown)}` : '–', className: 'num' }),
        el('td', { text: new Date(r.createdAt).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }) }),
      ]);
    }));
    this.renderCompare();
  }

  private renderCompare(): void {
    const picked = this.runs.filter((r) => this.ticked.has(r.id));
    if (picked.length === 0) return void this.compare.replaceChildren();
    const head = el('tr', {}, [el('th', { text: '' }), ...picked.map((r) => el('th', { text: r.name, title: r.id }))]);
    const rows = COMPARED.map(([k, f]) => el('tr', {}, [el('td', { text: k }), ...picked.map((r) => el('td', { text: f(r) }))]));
    const table = el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)]);
    this.compare.replaceChildren(el('h3', { text: 'Side by side' }), table);
  }
}
