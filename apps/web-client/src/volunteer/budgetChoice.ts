/**
 * The budget the volunteer offers: the estimate (from the probe, or preset by the page address)
 * or a lower figure they type in MiB. Raising it above the estimate is refused: the estimate is
 * already what this GPU can be expected to hold.
 */
import type { ClientCapabilities } from '@fedllm/core';
import { MiB } from './format';

export type BudgetSource = ClientCapabilities['budgetSource'];

/** The largest budget on offer and where it comes from. */
export interface BudgetOffer {
  estimateBytes: number;
  source: Exclude<BudgetSource, 'user'>;
}

export type BudgetChoice = { ok: true; bytes: number; source: BudgetSource } | { ok: false; error: string };

/** Smallest budget a volunteer may set by hand; no plan of any model fits below it. */
export const MIN_USER_BUDGET_BYTES = 1 * MiB;

/** The input's initial text: the estimate in MiB, rounded down to 0.1 so it never reads above it. */
export function budgetInputDefault(offer: BudgetOffer): string {
  return (Math.floor((offer.estimateBytes / MiB) * 10) / 10).toFixed(1);
}

/** What the input's text (MiB) means: the estimate unchanged, a lower budget, or an error naming the valid range. */
export function chooseBudget(text: string, offer: BudgetOffer): BudgetChoice {
  const max = budgetInputDefault(offer);
  if (text.trim() === max) return { ok: true, bytes: offer.estimateBytes, source: offer.source };
  const range = `between ${(MIN_USER_BUDGET_BYTES / MiB).toFixed(0)} and ${max} MiB`;
  const mib = Number(text);
  if (text.trim() === '' || !Number.isFinite(mib)) return { ok: false, error: `enter the budget in MiB, ${range}` };
  const bytes = Math.floor(mib * MiB);
  if (bytes > offer.estimateBytes) return { ok: false, error: `the budget can only be lowered: at most ${max} MiB (the ${offer.source === 'probe' ? 'estimate' : 'preset'})` };
  if (bytes < MIN_USER_BUDGET_BYTES) return { ok: false, error: `too small: enter a budget ${range}` };
  return { ok: true, bytes, source: bytes === offer.estimateBytes ? offer.source : 'user' };
}
