/**
 * A tab's side of federated rounds: says hello with its capabilities, takes assignments, fetches
 * the base tensors its plan keeps (each part once per tab), trains in the worker, and sends the
 * adapter back as binary. Assignments are validated like any untrusted input. The socket
 * reconnects with jittered backoff; after a reconnect the tab says hello again with its old id.
 */
import { io, type Socket } from 'socket.io-client';
import type { Remote } from 'comlink';
import {
  assignmentSchema, parseHfConfig, parseMessage, PROTOCOL_VERSION, VOLUNTEER_NAMESPACE, type Assignment, type CancelNotice,
  type ClientCapabilities, type HelloAck, type ModelConfig, type TrainingFailure, type TrainingWorkerApi, type Ack,
} from '@fedllm/core';
import { ACK_TIMEOUT_MS, MAX_ASSIGNMENT_BYTES } from './clientLimits';

export type VolunteerState = 'connecting' | 'idle' | 'downloading' | 'training' | 'uploading' | 'disconnected' | 'stopped' | 'error';

export interface VolunteerProgress {
  state: VolunteerState;
  clientId?: string;
  runId?: string;
  round?: number;
  plan?: Assignment['plan'];
  numLayers?: number;
  lastLoss?: number;
  losses?: number[];
  tokensPerSecond?: number;
  /** Highest measured GPU peak (the worker's ledger) of any round in this session: what must stay within the budget. */
  peakBytes?: number;
  estimateBytes?: number;
  budgetBytes: number;
  bytesSent: number;
  bytesReceived: number;
  roundsDone: number;
  message?: string;
}

/** Builds the token batches of a local-data assignment from data that stays in the tab. */
export type LocalBatchSource = (a: Assignment, config: ModelConfig) => Promise<{ inputIds: Int32Array; targets: Int32Array; numSamples: number }>;

export interface VolunteerClientOptions {
  /** Coordinator origin (default: this page's). */
  url?: string;
  capabilities: ClientCapabilities;
  worker: Remote<TrainingWorkerApi>;
  localBatches?: LocalBatchSource;
  onProgress: (p: VolunteerProgress) => void;
  log?: (msg: string) => void;
}

const CLIENT_ID_KEY = 'fedllm.clientId';

export class VolunteerClient {
  private socket: Socket | undefined;
  private readonly parts = new Map<string, ArrayBuffer>();
  private readonly configs = new Map<string, ModelConfig>();
  private current: Assignment | undefined;
  private queued: Assignment | undefined;
  private cancelled = new Set<string>();
  private maxUpdateBytes = Infinity;
  readonly progress: VolunteerProgress;

  constructor(private readonly o: VolunteerClientOptions) {
    this.progress = { state: 'connecting', budgetBytes: o.capabilities.budgetBytes, bytesSent: 0, bytesReceived: 0, roundsDone: 0 };
  }

  start(): void {
    const socket = io(`${this.o.url ?? ''}${VOLUNTEER_NAMESPACE}`, {
      // Jittered, capped backoff: after a coordinator restart, tabs do not all return at once.
      reconnectionDelay: 1000, reconnectionDelayMax: 10_000, randomizationFactor: 0.5, transports: ['websocket'],
    });
    this.socket = socket;
    socket.on('connect', () => void this.hello());
    socket.on('disconnect', (reason) => {
      // The coordinator fails a task whose tab disconnects (and a restarted one never knew it):
      // stop training it rather than spend minutes on an update nobody will take.
      if (this.current) this.cancelTask(this.current.taskId);
      this.queued = undefined;
      this.update({ state: 'disconnected', message: `disconnected (${reason}); reconnecting` });
    });
    socket.on('connect_error', (e) => this.update({ state: 'disconnected', message: `cannot reach the coordinator: ${e.message}` }));
    socket.on('assign', (raw: unknown, ack?: (a: Ack) => void) => {
      const refusal = this.onAssign(raw);
      ack?.(refusal ? { ok: false, error: { code: 'bad-message', message: refusal } } : { ok: true });
    });
    socket.on('cancel', (c: CancelNotice) => {
      if (this.current?.taskId === c.taskId) this.cancelTask(c.taskId);
      this.cancelled.add(c.taskId);
      if (this.queued?.taskId === c.taskId) this.queued = undefined;
      this.log(`assignment ${c.taskId} cancelled: ${c.reason}`);
      if (c.taskId === 'none') this.update({ message: c.reason });
    });
  }

  private cancelTask(taskId: string): void {
    this.cancelled.add(taskId);
    this.o.worker.cancel(taskId).catch(() => {});
  }

  stop(): void {
    this.socket?.disconnect();
    this.update({ state: 'stopped', message: 'stopped' });
  }

