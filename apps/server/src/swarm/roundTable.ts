/** The swarm's per-round report: one block per round, one row per tab. */
import type { RoundSummary } from '@fedllm/core';
import { formatBytes } from './byteSize';

export function formatRoundTable(r: RoundSummary): string {
  const head = `round ${r.round}: accuracy ${r.accuracy.toFixed(3)}  eval loss ${r.evalLoss.toFixed(4)}  train loss ${r.trainLoss.toFixed(4)}  ` +
    `${r.participants} update(s)  up ${formatBytes(r.bytesUp)}  down ${formatBytes(r.bytesDown)}  ${(r.durationMs / 1000).toFixed(1)} s`;
  const rows = [['client', 'status', 'layers kept', 'plan', 'estimate', 'peak', 'budget', 'peak<=budget', 'up', 'down', 'loss', 'tok/s']];
  for (const c of r.clients) {
    rows.push([
      c.label ?? c.clientId.slice(0, 8), c.status, String(c.layersKept), c.plan, formatBytes(c.estimateBytes), formatBytes(c.peakBytes), formatBytes(c.budgetBytes),
      c.peakBytes === undefined ? '-' : c.peakBytes <= c.budgetBytes ? 'yes' : 'NO', formatBytes(c.bytesUp), formatBytes(c.bytesDown),
      c.trainLoss === undefined ? '-' : c.trainLoss.toFixed(4), c.tokensPerSecond === undefined ? '-' : c.tokensPerSecond.toFixed(0),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return [head, ...rows.map((row) => '  ' + row.map((v, i) => v.padEnd(widths[i])).join('  '))].join('\n');
}
