// End to end: the admin dashboard (the built dashboard.html in headless Chromium) drives a real
// coordinator (child process, SQLite, socket.io) while two volunteer tabs with different GPU
// budgets train in their WebGPU workers. The operator's path: the token is refused when wrong,
// a bad setting is refused on its field, a small run is created and started from the form, the
// clients table fills, the charts gain a point per round, the round-0 adapter downloads as a PEFT
// safetensors file, the merged model equals base + (alpha/r)·B·A, "try it" generates with the
// latest adapter, the history lists the run, and pause / resume / stop work on a second run.
// Control without the token (socket or HTTP) is refused.
// DASHBOARD_SCREENSHOT_DIR=docs writes the README's screenshots (default: the test's temp dir).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from '@playwright/test';
import { io } from 'socket.io-client';
import { ADMIN_NAMESPACE, loraFromPeft, mergeLoraIntoWeights, parseSafetensors, weightsToHfTensors } from '@fedllm/core';
import { loadModelDir } from '@fedllm/core/node';
import { CHROMIUM_ARGS, REPO_ROOT } from '../src/browser/headlessChromium';
import { CoordinatorProcess, freePort } from '../src/swarm/coordinatorProcess';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';

const MiB = 2 ** 20;
const BUDGETS = [8 * MiB, 32 * MiB];
const PEFT_NAME = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj\.lora_(A|B)\.weight$/;

/** Resolves with the reason a socket on the admin namespace could not connect (it must not). */
function adminConnectError(url: string, auth: Record<string, unknown>): Promise<string> {
  return new Promise((res, rej) => {
    const s = io(`${url}${ADMIN_NAMESPACE}`, { auth, transports: ['websocket'], reconnection: false });
    s.on('connect', () => {
      s.close();
      rej(new Error(`the admin namespace accepted ${JSON.stringify(auth)}`));
    });
    s.on('connect_error', (e) => {
      // A control action attempted anyway is never delivered: the socket is not connected.
      s.emit('pause' as never, { runId: 'x' } as never);
      s.close();
      res(e.message);
    });
  });
}

/** Waits for the form's answer to "Create run"; fails with its message when it was refused. */
async function created(page: Page): Promise<void> {
  const state = await waitAttr(page, '#run-form-message', 'data-state', (v) => v === 'ok' || v === 'error', 'the run to be created', 30_000);
  assert.equal(state, 'ok', `create run: ${await page.textContent('#run-form-message')}`);
}

async function attr(page: Page, selector: string, name: string): Promise<string> {
  return (await page.getAttribute(selector, name)) ?? '';
}

