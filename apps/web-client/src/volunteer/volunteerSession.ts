/**
 * Joining and leaving: starts the training worker (its own GPUDevice), says hello with this tab's
 * capabilities through a VolunteerClient, and tears both down on leave.
 */
import * as Comlink from 'comlink';
import type { TrainingWorkerApi } from '@fedllm/core';
import { VolunteerClient, type LocalBatchSource, type VolunteerProgress } from '../federated/volunteerClient';
import type { WebGpuProbe } from '../webgpuProbe';
import type { BudgetSource } from './budgetChoice';
import { buildCapabilities } from './capabilities';

export interface JoinOptions {
  probe: Extract<WebGpuProbe, { available: true }>;
  budgetBytes: number;
  budgetSource: BudgetSource;
  /** Present when the tab trains on a local file. */
  localBatches?: LocalBatchSource;
  label?: string;
  /** Coordinator origin (default: this page's). */
  server?: string;
  onProgress: (p: VolunteerProgress) => void;
}

export interface VolunteerSession {
  /** The client's progress at the start (state 'connecting', the budget, zero traffic). */
  readonly initial: VolunteerProgress;
  /** Disconnects from the coordinator and ends the worker (and with it its GPU memory). */
  leave(): void;
}

/** How long the worker may take to load and create its device. */
const WORKER_INIT_TIMEOUT_MS = 60_000;

/** The worker's init, or its load error (comlink alone would wait forever for a worker that failed to load). */
function workerReady<T>(worker: Worker, init: Promise<T>): Promise<T> {
  let onError: (e: ErrorEvent) => void = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = new Promise<never>((_, reject) => {
    onError = (e) => reject(new Error(`the training worker failed to load: ${e.message || 'unknown error'}`));
    worker.addEventListener('error', onError);
    timer = setTimeout(() => reject(new Error(`the training worker did not start within ${WORKER_INIT_TIMEOUT_MS / 1000} s`)), WORKER_INIT_TIMEOUT_MS);
  });
  return Promise.race([init, failed]).finally(() => {
    worker.removeEventListener('error', onError);
    clearTimeout(timer);
  });
}

/** Starts the worker and the client; rejects (with the worker ended) when the worker cannot start. */
export async function joinFederation(o: JoinOptions): Promise<VolunteerSession> {
  const worker = new Worker(new URL('../worker/trainingWorker.ts', import.meta.url), { type: 'module', name: 'training' });
  const api = Comlink.wrap<TrainingWorkerApi>(worker);
  let client: VolunteerClient | undefined;
  try {
    const info = await workerReady(worker, api.init());
    const capabilities = buildCapabilities({
      probe: o.probe, worker: info, budgetBytes: o.budgetBytes, budgetSource: o.budgetSource,
      dataSource: o.localBatches ? 'local' : 'assigned', ...(o.label ? { label: o.label } : {}),
    });
    client = new VolunteerClient({
      capabilities, worker: api, onProgress: o.onProgress,
      ...(o.server ? { url: o.server } : {}),
      ...(o.localBatches ? { localBatches: o.localBatches } : {}),
      log: (m) => console.info(`[volunteer] ${m}`),
    });
    client.start();
  } catch (e) {
    worker.terminate();
    throw e;
  }
  const c = client;
  return {
    initial: { ...c.progress },
    leave() {
      c.stop();
      api[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
