/**
 * The coordinator process: HTTP (web client, model parts), socket.io (volunteer and admin
 * namespaces), the run store, and at most one active federated run. On start it resumes a run the
 * store says was running or paused (from its last committed round), or starts the configured
 * default run. Each run fine-tunes its own model (a directory under the models root, default
 * --model); the active run's model is the one served to tabs.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { Server } from 'socket.io';
import {
  ADMIN_NAMESPACE, fullPlan, parseRunSettings, ProtocolError, VOLUNTEER_NAMESPACE, type CoordinatorSnapshot, type RoundSummary,
  type ClientSnapshot, type LoraConfig, type ModelConfig, type ModelList, type RunSettings, parseModelDirChoice,
  taskForModel,
} from '@fedllm/core';
import { loadTask, loadTokenizerDir } from '@fedllm/core/node';
import { attachAdminNamespace, type AdminActions } from './adminEdge';
import { attachAdminHttpRoutes } from './adminHttpRoutes';
import { clientView } from './clientView';
import { DepartedClients } from './departedClients';
import { listRunHistory, runHistory } from './runHistory';
import { ClientRegistry } from './clientRegistry';
import { createHttpApp } from './httpRoutes';
import type { ModelParts } from './modelParts';
import { ModelCatalog, ModelChangedError, type LoadedModel } from './modelCatalog';
import { maxUpdateBytes } from './updateValidation';
import { MAX_LORA, MAX_MESSAGE_BYTES, MESSAGE_HEADROOM } from './coordinatorLimits';
import { attachVolunteerNamespace } from './volunteerEdge';
import { RunStore } from '../storage/runStore';
import { openRun, type OpenedRun } from './runFactory';

export interface CoordinatorOptions {
  /** The model of runs created without a modelDir (and of the default run). */
  modelDir: string;
  /** Where the model directories a run may name live (default: the parent of modelDir). */
  modelsRoot?: string;
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
  /** socket.io's message cap, fixed when the server starts (see listen). */
  private messageCap = MAX_MESSAGE_BYTES;

  private constructor(
    private readonly o: CoordinatorOptions,
    /** The served model: the active run's (the --model one until a run activates). */
    private current: LoadedModel,
    private readonly catalog: ModelCatalog,
    private readonly store: RunStore,
    private readonly log: (m: string) => void,
  ) {}

  static async start(o: CoordinatorOptions): Promise<Coordinator> {
    const log = o.log ?? ((m: string) => console.log(`[coordinator] ${m}`));
    const catalog = new ModelCatalog(o.modelsRoot ?? dirname(o.modelDir), o.modelDir);
    const model = await catalog.load(o.modelDir);
    const store = RunStore.open(o.dbPath);
    const c = new Coordinator(o, model, catalog, store, log);
    await c.listen();
    await c.resumeOrStart();
    return c;
  }

  /** The model tabs are served now (the HTTP model routes read it on every request). */
  get model(): ModelParts {
    return this.current.parts;
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
      // The served model's files, or those of a base the active run's strategy derived from it.
      model: (id) => (id === this.model.id ? this.model : this.active?.served.byId(id)), webRoot: this.o.webRoot,
      routes: (a) => attachAdminHttpRoutes(a, {
        token: this.o.adminToken, store: this.store, log: this.log,
        baseModel: (run) => this.catalog.forRun(run),
      }),
    });
    this.http = createServer(app);
    // socket.io cannot change its cap once listening (the websocket server takes it at creation),
    // so it is sized for the largest legal update (any rank the settings allow) of any model
    // there is now, bounded by MAX_MESSAGE_BYTES; a run whose updates would not fit is refused.
    const configs = [this.model.config, ...(await this.catalog.scan()).map((m) => m.config)];
    this.messageCap = Math.min(MAX_MESSAGE_BYTES, Math.max(...configs.map((c) => maxUpdateBytes(c, MAX_LORA) + MESSAGE_HEADROOM)));
    this.io = new Server(this.http, { maxHttpBufferSize: this.messageCap, serveClient: false });
    attachVolunteerNamespace(this.io.of(VOLUNTEER_NAMESPACE), {
      registry: this.registry, activeRun: () => this.active?.run, log: this.log,
      maxUpdateBytes: () => Math.min(maxUpdateBytes(this.model.config, this.active?.run.settings.lora ?? MAX_LORA), this.messageCap - MESSAGE_HEADROOM),
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
      const runId = await this.createRun(this.o.defaultRun);
      await this.activate(runId, false);
    }
  }

  /** Creates a run of `input`'s settings on its `modelDir` (a name under the models root; default --model). */
  async createRun(input: unknown): Promise<string> {
    const settings = parseRunSettings(input);
    const model = await this.catalog.choose(parseModelDirChoice(input));
    this.checkFits(model.parts.config, settings.lora);
    const id = `run-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`;
    this.store.createRun({ id, name: settings.name, settingsJson: JSON.stringify(settings), modelDir: model.dir, modelId: model.parts.id, task: settings.task, totalRounds: settings.rounds });
    this.log(`created run ${id}: ${settings.rounds} round(s) of ${settings.task} on ${model.dir} (model ${model.parts.id})`);
    this.changed();
    return id;
  }

  /** Refuses settings whose largest update would exceed socket.io's cap (fixed at start-up). */
  private checkFits(cfg: ModelConfig, lora: LoraConfig): void {
    const need = maxUpdateBytes(cfg, lora) + MESSAGE_HEADROOM;
    if (need > this.messageCap) {
      throw new ProtocolError('bad-settings', `invalid run setting modelDir: an update of this model at LoRA rank ${lora.rank} may reach ${need} bytes, over this coordinator's message cap of ${this.messageCap} (restart it to size the cap for models added since, or lower the rank)`, 'modelDir');
    }
  }

  /** The model a stored run was made for, checked against what its directory holds now. */
  private async runModel(runId: string, settings: RunSettings): Promise<LoadedModel> {
    const row = this.store.getRun(runId);
    if (!row) throw new ProtocolError('not-found', `no run ${runId}`);
    let model: LoadedModel;
    try {
      model = await this.catalog.forRun(row);
    } catch (e) {
      if (e instanceof ModelChangedError) throw new ProtocolError('bad-settings', e.message, 'modelDir');
      throw new ProtocolError('bad-settings', `run ${runId}'s model ${row.modelDir} does not load: ${(e as Error).message}`, 'modelDir');
    }
    this.checkFits(model.parts.config, settings.lora);
    return model;
  }

  private async activate(runId: string, paused: boolean): Promise<void> {
    if (this.active && !['completed', 'stopped', 'failed'].includes(this.active.run.status)) {
      throw new ProtocolError('run-not-active', `run ${this.active.run.runId} is still ${this.active.run.status}; stop it first`);
    }
    const row = this.store.getRun(runId);
    if (!row) throw new ProtocolError('not-found', `no run ${runId}`);
    const settings: RunSettings = parseRunSettings(JSON.parse(row.settingsJson));
    const model = await this.runModel(runId, settings);
    await this.active?.close();
    this.active = undefined;
    // From here tabs are served this run's model (its parts URLs carry its id, so no stale cache).
    this.current = model;
    const tokenizer = await loadTokenizerDir(model.dir);
    const opened = await openRun({
      runId, settings, modelDir: model.dir, runsDir: this.o.runsDir, model: model.parts, weights: model.weights, store: this.store,
      registry: this.registry, log: this.log, tokenizer, task: taskForModel(loadTask(settings.task), tokenizer),
      tokenizerJson: model.parts.tokenizerJson,
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
      start: async (runId) => {
        const row = this.store.getRun(runId);
        if (!row) throw new ProtocolError('not-found', `no run ${runId}`);
        if (row.status !== 'created') throw new ProtocolError('bad-message', `run ${runId} is ${row.status}; only a created run can start`);
        // The model is checked before the ack, so a run whose model changed is refused to the operator, not only logged.
        await this.runModel(runId, parseRunSettings(JSON.parse(row.settingsJson)));
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
      listModels: () => this.listModels(),
    };
  }

  listModels(): Promise<ModelList> {
    return this.catalog.list();
  }

  snapshot(): CoordinatorSnapshot {
    const run = this.active?.run;
    return {
      runId: run?.runId ?? null,
      status: run?.status ?? 'idle',
      settings: run?.settings,
      round: run ? run.currentRound : 0,
      baseAccuracy: run?.baseAccuracy,
      baseEvalLoss: run?.baseEvalLoss,
      rounds: run ? run.rounds : [],
      clients: this.connectedClients(),
      departedClients: this.departed.list(),
      model: {
        id: this.model.id, dir: this.current.dir, numLayers: this.model.config.numLayers, architecture: this.model.config.architecture,
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