async function waitAttr(page: Page, selector: string, name: string, pred: (v: string) => boolean, what: string, ms = 180_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const v = await attr(page, selector, name);
    if (pred(v)) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what} (${selector} ${name}="${v}")`);
    await page.waitForTimeout(250);
  }
}

test('the admin dashboard runs a small federated job end to end', { timeout: 8 * 60_000 }, async (t) => {
  if (!existsSync(join(REPO_ROOT, 'dist/web-client/dashboard.html'))) {
    assert.fail('the web client is not built: run "npm run build:web" (npm test does it first)');
  }
  const t0 = Date.now();
  const log = (m: string) => t.diagnostic(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);
  const workDir = await mkdtemp(join(tmpdir(), 'fedllm-dashboard-'));
  const shots = resolve(REPO_ROOT, process.env.DASHBOARD_SCREENSHOT_DIR ?? workDir);
  const token = randomBytes(12).toString('hex');
  const coordinator = new CoordinatorProcess({ port: await freePort(), dbPath: join(workDir, 'coordinator.db'), runsDir: join(workDir, 'runs'), adminToken: token });
  await coordinator.start();
  const url = coordinator.url;
  log(`coordinator at ${url}`);
  let browser: Browser | undefined;
  const pageErrors: string[] = [];
  try {
    // ---- without the token, nothing: the socket is refused, and so are downloads.
    assert.match(await adminConnectError(url, {}), /unauthorized/);
    assert.match(await adminConnectError(url, { token: 'wrong' }), /unauthorized/);

    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
    const dash = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
    dash.on('pageerror', (e) => pageErrors.push(e.message));
    await dash.goto(`${url}/dashboard.html`);
    assert.ok(!dash.url().includes(token));

    await dash.fill('#token-input', 'not-the-token');
    await dash.click('#token-connect');
    await waitAttr(dash, '#connection', 'data-state', (v) => v === 'refused', 'the wrong token to be refused', 20_000);
    assert.equal(await dash.isDisabled('#run-pause'), true);

    await dash.fill('#token-input', token);
    await dash.click('#token-connect');
    await waitAttr(dash, '#connection', 'data-state', (v) => v === 'connected', 'the dashboard to connect', 20_000);
    assert.equal(await dash.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('fedllm.adminToken')), token);

    // ---- a bad setting is refused on its field; a good run is created.
    const setField = (field: string, value: string) => dash.fill(`#run-form [data-field="${field}"]`, value);
    // The model select is filled from listModels (the default model's directory under models/).
    await dash.locator('#model-dir option[value="tiny-brown-llama"]').waitFor({ state: 'attached', timeout: 20_000 });
    await dash.selectOption('#model-dir', 'tiny-brown-llama');
    await setField('name', 'dashboard-e2e');
    for (const [f, v] of [['rounds', '2'], ['clientsPerRound', '2'], ['minClients', '2'], ['localSteps', '2'], ['batch', '2'], ['seqLen', '32'], ['evalExamples', '20'], ['shards', '2'], ['lora.rank', '0']]) {
      await setField(f, v);
    }
    await dash.click('#run-create');
    const rankError = dash.locator('#run-form [data-error-for="lora.rank"]');
    await rankError.waitFor({ state: 'visible', timeout: 5_000 });
    assert.match(await rankError.textContent() ?? '', /lora\.rank/);
    assert.equal(await attr(dash, '#run-form [data-field="lora.rank"]', 'aria-invalid'), 'true');
    await setField('lora.rank', '4');
    assert.equal(await rankError.count(), 0, 'editing the field clears its error');
    await dash.click('#run-create');
    await created(dash);
    const runId = /(run-[\w-]+)/.exec(await dash.textContent('#run-form-message') ?? '')?.[1];
    assert.ok(runId, 'the form says which run it created');
    log(`created ${runId}`);

    // ---- two volunteer tabs join; the clients table fills.
    const tabs: Page[] = [];
    for (const [i, b] of BUDGETS.entries()) {
      const p = await (await browser.newContext()).newPage();
      p.on('pageerror', (e) => pageErrors.push(`[tab ${i}] ${e.message}`));
      await p.goto(`${url}/?budget=${b}&label=tab-${b / MiB}MiB&autojoin=1`);
      tabs.push(p);
    }
    await waitAttr(dash, '#clients', 'data-connected', (v) => Number(v) === 2, 'two tabs in the clients table', 120_000);
    const budgets = await dash.locator('#clients tbody tr td:nth-child(3)').allTextContents();
    assert.deepEqual(budgets.sort(), ['32.0 MiB', '8.00 MiB']);

    // ---- start; the charts gain a point per committed round.
    await dash.click('#run-start');
    await waitAttr(dash, '#run-status', 'data-status', (v) => v === 'running', 'the run to start', 60_000);
    await waitAttr(dash, '#clients tbody tr[data-state="training"]', 'data-state', (v) => v === 'training', 'a tab to train', 120_000);
    await waitAttr(dash, '#chart-quality', 'data-points', (v) => Number(v) === 1, 'round 0 on the charts');
    log('round 0 committed');
    for (const id of ['chart-communication', 'chart-duration']) assert.equal(await attr(dash, `#${id}`, 'data-points'), '1');
    assert.ok(Number(await attr(dash, '#chart-memory', 'data-points')) >= 1);
    // Rows show each tab's plan as boxes (one per layer) and its measured peak against its budget.
    assert.equal(await dash.locator('#clients tbody tr').first().locator('.plan .layer').count(), 6);
    assert.ok(await dash.locator('#clients .meter').count() >= 1, 'a measured peak is shown');
    await dash.screenshot({ path: join(shots, 'dashboard-running.png'), fullPage: true });

    await waitAttr(dash, '#run-status', 'data-status', (v) => v === 'completed', 'the run to complete');
    log('run completed');
    for (const id of ['chart-quality', 'chart-communication', 'chart-duration']) assert.equal(await attr(dash, `#${id}`, 'data-points'), '2', id);
    assert.equal(await attr(dash, '#chart-memory', 'data-points'), '2', 'one bar group per budget tier');

    // ---- downloads: round 0's adapter through the page (PEFT names), and the merged model.
    await dash.selectOption('#model-round', '0');
    const download = async (file: string) => {
      const [d] = await Promise.all([dash.waitForEvent('download'), dash.click(`#downloads button[data-download="${file}"]`)]);
      assert.match(d.suggestedFilename(), new RegExp(`^${runId}-round-0000-`));
      return new Uint8Array(await readFile((await d.path())!));
    };
    const weightsBytes = await download('adapter/adapter_model.safetensors');
    const adapterConfig = JSON.parse(new TextDecoder().decode(await download('adapter/adapter_config.json')));
    const tensors = parseSafetensors(weightsBytes);
    const names = [...tensors.keys()];
    assert.ok(names.length > 0 && names.every((n) => PEFT_NAME.test(n)), `PEFT names expected, got e.g. ${names[0]}`);
    assert.ok(names.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'));
    assert.equal(adapterConfig.peft_type, 'LORA');
    assert.equal(adapterConfig.r, 4);
    const base = await loadModelDir(DEFAULT_MODEL_DIR);
    const adapter = loraFromPeft(adapterConfig, tensors, base.config);
    assert.equal(adapter.layers.size, base.config.numLayers);
    assert.equal(tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape[0], 4);

    const merged = parseSafetensors(await download('merged/model.safetensors'));
    const want = weightsToHfTensors(base.config, mergeLoraIntoWeights(base.config, base.weights, adapter));
    assert.deepEqual([...merged.keys()].sort(), [...want.keys()].sort());
    for (const n of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.5.mlp.down_proj.weight']) {
      assert.deepEqual(merged.get(n)!.data, want.get(n)!.data, `${n} is base + (alpha/r)·B·A`);
    }
    assert.deepEqual(JSON.parse(new TextDecoder().decode(await download('merged/config.json'))), JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'config.json'), 'utf8')));

    // The same routes refuse a request without the token, or with a wrong one.
    const route = `${url}/admin/runs/${runId}/rounds/0/adapter/adapter_model.safetensors`;
    assert.equal((await fetch(route)).status, 401);
    assert.equal((await fetch(route, { headers: { Authorization: 'Bearer wrong' } })).status, 403);
    assert.equal((await fetch(`${url}/admin/runs/${runId}/rounds/7/adapter/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${token}` } })).status, 404);

    // ---- "try it" generates with the latest committed adapter in the page's worker.
    await dash.click('#try-generate');
    await waitAttr(dash, '#try-output', 'data-state', (v) => v === 'done' || v === 'error', 'generation', 120_000);
    assert.equal(await attr(dash, '#try-output', 'data-state'), 'done', await dash.textContent('#try-output') ?? '');
    assert.equal(await attr(dash, '#try-output', 'data-adapter'), `${runId}/1`);
    assert.ok(Number(await attr(dash, '#try-output', 'data-tokens')) > 0);
    assert.ok((await dash.textContent('#try-output'))!.startsWith('Subject: meeting tomorrow'));

    // ---- history lists the run with its final metrics.
    const row = dash.locator(`#history tbody tr[data-run-id="${runId}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.equal(await row.getAttribute('data-status'), 'completed');
    await row.locator('input[type=checkbox]').check();
    await dash.locator('#compare table').waitFor({ timeout: 5_000 });
    await dash.screenshot({ path: join(shots, 'dashboard-finished.png'), fullPage: true });

    // The history events, as any admin client sees them: validated at the edge, rebuilt from the store.
    const admin = io(`${url}${ADMIN_NAMESPACE}`, { auth: { token }, transports: ['websocket'], reconnection: false });
    try {
      await new Promise<void>((res, rej) => { admin.once('connect', () => res()); admin.once('connect_error', rej); });
      const h = await admin.timeout(10_000).emitWithAck('runHistory', { runId });
      assert.equal(h.ok, true);
      assert.deepEqual(h.rounds.map((r: { round: number }) => r.round), [0, 1]);
      assert.equal(h.run.final.round, 1);
      const bad = await admin.timeout(10_000).emitWithAck('runHistory', { runId: 5 });
      assert.equal(bad.ok, false);
      assert.equal(bad.error.field, 'runId');
    } finally {
      admin.close();
    }

    // ---- pause, resume and stop from the page, on a second run.
    await setField('name', 'dashboard-e2e-controls');
    await dash.click('#run-create');
    await created(dash);
    const second = /(run-[\w-]+)/.exec(await dash.textContent('#run-form-message') ?? '')?.[1];
    assert.ok(second && second !== runId);
    await dash.click('#run-start');
    await waitAttr(dash, '#run-status', 'data-run-id', (v) => v === second, 'the second run to be active', 60_000);
    await waitAttr(dash, '#run-status', 'data-status', (v) => v === 'running', 'the second run to run', 60_000);
    await dash.click('#run-pause');
    await waitAttr(dash, '#run-status', 'data-status', (v) => v === 'paused', 'pause', 20_000);
    await dash.click('#run-resume');
    await waitAttr(dash, '#run-status', 'data-status', (v) => v === 'running', 'resume', 20_000);
    await dash.click('#run-stop');
    await waitAttr(dash, '#run-status', 'data-status', (v) => v === 'stopped', 'stop', 20_000);
    await dash.locator(`#history tbody tr[data-run-id="${second}"][data-status="stopped"]`).waitFor({ timeout: 10_000 });
    assert.equal(await dash.locator('#history tbody tr').count(), 2);

    // ---- a tab that leaves is listed as dropped, with why.
    await tabs[0].close();
    await waitAttr(dash, '#clients', 'data-departed', (v) => Number(v) === 1, 'the closed tab to be listed as dropped', 30_000);
    const dropped = dash.locator('#clients tbody tr.departed');
    assert.equal(await dropped.getAttribute('data-state'), 'dropped');
    assert.match(await dropped.locator('td.note').textContent() ?? '', /disconnected/);

    assert.deepEqual(pageErrors, [], 'no uncaught page errors');
    log('done');
  } finally {
    await browser?.close();
    await coordinator.stop();
  }
});
