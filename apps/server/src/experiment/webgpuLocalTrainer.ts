/**
 * Local training on the real WebGPU engine for the simulator: every task goes to the training
 * worker (the one volunteer tabs run) in one headless Chromium page, with the base tensors of the
 * plan's kept parts, the task's LoRA and batches, and the tab's budget enforced by the ledger.
 * The ledger's peak comes back with each task, so such a study measures memory per assignment.
 */
import { join } from 'node:path';
import {
  hfTensorNamesForBlock, loraFromPeft, loraToPeftTensors, parseSafetensors, peftAdapterConfig, serializeSafetensors, weightsToHfTensors,
  type ExperimentTrainRequest, type ExperimentTrainResult,
} from '@fedllm/core';
import type { Page } from '@playwright/test';
import { REPO_ROOT, withHeadlessPage } from '../browser/headlessChromium';
import type { LocalTrainer } from './federatedSimulator';

const b64 = (u: Uint8Array | Int32Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');

/** The ledger limit for the unlimited upper bound's tasks (their budgets are ignored by design). */
const UNLIMITED = 2 ** 31;

function trainerFor(page: Page): LocalTrainer {
  return async (a, batches, s) => {
    const cfg = a.model.config;
    const all = weightsToHfTensors(cfg, a.model.weights);
    const layerNames = new Set<string>();
    const keep = new Set<string>();
    for (let i = 0; i < cfg.numLayers; i++) {
      for (const b of ['attention', 'mlp'] as const) {
        const names = hfTensorNamesForBlock(cfg, i, b);
        names.forEach((n) => layerNames.add(n));
        const l = a.plan.layers.find((p) => p.index === i);
        if (l && (b === 'attention' ? l.attention : l.mlp)) names.forEach((n) => keep.add(n));
      }
    }
    const base = new Map([...all].filter(([n]) => !layerNames.has(n) || keep.has(n)));
    const req: ExperimentTrainRequest = {
      config: cfg, plan: a.plan, weightFormat: a.model.weightFormat, loraConfig: a.adapter.config,
      baseTensorsB64: b64(serializeSafetensors(base)), loraB64: b64(serializeSafetensors(loraToPeftTensors(a.adapter))),
      batch: s.batch, seqLen: s.seqLen, inputIdsB64: b64(batches.inputIds), targetsB64: b64(batches.targets),
      steps: s.steps, lr: s.lr, clipNorm: s.clipNorm, logitsChunkRows: s.logitsChunkRows,
      budgetBytes: s.enforceBudget ? a.budgetBytes : UNLIMITED,
    };
    const r = await page.evaluate((x) => (globalThis as unknown as { trainTask: (q: unknown) => Promise<ExperimentTrainResult> }).trainTask(x), req);
    const tensors = parseSafetensors(new Uint8Array(Buffer.from(r.loraB64, 'base64')));
    const adapter = loraFromPeft(peftAdapterConfig({ config: a.adapter.config, layers: new Map() }, cfg, 'experiment'), tensors, cfg, { plan: a.plan });
    return { adapter, finalLoss: r.losses[r.losses.length - 1], peakBytes: r.peakBytes };
  };
}

/** Runs fn with a WebGPU local trainer backed by one headless Chromium page. */
export function withWebgpuTrainer<T>(fn: (train: LocalTrainer) => Promise<T>): Promise<T> {
  return withHeadlessPage({
    path: '/test-pages/trainer.html',
    // The worker's own imports are entries too: otherwise Vite discovers them only when the worker
    // loads, re-optimizes, and the worker's module requests fail (504, outdated dep) without a page error.
    vite: { cacheDir: join(REPO_ROOT, 'node_modules/.vite-trainer'), optimizeDeps: { entries: ['test-pages/trainer.html', 'src/worker/trainingWorker.ts'] } },
    onPageError: (e) => console.error(`[trainer page] ${e.message}`),
  }, async (page) => {
    await page.waitForFunction(() => typeof (globalThis as { trainTask?: unknown }).trainTask === 'function', undefined, { timeout: 180_000 });
    return fn(trainerFor(page));
  });
}
