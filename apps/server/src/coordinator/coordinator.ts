/**
 * The coordinator process: HTTP (web client, model parts), socket.io (volunteer and admin
 * namespaces), the run store, and at most one active federated run. On start it resumes a run the
 * store says was running or paused (from its last committed round), or starts the configured
 * default run.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Server } from 'socket.io';
import {
  ADMIN_NAMESPACE, fullPlan, parseRunSettings, ProtocolError, VOLUNTEER_NAMESPACE, type CoordinatorSnapshot, type RoundSummary,
  type ClientSnapshot, type LlamaWeights, type RunSettings,
} from '@fedllm/core';
import { loadModelDir, loadTask, loadTokenizerDir } from '@fedllm/core/node';
import { attachAdminNamespace, type AdminActions } from './adminEdge';
import { attachAdminHttpRoutes } from './adminHttpRoutes';
import { clientView } from './clientView';
import { DepartedClients } from './departedClients';
import { listRunHistory, runHistory } from './runHistory';
import { ClientRegistry } from './clientRegistry';
import { createHttpApp } from './httpRoutes';
import { ModelParts } from './modelParts';
import { maxUpdateBytes } from './updateValidation';
import { MAX_MESSAGE_BYTES } from './coordinatorLimits';
import { attachVolunteerNamespace } from './volunteerEdge';
import { RunStore } from '../storage/runStore';
import { openRun, type OpenedRun } from './runFactory';

export interface CoordinatorOptions {
  modelDir: string;
  dbPath: string;
  runsDir: string;
  webRoot: string;
  port: number;
  host?: string;
  adminToken: string;
  /** Settings of a run to create and start when none is active (false: wait for an admin). */
  defaultRun?: unknown;
  log?: (msg: string) => void;
}

export class Coordinator {
  private active: OpenedRun | undefined;
  private readonly registry = new ClientRegistry();
  private io!: Server;
  private http!: HttpServer;
  private snapshotTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly departed = new DepartedClients();
  private baseWeights: Promise<LlamaWeights> | undefined;

  private constructor(
    private readonly o: CoordinatorOptions,
    readonly model: ModelParts,
    private readonly store: RunStore,
    private readonly log: (m: string) => void,
  ) {}

  static async start(o: CoordinatorOptions): Promise<Coordinator> {
    const log = o.log ?? ((m: string) => console.log(`[coordinator] ${m}`));
    const loaded = await loadModelDir(o.modelDir);
    const configJson = await readFile(join(o.modelDir, 'config.json'), 'utf8');
    const tokenizerJson = await readFile(join(o.modelDir, 'tokenizer.json'), 'utf8').catch(() => undefined);
    const model = ModelParts.build(loaded.config, loaded.weights, configJson, tokenizerJson);
    const store = RunStore.open(o.dbPath);
    const c = new Coordinator(o, model, store, log);
    await c.listen();
    await c.resumeOrStart();
    return c;
  }

