// The volunteer page: checks WebGPU, estimates a GPU memory budget (which the volunteer may
// lower), asks for consent, and then contributes training rounds from a worker, showing live
// progress. Each part lives in src/volunteer/; this file only wires them together.
import { DEFAULT_PROBE_CAP_BYTES, probeGpuBudget, SOFTWARE_ADAPTER_PROBE_CAP_BYTES } from './budgetProbe';
import type { VolunteerProgress } from './federated/volunteerClient';
import { probeWebGpu, type WebGpuProbe } from './webgpuProbe';
import { BudgetControl } from './volunteer/budgetControl';
import { byId } from './volunteer/dom';
import { renderGpuStatus } from './volunteer/gpuStatus';
import { LocalFileControl } from './volunteer/localFileControl';
import { MAX_LABEL_LENGTH, parsePageParams } from './volunteer/pageParams';
import { ProgressPanel } from './volunteer/progressPanel';
import { joinFederation, type VolunteerSession } from './volunteer/volunteerSession';

const params = parsePageParams(location.search);
const joinButton = byId<HTMLButtonElement>('join');
const leaveButton = byId<HTMLButtonElement>('leave');
const consent = byId<HTMLInputElement>('consent');
const labelInput = byId<HTMLInputElement>('label');
const hint = byId('join-hint');
const progress = new ProgressPanel();

let gpu: Extract<WebGpuProbe, { available: true }> | undefined;
let gpuProblem = 'Checking WebGPU…';
let phase: 'ready' | 'joining' | 'joined' = 'ready';
let session: VolunteerSession | undefined;
/** Identity of the live session; progress from an earlier one is ignored. */
let current: object | undefined;
/** Bytes of tokenizer downloads for a local file (the client counts everything else). */
let extraBytes = 0;
let lastProgress: VolunteerProgress | undefined;

const budget = new BudgetControl(refresh);
const data = new LocalFileControl({
  ...(params.server ? { baseUrl: params.server } : {}),
  onFetched: (n) => {
    extraBytes += n;
    if (lastProgress) progress.show(lastProgress, extraBytes);
  },
}, refresh);

/** Why Join cannot be pressed now, or undefined when it can; consent is optional for autojoin. */
function blocker(needConsent: boolean): string | undefined {
  if (phase !== 'ready') return phase === 'joined' ? 'Contributing; press Leave to stop.' : 'Joining…';
  if (!gpu) return gpuProblem;
  const b = budget.current();
  if (!b.ok) return `Budget: ${b.error}.`;
  const d = data.current();
  if (d.kind === 'invalid') return 'Pick another training file, or use the assigned data.';
  if (labelInput.value.length > MAX_LABEL_LENGTH) return `The name may have at most ${MAX_LABEL_LENGTH} characters.`;
  if (needConsent && !consent.checked) return 'Tick the consent box to join.';
  return undefined;
}

function refresh(): void {
  const why = blocker(true);
  joinButton.disabled = why !== undefined;
  leaveButton.hidden = phase !== 'joined';
  joinButton.hidden = phase === 'joined';
  hint.textContent = why ?? 'Ready to join.';
  const locked = phase !== 'ready';
  // While joined, the session's progress owns #progress's budget; before that it shows the offer.
  if (!locked) {
    const b = budget.current();
    progress.showOffer(b.ok ? b.bytes : 0);
  }
  budget.setLocked(locked);
  data.setLocked(locked);
  consent.disabled = locked;
  labelInput.disabled = locked;
}

async function join(): Promise<void> {
  const b = budget.current(), d = data.current();
  if (!gpu || !b.ok || d.kind === 'invalid' || phase !== 'ready') return;
  phase = 'joining';
  refresh();
  progress.reset('connecting', 'starting the training worker…');
  const mine = {};
  current = mine;
  try {
    session = await joinFederation({
      probe: gpu, budgetBytes: b.bytes, budgetSource: b.source,
      ...(d.kind === 'local' ? { localBatches: d.dataset.batchSource } : {}),
      ...(labelInput.value ? { label: labelInput.value } : {}),
      ...(params.server ? { server: params.server } : {}),
      onProgress: (p) => {
        if (current !== mine) return; // a session that was left
        lastProgress = p;
        progress.show(p, extraBytes);
      },
    });
    phase = 'joined';
    if (!lastProgress) progress.show(session.initial, extraBytes);
  } catch (e) {
    phase = 'ready';
    progress.reset('error', `could not join: ${(e as Error).message}`);
  }
  refresh();
}

function leave(): void {
  current = undefined;
  session?.leave();
  session = undefined;
  lastProgress = undefined;
  phase = 'ready';
  progress.reset('stopped', 'Left. This tab no longer trains; press Join to contribute again.');
  refresh();
}

/** The budget on offer: the ?budget= preset, or the bounded allocation probe's estimate. */
async function offerBudget(probe: Extract<WebGpuProbe, { available: true }>): Promise<void> {
  if (params.budgetBytes !== undefined) return budget.showPreset(params.budgetBytes);
  const capBytes = params.probeCapBytes ?? (probe.adapter.isFallbackAdapter ? SOFTWARE_ADAPTER_PROBE_CAP_BYTES : DEFAULT_PROBE_CAP_BYTES);
  budget.showProbing(capBytes);
  try {
    budget.showProbe(await probeGpuBudget({ capBytes }));
  } catch (e) {
    budget.showUnavailable(`The memory probe failed: ${(e as Error).message}`);
  }
}

async function start(): Promise<void> {
  if (params.errors.length) {
    const box = byId('param-errors');
    box.hidden = false;
    box.textContent = `Ignored page parameters: ${params.errors.join('; ')}`;
  }
  if (params.label) labelInput.value = params.label;
  joinButton.addEventListener('click', () => void join());
  leaveButton.addEventListener('click', leave);
  consent.addEventListener('change', refresh);
  labelInput.addEventListener('input', refresh);
  refresh();

  const probe = await probeWebGpu().catch((e: unknown): WebGpuProbe => ({ available: false, reason: `WebGPU check failed: ${(e as Error).message}` }));
  renderGpuStatus(probe);
  if (!probe.available || !probe.selfTestPassed) {
    gpuProblem = probe.available ? 'This GPU failed the self-test; it cannot train.' : probe.reason;
    budget.showUnavailable('No budget: this tab cannot use WebGPU.');
  } else {
    gpu = probe;
    await offerBudget(probe);
  }
  refresh();
  // The swarm operator consents for its simulated tabs (see pageParams.ts); parameters with errors never join by themselves.
  // A tab that does not join says why, so that a swarm tab stuck here is diagnosable.
  if (params.autojoin) {
    const why = blocker(false);
    if (params.errors.length === 0 && why === undefined) await join();
    else hint.textContent = `Not joining automatically: ${params.errors.length ? 'the page parameters have errors' : why}`;
  }
}

void start();
