/**
 * The progress section: what the tab is doing (state, round, loss, speed, traffic, peak GPU
 * memory against the budget, the plan) and the latest message. The same figures are on
 * #progress's data attributes, for tests and the headless swarm.
 */
import type { VolunteerProgress } from '../federated/volunteerClient';
import { byId, fillDetails } from './dom';
import { formatBytes, formatNumber } from './format';
import { renderSparkline } from './lossSparkline';
import { renderPlan } from './planPicture';

/** Rounds whose final loss the panel lists. */
const HISTORY = 8;

export class ProgressPanel {
  private readonly root = byId('progress');
  /** Final local loss per round, newest last. */
  private history: { round: number; loss: number }[] = [];
  /** The client hands out a new losses array per finished assignment: a new one is a new entry. */
  private lastLosses: readonly number[] | undefined;

  /** Shown before joining and after leaving. */
  reset(state: string, message: string): void {
    this.root.dataset.state = state;
    byId('progress-message').textContent = message;
  }

  /** Before joining (and after leaving): the budget this tab would join with, 0 while there is none. */
  showOffer(budgetBytes: number): void {
    this.root.dataset.budgetBytes = String(budgetBytes);
  }

  /**
   * @param extraBytesReceived bytes this page fetched outside the client (the tokenizer of a local file).
   */
  show(p: VolunteerProgress, extraBytesReceived = 0): void {
    const received = p.bytesReceived + extraBytesReceived;
    if (p.losses && p.losses !== this.lastLosses && p.lastLoss !== undefined && p.round !== undefined) {
      this.lastLosses = p.losses;
      this.history = [...this.history, { round: p.round, loss: p.lastLoss }].slice(-HISTORY);
    }
    const d = this.root.dataset;
    d.state = p.state;
    d.round = p.round === undefined ? '' : String(p.round);
    d.roundsDone = String(p.roundsDone);
    d.lastLoss = p.lastLoss === undefined ? '' : String(p.lastLoss);
    d.tokensPerSecond = p.tokensPerSecond === undefined ? '' : String(p.tokensPerSecond);
    d.peakBytes = String(p.peakBytes ?? 0);
    d.budgetBytes = String(p.budgetBytes);
    d.bytesSent = String(p.bytesSent);
    d.bytesReceived = String(received);
    fillDetails(byId('progress-details'), [
      ['State', p.state],
      ['Round', p.round === undefined ? '–' : String(p.round)],
      ['Rounds done', String(p.roundsDone)],
      ['Local loss', formatNumber(p.lastLoss, 4)],
      ['Recent rounds', this.history.map((h) => `r${h.round}: ${h.loss.toFixed(3)}`).join(', ') || '–'],
      ['Tokens/s', formatNumber(p.tokensPerSecond, 0)],
      ['Sent / received', `${formatBytes(p.bytesSent)} / ${formatBytes(received)}`],
    ]);
    renderSparkline(byId<SVGSVGElement>('progress-sparkline'), p.losses ?? []);
    const peak = p.peakBytes ?? 0;
    const fill = byId('progress-memory-fill');
    fill.style.width = `${Math.min(100, (100 * peak) / p.budgetBytes).toFixed(1)}%`;
    fill.classList.toggle('over', peak > p.budgetBytes);
    byId('progress-memory').textContent = `highest peak ${formatBytes(peak)} of ${formatBytes(p.budgetBytes)} budget` +
      (p.estimateBytes ? ` (this round's plan: ${formatBytes(p.estimateBytes)} estimated)` : '');
    renderPlan(byId('progress-plan'), p.numLayers, p.plan);
    byId('progress-message').textContent = p.message ?? '';
  }
}