  private log(m: string): void {
    this.o.log?.(m);
  }

  private update(p: Partial<VolunteerProgress>): void {
    Object.assign(this.progress, p);
    this.o.onProgress({ ...this.progress });
  }

  private async hello(): Promise<void> {
    const s = this.socket!;
    const clientId = sessionStorage.getItem(CLIENT_ID_KEY) ?? undefined;
    try {
      const ack = (await s.timeout(ACK_TIMEOUT_MS).emitWithAck('hello', { protocol: PROTOCOL_VERSION, clientId, capabilities: this.o.capabilities })) as HelloAck;
      if (!ack.ok) return this.update({ state: 'error', message: `the coordinator refused this tab: ${ack.error.message}` });
      sessionStorage.setItem(CLIENT_ID_KEY, ack.clientId);
      this.maxUpdateBytes = ack.maxUpdateBytes;
      this.update({ state: this.current ? this.progress.state : 'idle', clientId: ack.clientId, message: 'connected; waiting for a round' });
    } catch (e) {
      this.update({ state: 'error', message: `hello failed: ${(e as Error).message}` });
    }
  }

  /** Takes an assignment; returns why it was refused, if it was. */
  private onAssign(raw: unknown): string | undefined {
    let a: Assignment;
    try {
      const bytes = ['adapter', 'data.inputIds', 'data.targets'].reduce((n, k) => n + byteLengthAt(raw, k), 0);
      if (bytes > MAX_ASSIGNMENT_BYTES) throw new Error(`assignment of ${bytes} bytes exceeds this tab's ${MAX_ASSIGNMENT_BYTES}-byte limit`);
      a = parseMessage(assignmentSchema, raw, 'assignment');
    } catch (e) {
      this.log(`refused an assignment: ${(e as Error).message}`);
      return (e as Error).message;
    }
    this.progress.bytesReceived += byteLengthAt(raw, 'adapter') + byteLengthAt(raw, 'data.inputIds') + byteLengthAt(raw, 'data.targets');
    if (this.current) {
      this.queued = a; // one at a time: the newest waiting assignment runs next
      return undefined;
    }
    void this.work(a);
    return undefined;
  }

  private async work(first: Assignment): Promise<void> {
    let a: Assignment | undefined = first;
    while (a) {
      this.current = a;
      await this.runAssignment(a);
      this.current = undefined;
      a = this.queued;
      this.queued = undefined;
      if (a && (a.deadline < Date.now() || this.cancelled.has(a.taskId))) a = undefined;
    }
    if (this.progress.state !== 'error') this.update({ state: 'idle' });
  }

