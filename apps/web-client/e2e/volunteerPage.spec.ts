import { test, expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';

const MiB = 1024 * 1024;
/** A small probe cap keeps the software adapter's probe well under a second. */
const PROBE_CAP = 128 * MiB;
const TOKENIZER_PATH = new URL('../../../models/tiny-brown-llama/tokenizer.json', import.meta.url);

test('the volunteer page finds WebGPU in headless Chromium and its test kernel computes correctly', async ({ page }) => {
  await page.goto(`/?probeCap=${PROBE_CAP}`);
  const status = page.locator('#gpu-status');
  await expect(status).not.toHaveAttribute('data-state', 'checking', { timeout: 60_000 });
  await expect(page.locator('#gpu-summary')).toContainText('every result was correct');
  await expect(status).toHaveAttribute('data-state', 'available');
  const binding = await page.locator('dd[data-key="Max storage binding"]').textContent();
  expect(Number.parseInt(binding ?? '', 10)).toBeGreaterThanOrEqual(128);
});

// Browsers without WebGPU, simulated before any page script runs: the page must say why in words,
// offer no budget, and neither Join nor autojoin.
const NO_WEBGPU = [
  { what: 'navigator.gpu is missing', init: () => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }), says: 'does not expose WebGPU' },
  { what: 'no adapter is found', init: () => { (globalThis as unknown as { GPU: { prototype: { requestAdapter: () => Promise<null> } } }).GPU.prototype.requestAdapter = async () => null; }, says: 'no GPU adapter was found' },
];
for (const c of NO_WEBGPU) {
  test(`without WebGPU (${c.what}) the page explains why and never joins`, async ({ page }) => {
    await page.addInitScript(c.init);
    await page.goto('/?budget=50000000&autojoin=1');
    await expect(page.locator('#gpu-status')).toHaveAttribute('data-state', 'unavailable', { timeout: 60_000 });
    await expect(page.locator('#gpu-summary')).toContainText(c.says);
    await expect(page.locator('#budget')).toHaveAttribute('data-state', 'unavailable');
    await expect(page.locator('#budget-input')).toBeDisabled();
    await expect(page.locator('#join-hint')).toContainText(`Not joining automatically: ${await page.locator('#gpu-summary').textContent()}`);
    await page.locator('#consent').check();
    await expect(page.locator('#join')).toBeDisabled();
    await expect(page.locator('#progress')).toHaveAttribute('data-state', 'not-joined');
  });
}

test('the budget probe allocates no more than its cap and offers 0.6 of what it got', async ({ page }) => {
  await page.goto(`/?budget=${64 * MiB}`); // any page of the dev server; a preset skips the page's own probe
  const probe = (capBytes: number, chunkBytes: number) => page.evaluate(async ([cap, chunk]) => {
    const m = await import(/* @vite-ignore */ '/src/budgetProbe.ts' as string);
    return m.probeGpuBudget({ capBytes: cap, chunkBytes: chunk }) as Promise<{ budgetBytes: number; allocatedBytes: number; chunks: number; chunkBytes: number; stoppedBy: string }>;
  }, [capBytes, chunkBytes] as const);
  // A cap that is not a whole number of chunks: the last chunk would cross it, so it is not allocated.
  const r = await probe(3 * 16 * MiB + 12345, 16 * MiB);
  expect(r).toMatchObject({ chunks: 3, chunkBytes: 16 * MiB, allocatedBytes: 3 * 16 * MiB, stoppedBy: 'cap' });
  expect(r.budgetBytes).toBe(Math.floor(0.6 * 3 * 16 * MiB));
  // A chunk larger than the cap shrinks to it.
  const small = await probe(8 * MiB, 64 * MiB);
  expect(small).toMatchObject({ chunks: 1, chunkBytes: 8 * MiB, allocatedBytes: 8 * MiB, stoppedBy: 'cap' });
  expect(small.budgetBytes).toBe(Math.floor(0.6 * 8 * MiB));
  // Settings that are not a positive whole number of bytes are refused, not probed.
  await expect(probe(0, 16 * MiB)).rejects.toThrow(/capBytes must be a positive whole number/);
});