  get url(): string {
    const a = this.http.address() as AddressInfo;
    return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  private async listen(): Promise<void> {
    const app = createHttpApp({
      model: () => this.model, webRoot: this.o.webRoot,
      routes: (a) => attachAdminHttpRoutes(a, {
        token: this.o.adminToken, store: this.store, model: () => this.model, log: this.log,
        baseWeights: () => (this.baseWeights ??= loadModelDir(this.o.modelDir).then((m) => m.weights)),
      }),
    });
    this.http = createServer(app);
    const cfg = this.model.config;
    const maxUpdate = maxUpdateBytes(cfg, { rank: 256, alpha: 1, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] });
    this.io = new Server(this.http, {
      // Bounded on the way in: the largest legal update (any rank the settings allow) plus room.
      maxHttpBufferSize: Math.min(maxUpdate + 1_048_576, MAX_MESSAGE_BYTES),
      serveClient: false,
    });
    attachVolunteerNamespace(this.io.of(VOLUNTEER_NAMESPACE), {
      registry: this.registry, activeRun: () => this.active?.run, log: this.log,
      maxUpdateBytes: () => (this.active ? maxUpdateBytes(cfg, this.active.run.settings.lora) : maxUpdate),
      onClientSeen: (cl) => {
        this.store.upsertClient({ id: cl.clientId, capabilitiesJson: JSON.stringify(cl.capabilities), budgetBytes: cl.capabilities.budgetBytes, lastError: cl.lastError ?? null });
        this.changed();
      },
    });
    attachAdminNamespace(this.io.of(ADMIN_NAMESPACE), this.o.adminToken, this.adminActions(), this.log);
    this.registry.onChange(() => {
      this.departed.update(this.connectedClients());
      this.changed();
    });
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.o.port, this.o.host ?? '127.0.0.1', () => resolve());
    });
  }

  private async resumeOrStart(): Promise<void> {
    const row = this.store.activeRun();
    if (row) {
      this.log(`resuming run ${row.id} (${row.status}) after round ${row.committedRound}`);
      await this.activate(row.id, row.status === 'paused');
      return;
    }
    if (this.o.defaultRun !== undefined && this.o.defaultRun !== false) {
      const runId = this.createRun(this.o.defaultRun);
      await this.activate(runId, false);
    }
  }

  createRun(input: unknown): string {
    const settings = parseRunSettings(input);
    const id = `run-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`;
    this.store.createRun({ id, name: settings.name, settingsJson: JSON.stringify(settings), modelDir: this.o.modelDir, modelId: this.model.id, task: settings.task, totalRounds: settings.rounds });
    this.log(`created run ${id}: ${settings.rounds} round(s) of ${settings.task}`);
    this.changed();
    return id;
  }

  private async activate(runId: string, paused: boolean): Promise<void> {
    if (this.active && !['completed', 'stopped', 'failed'].includes(this.active.run.status)) {
      throw new ProtocolError('run-not-active', `run ${this.active.run.runId} is still ${this.active.run.status}; stop it first`);
    }
    await this.active?.close();
    const row = this.store.getRun(runId);
    if (!row) throw new ProtocolError('not-found', `no run ${runId}`);
    if (row.modelId !== this.model.id) throw new ProtocolError('bad-settings', `run ${runId} was made for model ${row.modelId}; this coordinator serves ${this.model.id}`);
    const settings: RunSettings = parseRunSettings(JSON.parse(row.settingsJson));
    const opened = await openRun({
      runId, settings, modelDir: this.o.modelDir, runsDir: this.o.runsDir, model: this.model, store: this.store,
      registry: this.registry, log: this.log, task: loadTask(settings.task), tokenizer: await loadTokenizerDir(this.o.modelDir),
      onRoundCommitted: (s: RoundSummary) => {
        this.io.of(ADMIN_NAMESPACE).emit('roundCommitted', { ...s, runId });
        this.changed();
      },
      onChange: () => this.changed(),
    });
    this.active = opened;
    if (paused) opened.run.status = 'paused';
    void opened.run.loop().catch((e: unknown) => {
      this.log(`run ${runId} failed: ${(e as Error).stack ?? e}`);
      opened.run.status = 'failed';
      this.store.setRunStatus(runId, 'failed');
      this.changed();
    });
  }

  private requireActive(runId: string): OpenedRun {
    if (!this.active || this.active.run.runId !== runId) throw new ProtocolError('run-not-active', `run ${runId} is not the active run`);
    return this.active;
  }

  private adminActions(): AdminActions {
    return {
      createRun: (s) => this.createRun(s),
      start: (runId) => {
        const row = this.store.getRun(runId);
        if (!row) throw new ProtocolError('not-found', `no run ${runId}`);
        if (row.status !== 'created') throw new ProtocolError('bad-message', `run ${runId} is ${row.status}; only a created run can start`);
        void this.activate(runId, false).catch((e: unknown) => this.log(`cannot start ${runId}: ${(e as Error).message}`));
      },
      pause: (runId) => this.requireActive(runId).run.pause(),
      resume: (runId) => this.requireActive(runId).run.resume(),
      stop: (runId) => this.requireActive(runId).run.stop(),
      configure: (runId, s) => {
        const row = this.store.getRun(runId);
        if (!row) throw new ProtocolError('not-found', `no run ${runId}`);
        if (row.status !== 'created') throw new ProtocolError('bad-settings', `run ${runId} is ${row.status}; settings can change only before it starts`);
        const settings = parseRunSettings(s);
        this.store.updateRunSettings(runId, JSON.stringify(settings), settings.rounds);
      },
      snapshot: () => this.snapshot(),
      listRuns: () => listRunHistory(this.store),
      runHistory: (runId) => runHistory(this.store, runId),
    };
  }

  snapshot(): CoordinatorSnapshot {
    const run = this.active?.run;
    return {
      runId: run?.runId ?? null,
      status: run?.status ?? 'idle',
      settings: run?.settings,
      round: run ? run.currentRound : 0,
      baseAccuracy: run?.baseAccuracy,
      rounds: run ? run.rounds : [],
      clients: this.connectedClients(),
      departedClients: this.departed.list(),
      model: {
        id: this.model.id, dir: this.o.modelDir, numLayers: this.model.config.numLayers, architecture: this.model.config.architecture,
        configUrl: `${this.model.baseUrl}/config.json`, tokenizerUrl: `${this.model.baseUrl}/tokenizer.json`,
        partUrls: this.model.partsFor(fullPlan(this.model.config)).map((p) => p.url),
      },
    };
  }

  /** Dashboard rows of the connected tabs, with their current or last assignment. */
  private connectedClients(): ClientSnapshot[] {
    const run = this.active?.run;
    const open = run?.openAttempt ? [...run.openAttempt.tasks.values()] : [];
    return this.registry.all().map((c) => clientView(c, open, run?.rounds ?? []));
  }

  /** Coalesces state broadcasts to dashboards (at most a few per second). */
  private changed(): void {
    if (this.snapshotTimer || !this.io) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      const s = this.snapshot();
      this.io.of(ADMIN_NAMESPACE).emit('state', s);
      this.io.of(VOLUNTEER_NAMESPACE).emit('run', { runId: s.runId, status: s.status, round: s.round, totalRounds: s.settings?.rounds ?? 0, connectedClients: s.clients.length });
    }, 200);
  }

  async close(): Promise<void> {
    clearTimeout(this.snapshotTimer);
    this.active?.run.shutdown();
    await this.active?.close();
    await new Promise<void>((r) => this.io.close(() => r()));
    this.store.close();
  }
}
