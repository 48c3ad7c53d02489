/**
 * The budget section: shows what the probe found (or the preset), and the input where the
 * volunteer may lower the budget. State for tests and the swarm is on #budget's data attributes.
 */
import type { BudgetProbeResult } from '../budgetProbe';
import { budgetInputDefault, chooseBudget, type BudgetChoice, type BudgetOffer } from './budgetChoice';
import { byId, fillDetails } from './dom';
import { formatBytes } from './format';

const STOP_WORDS: Record<BudgetProbeResult['stoppedBy'], string> = {
  cap: 'reached the probe cap',
  'out-of-memory': 'the GPU ran out of memory',
  'allocation-error': 'an allocation was refused',
  'device-lost': 'the GPU device was lost',
  'time-limit': 'the probe ran out of time',
};

/** The offer as the input shows it (rounded down), so that the summary and the input read the same figure. */
const inputMiB = (offer: BudgetOffer) => `${budgetInputDefault(offer)} MiB`;

export class BudgetControl {
  private offer: BudgetOffer | undefined;
  private choice: BudgetChoice = { ok: false, error: 'the budget is not known yet' };
  private readonly section = byId('budget');
  private readonly input = byId<HTMLInputElement>('budget-input');
  private readonly error = byId('budget-error');

  constructor(private readonly onChange: () => void) {
    this.input.addEventListener('input', () => this.update());
  }

  /** The budget to join with, or why there is none. */
  current(): BudgetChoice {
    return this.choice;
  }

  /** Locks the input while the tab is training (the coordinator already has the budget). */
  setLocked(locked: boolean): void {
    this.input.disabled = locked || !this.offer;
  }

  showProbing(capBytes: number): void {
    this.section.dataset.state = 'probing';
    byId('budget-summary').textContent = `Measuring how much GPU memory this tab can allocate (at most ${formatBytes(capBytes)})…`;
  }

  showPreset(bytes: number): void {
    fillDetails(byId('budget-details'), [['Source', 'set by the page address (?budget=); no probe was run']]);
    const offer: BudgetOffer = { estimateBytes: bytes, source: 'preset' };
    this.offerBudget(offer, `Budget preset to ${inputMiB(offer)}.`);
  }

  showProbe(r: BudgetProbeResult): void {
    this.section.dataset.probeCapBytes = String(r.capBytes);
    this.section.dataset.probeAllocatedBytes = String(r.allocatedBytes);
    fillDetails(byId('budget-details'), [
      ['Allocated', `${formatBytes(r.allocatedBytes)} in ${r.chunks} buffer(s) of ${formatBytes(r.chunkBytes)}, then released`],
      ['Stopped because', `${STOP_WORDS[r.stoppedBy]}${r.detail ? ` (${r.detail})` : ''}`],
      ['Probe cap', formatBytes(r.capBytes)],
      ['Safety factor', `${r.safetyFactor} (headroom for other tabs, the driver and fragmentation)`],
      ['Probe time', `${r.ms.toFixed(0)} ms`],
    ]);
    if (r.budgetBytes <= 0) return this.showUnavailable(`The probe could not allocate GPU memory (${STOP_WORDS[r.stoppedBy]}); this tab cannot train.`);
    const offer: BudgetOffer = { estimateBytes: r.budgetBytes, source: 'probe' };
    this.offerBudget(offer, `Estimated budget: ${inputMiB(offer)} (${r.safetyFactor} of the ${formatBytes(r.allocatedBytes)} allocated). You may lower it.`);
  }

  showUnavailable(reason: string): void {
    this.offer = undefined;
    this.section.dataset.state = 'unavailable';
    byId('budget-summary').textContent = reason;
    this.input.disabled = true;
    this.choice = { ok: false, error: reason };
    this.onChange();
  }

  private offerBudget(offer: BudgetOffer, summary: string): void {
    this.offer = offer;
    this.section.dataset.state = 'ready';
    this.section.dataset.estimateBytes = String(offer.estimateBytes);
    byId('budget-summary').textContent = summary;
    this.input.value = budgetInputDefault(offer);
    this.input.max = budgetInputDefault(offer);
    this.input.disabled = false;
    this.update();
  }

  private update(): void {
    if (!this.offer) return;
    this.choice = chooseBudget(this.input.value, this.offer);
    const c = this.choice;
    this.section.dataset.valid = String(c.ok);
    this.section.dataset.budgetBytes = c.ok ? String(c.bytes) : '';
    this.section.dataset.source = c.ok ? c.source : '';
    this.error.hidden = c.ok;
    this.error.textContent = c.ok ? '' : c.error;
    this.input.setAttribute('aria-invalid', String(!c.ok));
    this.onChange();
  }
}