test('the page offers the probed budget, which the volunteer can lower but not raise', async ({ page }) => {
  await page.goto(`/?probeCap=${PROBE_CAP}`);
  const budget = page.locator('#budget');
  await expect(budget).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  const estimate = Number(await budget.getAttribute('data-estimate-bytes'));
  expect(estimate).toBeGreaterThan(0);
  expect(estimate).toBeLessThanOrEqual(PROBE_CAP);
  await expect(budget).toHaveAttribute('data-probe-cap-bytes', String(PROBE_CAP));
  const allocated = Number(await budget.getAttribute('data-probe-allocated-bytes'));
  expect(allocated).toBeLessThanOrEqual(PROBE_CAP);
  expect(estimate).toBe(Math.floor(0.6 * allocated));
  await expect(budget).toHaveAttribute('data-budget-bytes', String(estimate));
  await expect(budget).toHaveAttribute('data-source', 'probe');

  await page.locator('#consent').check();
  await expect(page.locator('#join')).toBeEnabled();
  const input = page.locator('#budget-input');
  await input.fill(String(Math.ceil(estimate / MiB) + 10));
  await expect(budget).toHaveAttribute('data-valid', 'false');
  await expect(page.locator('#budget-error')).toContainText('can only be lowered');
  await expect(page.locator('#join')).toBeDisabled();
  await input.fill('0.5');
  await expect(page.locator('#budget-error')).toContainText('too small');
  await expect(page.locator('#join')).toBeDisabled();
  await input.fill('16');
  await expect(budget).toHaveAttribute('data-valid', 'true');
  await expect(budget).toHaveAttribute('data-budget-bytes', String(16 * MiB));
  await expect(budget).toHaveAttribute('data-source', 'user');
  await expect(page.locator('#progress')).toHaveAttribute('data-budget-bytes', String(16 * MiB));
  await expect(page.locator('#join')).toBeEnabled();
});

test('Join stays disabled until the volunteer consents; a preset budget is taken as given', async ({ page }) => {
  await page.goto('/?budget=50000000&label=tab-a');
  const budget = page.locator('#budget');
  await expect(budget).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(budget).toHaveAttribute('data-budget-bytes', '50000000');
  await expect(budget).toHaveAttribute('data-source', 'preset');
  await expect(page.locator('#label')).toHaveValue('tab-a');
  const join = page.locator('#join');
  await expect(join).toBeDisabled();
  await expect(page.locator('#join-hint')).toContainText('consent');
  await page.locator('#consent').check();
  await expect(join).toBeEnabled();
  await page.locator('#consent').uncheck();
  await expect(join).toBeDisabled();
  await expect(page.locator('#progress')).toHaveAttribute('data-state', 'not-joined');
});

/** #progress as apps/server/src/swarm/swarmRunner.ts reads it (readTab): these names, parsed with Number(). */
async function swarmView(page: Page) {
  const attr = async (name: string) => (await page.getAttribute('#progress', `data-${name}`)) ?? '';
  return { state: await attr('state'), roundsDone: await attr('rounds-done'), peakBytes: await attr('peak-bytes'), budgetBytes: await attr('budget-bytes') };
}

