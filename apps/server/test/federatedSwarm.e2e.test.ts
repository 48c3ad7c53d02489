// End to end: the real coordinator (child process, SQLite file, socket.io) and three headless
// Chromium tabs on the built volunteer page, each training in its WebGPU worker with a different
// GPU budget (the smallest cannot hold the full model). The coordinator is SIGKILLed while a round
// is in flight and started again; the run must still complete, improve on the base model, keep
// every tab's measured peak within its budget, and leave loadable PEFT round directories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { estimateLoraSessionBytes, fullPlan, loraFromPeft, parseSafetensors, LORA_TARGETS } from '@fedllm/core';
import { loadModelDir } from '@fedllm/core/node';
import { runSwarm } from '../src/swarm/swarmRunner';
import { formatRoundTable } from '../src/swarm/roundTable';
import { REPO_ROOT } from '../src/browser/headlessChromium';
import { DEFAULT_MODEL_DIR } from '../src/cli/defaults';

const MiB = 2 ** 20;
const BUDGETS = [16 * MiB, 24 * MiB, 40 * MiB];
// 5 rounds: the first mostly teaches the answer format (eval loss 13 -> 0.97), and the accuracy
// leaves the majority class (0.645) only once the eval loss is well below 0.9. Measured here: with
// 3 rounds the last accuracy was 0.730 in one run and 0.645 in another; with 4 rounds 0.820, 0.790
// and 0.675 (eval loss 0.707 .. 0.889) in three runs, too thin a margin for a test that must not flake.
// Static top-k plans keep the run reproducible apart from which tab gets which shard.
const SETTINGS = {
  task: 'spam', rounds: 5, localSteps: 20, batch: 8, seqLen: 64, lr: 5e-3, evalExamples: 200, deadlineMs: 600_000, shards: 3, seed: 1,
  layerPick: 'top',
} as const;

test('three tabs with different budgets fine-tune the default model on spam through a coordinator crash', { timeout: 40 * 60_000 }, async (t) => {
  if (!existsSync(join(REPO_ROOT, 'dist/web-client/index.html'))) {
    assert.fail('the web client is not built: run "npm run build:web" (npm test does it first)');
  }
  const { config } = await loadModelDir(DEFAULT_MODEL_DIR);
  const full = estimateLoraSessionBytes({ config, plan: fullPlan(config), lora: { rank: 8, alpha: 16, targets: [...LORA_TARGETS] }, batch: SETTINGS.batch, seqLen: SETTINGS.seqLen, clipNorm: 1 }).totalBytes;
  assert.ok(BUDGETS[0] < full, `the smallest budget (${BUDGETS[0]}) must be too small for the full model (${full})`);

  const t0 = Date.now();
  const r = await runSwarm({ budgets: BUDGETS, settings: SETTINGS, killDuringRound: 1, log: (l) => t.diagnostic(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${l}`) });
  for (const round of r.rounds) t.diagnostic(formatRoundTable(round));

  assert.equal(r.final.status, 'completed');
  assert.equal(r.restarts, 1);
  assert.deepEqual(r.rounds.map((x) => x.round), [0, 1, 2, 3, 4], 'each round committed exactly once');
  const last = r.rounds[r.rounds.length - 1];
  assert.ok(r.baseAccuracy !== undefined);
  assert.ok(last.accuracy > r.baseAccuracy, `held-out accuracy after the last round (${last.accuracy}) must beat the base model (${r.baseAccuracy})`);

  for (const round of r.rounds) {
    for (const c of round.clients.filter((x) => x.status === 'received')) {
      assert.ok(c.peakBytes !== undefined && c.peakBytes <= c.budgetBytes, `round ${round.round} ${c.label}: peak ${c.peakBytes} > budget ${c.budgetBytes}`);
      assert.ok(c.estimateBytes <= c.budgetBytes);
    }
    const small = round.clients.find((c) => c.budgetBytes === BUDGETS[0]);
    const big = round.clients.find((c) => c.budgetBytes === BUDGETS[2]);
    if (small && big) assert.ok(small.layersKept < big.layersKept, `round ${round.round}: the small tab kept ${small.layersKept} layers, the big one ${big.layersKept}`);
  }
  for (const tab of r.tabs) assert.ok(tab.page.peakBytes <= tab.budgetBytes, `${tab.label} shows peak ${tab.page.peakBytes} over budget ${tab.budgetBytes}`);

  // Every committed round left a PEFT directory that loads for the model.
  const runDir = join(r.workDir, 'runs', r.runId);
  const dirs = (await readdir(runDir)).filter((d) => /^round-\d+$/.test(d)).sort();
  assert.deepEqual(dirs, ['round-0000', 'round-0001', 'round-0002', 'round-0003', 'round-0004']);
  for (const d of dirs) {
    const cfgJson = JSON.parse(await readFile(join(runDir, d, 'adapter_config.json'), 'utf8'));
    assert.equal(cfgJson.peft_type, 'LORA');
    const adapter = loraFromPeft(cfgJson, parseSafetensors(new Uint8Array(await readFile(join(runDir, d, 'adapter_model.safetensors')))), config);
    assert.equal(adapter.layers.size, config.numLayers);
  }
});
