/**
 * The per-round charts (Chart.js): held-out accuracy and losses, communication, peak GPU memory per
 * budget tier, round duration. They are redrawn from the run's committed rounds whenever the state
 * changes; each chart's <figure> carries data-points (points on its x axis) for tests.
 */
import { Chart, registerables, type ChartConfiguration } from 'chart.js';
import type { RoundSummary } from '@fedllm/core';
import { formatBytes, MiB } from '../volunteer/format';
import { byId } from './dom';

Chart.register(...registerables);
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.size = 11;

const BLUE = '#2e6fbd', GREEN = '#3a9a5b', ORANGE = '#d9822b', GREY = '#8a929c', RED = '#c0392b';

type Series = { label: string; color: string; axis?: string; dashed?: boolean };

function lineConfig(series: Series[], scales: NonNullable<ChartConfiguration<'line'>['options']>['scales']): ChartConfiguration<'line'> {
  return {
    type: 'line',
    data: {
      labels: [],
      datasets: series.map((s) => ({
        label: s.label, data: [], borderColor: s.color, backgroundColor: s.color, yAxisID: s.axis ?? 'y',
        borderDash: s.dashed ? [5, 4] : [], pointRadius: 3, tension: 0, spanGaps: true,
      })),
    },
    options: { scales, plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } } },
  };
}

function barConfig(series: Series[], yTitle: string): ChartConfiguration<'bar'> {
  return {
    type: 'bar',
    data: { labels: [], datasets: series.map((s) => ({ label: s.label, data: [], backgroundColor: s.color })) },
    options: {
      scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } }, x: { title: { display: true, text: 'round' } } },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    },
  };
}

export class RoundCharts {
  private readonly quality: Chart<'line'>;
  private readonly communication: Chart<'bar'>;
  private readonly memory: Chart<'bar'>;
  private readonly duration: Chart<'line'>;

  constructor() {
    const canvas = (id: string) => byId(id).querySelector('canvas')!;
    this.quality = new Chart(canvas('chart-quality'), lineConfig([
      { label: 'accuracy', color: GREEN, axis: 'acc' },
      { label: 'base accuracy', color: GREY, axis: 'acc', dashed: true },
      { label: 'eval loss', color: BLUE, axis: 'loss' },
      { label: 'train loss', color: ORANGE, axis: 'loss' },
    ], {
      acc: { position: 'left', min: 0, max: 1, title: { display: true, text: 'accuracy' } },
      loss: { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: 'loss' } },
      x: { offset: true, title: { display: true, text: 'round' } },
    }));
    this.communication = new Chart(canvas('chart-communication'), barConfig([
      { label: 'up (tabs → coordinator)', color: GREEN }, { label: 'down (coordinator → tabs)', color: BLUE },
    ], 'MiB'));
    const mem = barConfig([
      { label: 'budget', color: '#cfd5dc' }, { label: 'estimate', color: ORANGE }, { label: 'measured peak', color: BLUE },
    ], 'MiB');
    mem.options!.scales!.x = { title: { display: true, text: 'budget tier (highest over the rounds)' } };
    this.memory = new Chart(canvas('chart-memory'), mem);
    this.duration = new Chart(canvas('chart-duration'), lineConfig([{ label: 'duration (s)', color: RED }], {
      y: { beginAtZero: true, title: { display: true, text: 'seconds' } }, x: { offset: true, title: { display: true, text: 'round' } },
    }));
  }

  show(rounds: RoundSummary[], baseAccuracy: number | undefined): void {
    const labels = rounds.map((r) => String(r.round));
    const finite = (v: number) => (Number.isFinite(v) ? v : null);
    setData(this.quality, 'chart-quality', labels, [
      rounds.map((r) => finite(r.accuracy)), rounds.map(() => baseAccuracy ?? null),
      rounds.map((r) => finite(r.evalLoss)), rounds.map((r) => finite(r.trainLoss)),
    ]);
    setData(this.communication, 'chart-communication', labels, [rounds.map((r) => r.bytesUp / MiB), rounds.map((r) => r.bytesDown / MiB)]);
    setData(this.duration, 'chart-duration', labels, [rounds.map((r) => r.durationMs / 1000)]);

    const tiers = new Map<number, { estimate: number; peak: number | null }>();
    for (const r of rounds) {
      for (const c of r.clients) {
        const t = tiers.get(c.budgetBytes) ?? { estimate: 0, peak: null };
        t.estimate = Math.max(t.estimate, c.estimateBytes);
        if (c.peakBytes !== undefined) t.peak = Math.max(t.peak ?? 0, c.peakBytes);
        tiers.set(c.budgetBytes, t);
      }
    }
    const budgets = [...tiers.keys()].sort((a, b) => a - b);
    setData(this.memory, 'chart-memory', budgets.map((b) => formatBytes(b)), [
      budgets.map((b) => b / MiB), budgets.map((b) => tiers.get(b)!.estimate / MiB), budgets.map((b) => (tiers.get(b)!.peak ?? Number.NaN) / MiB),
    ]);
  }
}

function setData(chart: Chart<'line'> | Chart<'bar'>, id: string, labels: string[], series: (number | null)[][]): void {
  chart.data.labels = labels;
  series.forEach((d, i) => { chart.data.datasets[i].data = d as never; });
  chart.update('none');
  byId(id).dataset.points = String(labels.length);
}