test('autojoin joins without the consent click, and Leave stops; bad parameters never join by themselves', async ({ page }) => {
  // No coordinator here: Chromium never connects to port 9 (a blocked port), so the joined tab keeps trying to reach one.
  await page.goto('/?budget=50000000&label=swarm-tab&autojoin=1&server=http://127.0.0.1:9');
  const progress = page.locator('#progress');
  await expect(progress).toHaveAttribute('data-state', 'disconnected', { timeout: 60_000 });
  // What the swarm reads: whole numbers, the preset budget, nothing trained yet.
  expect(await swarmView(page)).toEqual({ state: 'disconnected', roundsDone: '0', peakBytes: '0', budgetBytes: '50000000' });
  await expect(page.locator('#progress-message')).toContainText('cannot reach the coordinator');
  await expect(page.locator('#consent')).not.toBeChecked();
  await page.locator('#leave').click();
  await expect(progress).toHaveAttribute('data-state', 'stopped');
  await expect(page.locator('#join')).toBeVisible();

  await page.goto(`/?budget=12abc&autojoin=1&probeCap=${PROBE_CAP}`);
  await expect(page.locator('#param-errors')).toContainText('budget=12abc: expected a positive whole number of bytes');
  await expect(page.locator('#budget')).toHaveAttribute('data-source', 'probe', { timeout: 60_000 });
  await expect(page.locator('#join-hint')).toContainText('Not joining automatically');
  await expect(progress).toHaveAttribute('data-state', 'not-joined');
  // Before joining the swarm's attributes are already numbers: the offered budget, no rounds, no peak.
  const offered = await page.locator('#budget').getAttribute('data-budget-bytes');
  expect(Number(offered)).toBeGreaterThan(0);
  expect(await swarmView(page)).toEqual({ state: 'not-joined', roundsDone: '0', peakBytes: '0', budgetBytes: offered });
});

test('the progress panel shows a round as the client reports it, on screen and in the swarm attributes', async ({ page }) => {
  await page.goto('/?budget=50000000');
  await expect(page.locator('#budget')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  // The panel fed directly with the client's progress objects (VolunteerProgress), as VolunteerClient would during rounds.
  const show = (peakBytes: number) => page.evaluate(async (peak) => {
    const m = await import(/* @vite-ignore */ '/src/volunteer/progressPanel.ts' as string);
    new m.ProgressPanel().show({
      state: 'training', round: 3, roundsDone: 2, lastLoss: 2.34567, losses: [3.1, 2.9, 2.6, 2.34567], tokensPerSecond: 812.4,
      peakBytes: peak, estimateBytes: 20 * 2 ** 20, budgetBytes: 40 * 2 ** 20, bytesSent: 3 * 2 ** 20, bytesReceived: 5 * 2 ** 20, numLayers: 4,
      plan: { layers: [{ index: 0, attention: true, mlp: true }, { index: 2, attention: true, mlp: false }, { index: 3, attention: false, mlp: true }] },
      message: 'round 3: training 4 step(s) on 3 of 4 layers',
    }, 1024);
  }, peakBytes);
  await show(30 * MiB);
  const dd = (k: string) => page.locator(`#progress-details dd[data-key="${k}"]`);
  await expect(dd('State')).toHaveText('training');
  await expect(dd('Round')).toHaveText('3');
  await expect(dd('Local loss')).toHaveText('2.3457');
  await expect(dd('Tokens/s')).toHaveText('812');
  await expect(dd('Sent / received')).toHaveText('3.00 MiB / 5.00 MiB');
  // Received counts the page's own downloads too (the 1 KiB passed as extra: a local file's tokenizer).
  await expect(page.locator('#progress')).toHaveAttribute('data-bytes-received', String(5 * MiB + 1024));
  await expect(page.locator('#progress-memory')).toContainText('highest peak 30.0 MiB of 40.0 MiB budget');
  await expect(page.locator('#progress-memory-fill')).toHaveAttribute('style', /width: 75%/);
  await expect(page.locator('#progress-memory-fill')).not.toHaveClass(/over/);
  await expect(page.locator('#progress-sparkline polyline')).toHaveAttribute('points', /^(\S+ ){3}\S+$/);
  expect(await page.locator('#progress-plan .layer').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.kept))).toEqual(['full', 'none', 'attention', 'mlp']);
  await expect(page.locator('#progress-message')).toHaveText('round 3: training 4 step(s) on 3 of 4 layers');
  expect(await swarmView(page)).toEqual({ state: 'training', roundsDone: '2', peakBytes: String(30 * MiB), budgetBytes: String(40 * MiB) });
  // A peak over the budget is shown as such (the bar turns red and stops at full).
  await show(50 * MiB);
  await expect(page.locator('#progress-memory-fill')).toHaveClass(/over/);
  await expect(page.locator('#progress-memory-fill')).toHaveAttribute('style', /width: 100%/);
});

