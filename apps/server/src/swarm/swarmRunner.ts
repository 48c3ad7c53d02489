/**
 * The headless swarm: a coordinator child process, N Chromium tabs on the real volunteer page
 * (each with its own GPU budget, simulating weak and strong devices), and an admin socket that
 * creates and starts one run and follows it to the end. Optionally SIGKILLs the coordinator while
 * a round is in flight and starts it again, to prove that the run resumes.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from '@playwright/test';
import { io, type Socket } from 'socket.io-client';
import {
  ADMIN_NAMESPACE, type Ack, type AdminClientToServer, type AdminServerToClient, type CoordinatorSnapshot, type RoundSummary,
  type RunSettingsInput,
} from '@fedllm/core';
import { CHROMIUM_ARGS } from '../browser/headlessChromium';
import { CoordinatorProcess, freePort } from './coordinatorProcess';

export interface SwarmOptions {
  budgets: number[];
  settings: RunSettingsInput;
  /** SIGKILL the coordinator once this round is in flight (assignments out), then restart it. */
  killDuringRound?: number;
  workDir?: string;
  timeoutMs?: number;
  log?: (line: string) => void;
  /** Coordinator output (default: dropped). */
  coordinatorLog?: (line: string) => void;
  /** The model the coordinator fine-tunes (its --model; default: the embedded default model). */
  modelDir?: string;
}

export interface SwarmResult {
  runId: string;
  workDir: string;
  baseAccuracy?: number;
  baseEvalLoss?: number;
  rounds: RoundSummary[];
  final: CoordinatorSnapshot;
  restarts: number;
  tabs: { label: string; budgetBytes: number; page: TabProgress }[];
}

/** What a tab's volunteer page shows (read from its data attributes). */
export interface TabProgress {
  state: string;
  roundsDone: number;
  peakBytes: number;
  budgetBytes: number;
}

type AdminSocket = Socket<AdminServerToClient, AdminClientToServer>;

function ackOk<T>(a: Ack<T>, what: string): T {
  if (!a.ok) throw new Error(`${what} refused: ${a.error.code}: ${a.error.message}`);
  return a as T;
}

async function readTab(page: Page): Promise<TabProgress> {
  const attr = async (name: string) => (await page.getAttribute('#progress', `data-${name}`).catch(() => null)) ?? '';
  return { state: (await attr('state')) || 'missing', roundsDone: Number(await attr('rounds-done')), peakBytes: Number(await attr('peak-bytes')), budgetBytes: Number(await attr('budget-bytes')) };
}

export async function runSwarm(o: SwarmOptions): Promise<SwarmResult> {
  const log = o.log ?? (() => {});
  const workDir = o.workDir ?? (await mkdtemp(join(tmpdir(), 'fedllm-swarm-')));
  const adminToken = randomBytes(12).toString('hex');
  const coordinator = new CoordinatorProcess({
    port: await freePort(), dbPath: join(workDir, 'coordinator.db'), runsDir: join(workDir, 'runs'), adminToken, onLine: o.coordinatorLog, modelDir: o.modelDir,
  });
  await coordinator.start();
  log(`coordinator at ${coordinator.url} (work dir ${workDir})`);
  let browser: Browser | undefined;
  let admin: AdminSocket | undefined;
  try {
    admin = io(`${coordinator.url}${ADMIN_NAMESPACE}`, { auth: { token: adminToken }, transports: ['websocket'], reconnectionDelayMax: 2000 });
    const rounds = new Map<number, RoundSummary>();
    let latest: CoordinatorSnapshot | undefined;
    const stateWaiters = new Set<() => void>();
    admin.on('state', (s) => {
      latest = s;
      for (const r of s.rounds) rounds.set(r.round, r);
      for (const w of stateWaiters) w();
    });
    admin.on('roundCommitted', (r) => {
      rounds.set(r.round, r);
      log(`round ${r.round} committed: accuracy ${r.accuracy.toFixed(3)}, ${r.participants} update(s)`);
    });
    const waitFor = (pred: (s: CoordinatorSnapshot) => boolean, ms: number, what: string) =>
      new Promise<CoordinatorSnapshot>((resolve, reject) => {
        const check = () => {
          if (latest && pred(latest)) {
            stateWaiters.delete(check);
            clearTimeout(timer);
            resolve(latest);
          }
        };
        const timer = setTimeout(() => {
          stateWaiters.delete(check);
          reject(new Error(`timed out after ${ms} ms waiting for ${what} (last state: ${latest?.status}, round ${latest?.round})`));
        }, ms);
        stateWaiters.add(check);
        check();
      });
    await new Promise<void>((resolve, reject) => {
      admin!.once('connect', () => resolve());
      admin!.once('connect_error', (e) => reject(new Error(`admin connection failed: ${e.message}`)));
    });
    const settings: RunSettingsInput = { clientsPerRound: o.budgets.length, minClients: o.budgets.length, ...o.settings };
    const { runId } = ackOk(await admin.timeout(30_000).emitWithAck('createRun', settings), 'createRun');
    log(`run ${runId} created`);

    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
    const tabs: { label: string; budgetBytes: number; page: Page }[] = [];
    for (const [i, budget] of o.budgets.entries()) {
      const label = `tab-${i}-${Math.round(budget / 2 ** 20)}MiB`;
      const page = await (await browser.newContext()).newPage();
      page.on('pageerror', (e) => log(`[${label}] page error: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') log(`[${label}] console: ${m.text()}`); });
      await page.goto(`${coordinator.url}/?budget=${budget}&label=${encodeURIComponent(label)}&autojoin=1`);
      tabs.push({ label, budgetBytes: budget, page });
      // One tab at a time: the coordinator orders tabs by join order before its seeded shuffle, so
      // with the same seed each tab gets the same data shard in every swarm run (and keeps it
      // after a restart: the shard map is stored).
      await waitFor((s) => s.clients.length > i, 120_000, `${label} to join`);
    }
    ackOk(await admin.timeout(30_000).emitWithAck('start', { runId }), 'start');
    log(`run ${runId} started with ${o.budgets.length} tabs`);

    const timeout = o.timeoutMs ?? 3_600_000;
    let restarts = 0;
    if (o.killDuringRound !== undefined) {
      const k = o.killDuringRound;
      await waitFor((s) => s.runId === runId && s.round === k && s.clients.some((c) => c.state === 'training'), timeout, `round ${k} to be in flight`);
      log(`SIGKILL the coordinator during round ${k}`);
      await coordinator.kill();
      await coordinator.start();
      restarts++;
      log('coordinator restarted');
    }
    const final = await waitFor((s) => s.runId === runId && ['completed', 'stopped', 'failed'].includes(s.status), timeout, 'the run to finish');
    for (const r of final.rounds) rounds.set(r.round, r);
    const pages = await Promise.all(tabs.map(async (t) => ({ label: t.label, budgetBytes: t.budgetBytes, page: await readTab(t.page) })));
    return {
      runId, workDir, baseAccuracy: final.baseAccuracy, baseEvalLoss: final.baseEvalLoss, rounds: [...rounds.values()].sort((a, b) => a.round - b.round), final, restarts, tabs: pages,
    };
  } finally {
    admin?.close();
    await browser?.close();
    await coordinator.stop();
  }
}