  private async runAssignment(a: Assignment): Promise<void> {
    const ids = { runId: a.runId, round: a.round, taskId: a.taskId };
    this.update({ state: 'downloading', runId: a.runId, round: a.round, plan: a.plan, estimateBytes: a.estimateBytes, message: `round ${a.round}: fetching ${a.model.parts.length} model part(s)` });
    let config: ModelConfig, base: ArrayBuffer[], downloaded: number;
    try {
      config = await this.config(a.model.configUrl);
      this.update({ numLayers: config.numLayers });
      ({ base, downloaded } = await this.fetchParts(a.model.parts));
    } catch (e) {
      return this.reportFailure({ ...ids, code: 'download', message: (e as Error).message });
    }
    let batches: { inputIds: Int32Array; targets: Int32Array; numSamples: number };
    try {
      if (a.data.kind === 'batches') {
        batches = { inputIds: int32(a.data.inputIds), targets: int32(a.data.targets), numSamples: a.data.numSamples };
      } else {
        if (!this.o.localBatches) throw new Error('the coordinator expects local data but this tab has none');
        batches = await this.o.localBatches(a, config);
      }
    } catch (e) {
      return this.reportFailure({ ...ids, code: 'bad-assignment', message: (e as Error).message });
    }
    this.update({ state: 'training', message: `round ${a.round}: training ${a.train.steps} step(s) on ${a.plan.layers.length} of ${config.numLayers} layers` });
    let result;
    try {
      const lora = a.adapter.slice().buffer;
      result = await this.o.worker.train({
        config, plan: a.plan, baseTensors: base, lora, loraConfig: a.lora, weightFormat: a.model.weightFormat,
        batches: { batch: a.train.batch, seqLen: a.train.seqLen, inputIds: batches.inputIds, targets: batches.targets },
        steps: a.train.steps, lr: a.train.lr, clipNorm: a.train.clipNorm, logitsChunkRows: a.train.logitsChunkRows, budgetBytes: a.budgetBytes, jobId: a.taskId,
      });
    } catch (e) {
      const err = e as Error;
      if (err.name === 'TrainingCancelledError') {
        this.update({ message: `round ${a.round}: stopped, the coordinator closed this assignment` });
        return;
      }
      const code = err.name === 'GpuBudgetExceededError' ? 'budget' : err.name === 'DeviceLostError' ? 'device-lost' : err.name === 'GpuOutOfMemoryError' ? 'out-of-memory' : 'error';
      return this.reportFailure({ ...ids, code, message: `${err.name}: ${err.message}` });
    }
    const last = result.losses[result.losses.length - 1];
    this.update({ lastLoss: last, losses: result.losses, tokensPerSecond: result.tokensPerSecond, peakBytes: Math.max(this.progress.peakBytes ?? 0, result.peakBytes) });
    if (this.cancelled.has(a.taskId) || a.deadline < Date.now()) {
      this.log(`round ${a.round}: finished after the coordinator closed the assignment; not sending`);
      return;
    }
    if (!result.losses.every(Number.isFinite)) {
      return this.reportFailure({ ...ids, code: 'error', message: `local training diverged (loss ${last})` });
    }
    if (result.lora.byteLength > this.maxUpdateBytes) {
      return this.reportFailure({ ...ids, code: 'error', message: `update of ${result.lora.byteLength} bytes exceeds the coordinator's ${this.maxUpdateBytes}-byte limit` });
    }
    this.update({ state: 'uploading', message: `round ${a.round}: sending the adapter (${result.lora.byteLength} bytes)` });
    const meta = {
      ...ids, numSamples: batches.numSamples, losses: result.losses, peakBytes: result.peakBytes, estimateBytes: result.estimateBytes,
      tokensPerSecond: result.tokensPerSecond, buildMs: result.buildMs, trainMs: result.stepMs.reduce((x, y) => x + y, 0), bytesDownloaded: downloaded,
    };
    try {
      const ack = (await this.socket!.timeout(ACK_TIMEOUT_MS).emitWithAck('update', meta, result.lora)) as Ack;
      this.progress.bytesSent += result.lora.byteLength + JSON.stringify(meta).length;
      if (ack.ok) this.update({ roundsDone: this.progress.roundsDone + 1, message: `round ${a.round}: update accepted (loss ${last.toFixed(4)})` });
      else this.update({ message: `round ${a.round}: update refused: ${ack.error.code}: ${ack.error.message}` });
    } catch (e) {
      this.update({ message: `round ${a.round}: update not acknowledged: ${(e as Error).message}` });
    }
  }

  private async reportFailure(f: TrainingFailure): Promise<void> {
    this.update({ message: `round ${f.round}: ${f.code}: ${f.message}` });
    this.log(`failure ${f.code}: ${f.message}`);
    try {
      await this.socket?.timeout(ACK_TIMEOUT_MS).emitWithAck('failed', f);
    } catch {
      // The coordinator's deadline covers a report that does not arrive.
    }
  }

  private async config(url: string): Promise<ModelConfig> {
    let c = this.configs.get(url);
    if (!c) {
      const res = await fetch(`${this.o.url ?? ''}${url}`);
      if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
      const text = await res.text();
      this.progress.bytesReceived += text.length;
      c = parseHfConfig(JSON.parse(text));
      this.configs.set(url, c);
    }
    return c;
  }

  /** Fetches the plan's parts; a part already held from an earlier round is not fetched again. */
  private async fetchParts(parts: Assignment['model']['parts']): Promise<{ base: ArrayBuffer[]; downloaded: number }> {
    let downloaded = 0;
    const base: ArrayBuffer[] = [];
    for (const p of parts) {
      let buf = this.parts.get(p.url);
      if (!buf) {
        const res = await fetch(`${this.o.url ?? ''}${p.url}`);
        if (!res.ok) throw new Error(`GET ${p.url}: HTTP ${res.status}`);
        buf = await res.arrayBuffer();
        if (buf.byteLength !== p.bytes) throw new Error(`${p.url}: got ${buf.byteLength} bytes, the assignment says ${p.bytes}`);
        this.parts.set(p.url, buf);
        downloaded += buf.byteLength;
        this.progress.bytesReceived += buf.byteLength;
      }
      // The worker receives copies: the cache keeps its own for the next round.
      base.push(buf.slice(0));
    }
    return { base, downloaded };
  }
}

function int32(b: Uint8Array): Int32Array {
  if (b.byteLength % 4 !== 0) throw new Error(`token data of ${b.byteLength} bytes is not whole int32 values`);
  return new Int32Array(b.slice().buffer);
}

function byteLengthAt(raw: unknown, path: string): number {
  let v: unknown = raw;
  for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? v.byteLength : 0;
}