test('every bad page parameter is named, and ignored', async ({ page }) => {
  await page.goto(`/?budget=-5&probeCap=1.5&autojoin=yes&server=ftp://example.org&label=${'x'.repeat(65)}`);
  const errors = page.locator('#param-errors');
  await expect(errors).toBeVisible();
  for (const why of ['budget=-5: expected a positive whole number', 'probeCap=1.5: expected a positive whole number', 'autojoin=yes: expected 1 or 0',
    'server=ftp://example.org: expected an http(s) origin', 'label: at most 64 characters, got 65']) {
    await expect(errors).toContainText(why);
  }
  // Ignored: the page probes (with its default cap), the label stays empty, and nobody joins.
  await expect(page.locator('#budget')).toHaveAttribute('data-source', 'probe', { timeout: 60_000 });
  // The default cap of budgetProbe.ts (the software one on SwiftShader), not the refused probeCap.
  expect([512 * MiB, 4096 * MiB]).toContain(Number(await page.locator('#budget').getAttribute('data-probe-cap-bytes')));
  await expect(page.locator('#label')).toHaveValue('');
  await expect(page.locator('#progress')).toHaveAttribute('data-state', 'not-joined');
});

interface BuiltBatches { inputIds: number[]; targets: number[]; numSamples: number }

/** Builds one assignment's batches from file content with the page's LocalDataset, tokenizer from the default model. */
async function buildLocal(page: Page, fileName: string, content: string, train: { steps: number; batch: number; seqLen: number }): Promise<BuiltBatches> {
  return page.evaluate(async ([name, text, tr]) => {
    const m = await import(/* @vite-ignore */ '/src/federated/localDataset.ts' as string);
    const ds = m.LocalDataset.fromText(name, text);
    const assignment = { round: 0, model: { tokenizerUrl: '/test-model/tokenizer.json' }, train: tr };
    const b = await ds.batches(assignment, { vocabSize: 1024 });
    return { inputIds: Array.from(b.inputIds as Int32Array), targets: Array.from(b.targets as Int32Array), numSamples: b.numSamples as number };
  }, [fileName, content, train] as const);
}

async function decode(page: Page, ids: number[][]): Promise<string[]> {
  return page.evaluate(async (all) => {
    const m = await import(/* @vite-ignore */ '/src/federated/remoteTokenizer.ts' as string);
    const { tokenizer } = await m.fetchTokenizer('/test-model/tokenizer.json');
    return all.map((x) => tokenizer.decode(x) as string);
  }, ids);
}

/** Per row: the tokens it trains on (inputs up to the last target, then that target) and its targets. */
function rowsOf(b: BuiltBatches, T: number): { tokens: number[]; targets: number[] }[] {
  return Array.from({ length: b.inputIds.length / T }, (_, r) => {
    const inputs = b.inputIds.slice(r * T, (r + 1) * T), targets = b.targets.slice(r * T, (r + 1) * T);
    let last = -1;
    targets.forEach((t, i) => { if (t !== -1) last = i; });
    return { tokens: last < 0 ? [] : [...inputs.slice(0, last + 1), targets[last]], targets };
  });
}

