/**
 * The page's URL parameters, for automation (the headless swarm) and operators:
 * - budget=<bytes>: the GPU budget, taken as given (source 'preset'; the probe is skipped);
 * - label=<name>: the name the coordinator shows for this tab;
 * - autojoin=1: join as soon as WebGPU is checked, without the consent click. Only for tabs whose
 *   operator has consented for them (the swarm's simulated tabs); a person opening the page gets
 *   the consent checkbox;
 * - server=<origin>: the coordinator (default: the origin that served this page);
 * - probeCap=<bytes>: the most the budget probe allocates (default: see budgetProbe.ts).
 */

export interface PageParams {
  budgetBytes?: number;
  label?: string;
  autojoin: boolean;
  /** Origin of the coordinator, or undefined for this page's own origin. */
  server?: string;
  probeCapBytes?: number;
  /** Parameters that were refused, with why; a page with errors does not join by itself. */
  errors: string[];
}

/** Longest label the protocol accepts (clientCapabilitiesSchema). */
export const MAX_LABEL_LENGTH = 64;

function positiveBytes(name: string, raw: string, errors: string[]): number | undefined {
  const v = Number(raw);
  if (/^\d+$/.test(raw.trim()) && Number.isSafeInteger(v) && v > 0) return v;
  errors.push(`${name}=${raw}: expected a positive whole number of bytes, e.g. ${name}=268435456 for 256 MiB`);
  return undefined;
}

/** Reads and validates the parameters of a page address's query string. */
export function parsePageParams(search: string): PageParams {
  const q = new URLSearchParams(search);
  const errors: string[] = [];
  const p: PageParams = { autojoin: false, errors };
  const budget = q.get('budget');
  if (budget !== null) p.budgetBytes = positiveBytes('budget', budget, errors);
  const cap = q.get('probeCap');
  if (cap !== null) p.probeCapBytes = positiveBytes('probeCap', cap, errors);
  const label = q.get('label');
  if (label !== null) {
    if (label.length > MAX_LABEL_LENGTH) errors.push(`label: at most ${MAX_LABEL_LENGTH} characters, got ${label.length}`);
    else if (label.length > 0) p.label = label;
  }
  const auto = q.get('autojoin');
  if (auto !== null) {
    if (['1', 'true'].includes(auto)) p.autojoin = true;
    else if (!['0', 'false'].includes(auto)) errors.push(`autojoin=${auto}: expected 1 or 0`);
  }
  const server = q.get('server');
  if (server !== null) {
    try {
      const u = new URL(server);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
      p.server = u.origin;
    } catch {
      errors.push(`server=${server}: expected an http(s) origin such as https://coordinator.example:8080`);
    }
  }
  return p;
}