test.describe('local-file training data', () => {
  let tokenizerFetches = 0;
  test.beforeEach(async ({ page }) => {
    tokenizerFetches = 0;
    const body = readFileSync(TOKENIZER_PATH);
    await page.route('**/test-model/tokenizer.json', (route) => {
      tokenizerFetches++;
      return route.fulfill({ body, contentType: 'application/json' });
    });
    await page.goto('/?budget=50000000');
  });

  test('a text file becomes LM rows of seqLen tokens that decode back to the file', async ({ page }) => {
    const text = 'The Fulton County Grand Jury said Friday an investigation of recent primary election produced no evidence that any irregularities took place.';
    const T = 12;
    const b = await buildLocal(page, 'notes.txt', text, { steps: 4, batch: 3, seqLen: T });
    expect(b.inputIds).toHaveLength(4 * 3 * T);
    expect(b.targets).toHaveLength(4 * 3 * T);
    const rows = rowsOf(b, T).slice(0, b.numSamples); // 12 rows hold the whole (small) pool, which then repeats
    expect(b.numSamples).toBeLessThan(12);
    // Consecutive windows overlap by one token; together they are the separator then the file.
    const stream = rows.flatMap((r, k) => (k === 0 ? r.tokens : r.tokens.slice(1)));
    const [decoded, eot] = await decode(page, [stream, [0]]);
    expect(decoded).toBe(eot + text);
    // Every target is the next input (the causal-LM shift) and the pool repeats after numSamples rows.
    for (const r of rows) for (let t = 0; t + 2 < r.tokens.length; t++) expect(r.targets[t]).toBe(r.tokens[t + 1]);
    expect(b.inputIds.slice(b.numSamples * T, (b.numSamples + 1) * T)).toEqual(b.inputIds.slice(0, T));
    // A second assignment uses the cached tokenizer.
    await buildLocal(page, 'notes.txt', text, { steps: 1, batch: 1, seqLen: T });
    expect(tokenizerFetches).toBe(1);
  });

  test('a JSONL file gives prompt/completion rows whose targets are exactly the completion', async ({ page }) => {
    const examples = [
      { prompt: 'Subject: cheap meds, order now\nIs this email spam? Answer:', completion: ' spam' },
      { prompt: 'Subject: minutes of the meeting\nIs this email spam? Answer:', completion: ' ham' },
    ];
    const T = 32;
    const b = await buildLocal(page, 'pairs.jsonl', examples.map((e) => JSON.stringify(e)).join('\n'), { steps: 1, batch: 2, seqLen: T });
    const rows = rowsOf(b, T);
    const decoded = await decode(page, [...rows.map((r) => r.tokens), ...rows.map((r) => r.targets.filter((t) => t !== -1))]);
    expect(decoded).toEqual([...examples.map((e) => e.prompt + e.completion), ...examples.map((e) => e.completion)]);
  });

  test('malformed JSONL is refused with its line number, in the builder and on the page', async ({ page }) => {
    const bad = '{"text": "fine"}\n{"prompt": "p", "completion": "c"}\n{"text": oops}\n';
    const err = await page.evaluate(async (text) => {
      const m = await import(/* @vite-ignore */ '/src/federated/localDataset.ts' as string);
      try {
        m.LocalDataset.fromText('data.jsonl', text);
        return 'accepted';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    }, bad);
    expect(err).toMatch(/^LocalDataError: data\.jsonl line 3: not valid JSON/);

    await expect(page.locator('#budget')).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
    await page.locator('#consent').check();
    await expect(page.locator('#join')).toBeEnabled();
    await page.locator('#local-file').setInputFiles({ name: 'data.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(bad) });
    const summary = page.locator('#local-summary');
    await expect(summary).toHaveAttribute('data-state', 'invalid');
    await expect(summary).toContainText('line 3');
    await expect(page.locator('#join')).toBeDisabled();
    // A valid file makes the tab a local-data volunteer, and says that the file stays here.
    await page.locator('#local-file').setInputFiles({ name: 'data.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"text": "fine"}\n{"prompt": "p", "completion": "c"}\n') });
    await expect(summary).toHaveAttribute('data-state', 'local');
    await expect(summary).toContainText('1 text example(s), 1 prompt/completion example(s)');
    await expect(page.locator('.privacy')).toContainText('never leaves this tab');
    await expect(page.locator('#join')).toBeEnabled();
    // And the volunteer can go back to the assigned data.
    await page.locator('#local-clear').click();
    await expect(summary).toHaveAttribute('data-state', 'assigned');
    await expect(page.locator('#local-clear')).toBeHidden();
  });
});
