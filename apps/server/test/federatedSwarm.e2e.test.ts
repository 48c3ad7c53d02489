// End to end: the real coordinator (child process, SQLite file, socket.io) and three headless
// Chromium tabs on the built volunteer page, each training in its WebGPU worker with a different
// GPU budget (the smallest cannot hold the full model). The coordinator is SIGKILLed while a round
// is in flight and started again; the run must still complete, improve on the base model, keep
// every tab's measured peak within its budget, keep learning on held-out data, and leave loadable
// PEFT round directories.
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
// What "learns" means here, and why not "the last round's accuracy beats the base model's": the
// first round teaches the answer format (held-out eval loss 13.2 -> about 0.97); after it the eval
// loss keeps falling, but the accuracy of this 1M-parameter model sits on the majority class
// (0.645) until the eval loss is well below 0.9, and then swings round to round. The simulator
// (the CPU engine the kernels match) on these settings, for three of the ways the tabs can hold
// the shards: last eval loss 0.719 / 0.841 (20 local steps), 0.789 / 0.773 / 0.858 (30), always
// 0.13 or more below round 0's; last accuracy 0.805, 0.645 (20), 0.810, 0.730, 0.645 (30), with
// 0.740 -> 0.645 and 0.805 -> 0.645 drops between rounds. CI once failed on exactly that (0.645).
// So the test asks for the eval loss to fall well past round 0 and the accuracy never to end below
// the base model's. A run that stops learning fails it: at lr 0.01 the eval loss went 0.97 -> 0.99.
// Static top-k plans and tabs joining one at a time (swarmRunner) make the run reproducible.
const LEARNING_MARGIN = 0.05;
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
  const coordinatorLines: string[] = [];
  const r = await runSwarm({
    budgets: BUDGETS, settings: SETTINGS, killDuringRound: 1, log: (l) => t.diagnostic(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${l}`),
    coordinatorLog: (l) => coordinatorLines.push(l),
  });
  for (const round of r.rounds) t.diagnostic(formatRoundTable(round));

  assert.equal(r.final.status, 'completed');
  assert.equal(r.restarts, 1);
  // Measured once (first start), taken from the SQLite store after the crash.
  assert.equal(coordinatorLines.filter((l) => l.includes('layer importance measured in')).length, 1, 'importance measured once');
  assert.equal(coordinatorLines.filter((l) => l.includes('on these calibration batches: from the store')).length, 1, 'the restarted coordinator reads importance from the store');
  assert.equal(coordinatorLines.filter((l) => l.includes('base model evaluated in')).length, 1, 'the base model is evaluated once');
  assert.deepEqual(r.rounds.map((x) => x.round), [0, 1, 2, 3, 4], 'each round committed exactly once');
  const first = r.rounds[0], last = r.rounds[r.rounds.length - 1];
  assert.ok(r.baseAccuracy !== undefined && r.baseEvalLoss !== undefined);
  t.diagnostic(`base: accuracy ${r.baseAccuracy}, eval loss ${r.baseEvalLoss.toFixed(4)}; by round: ${r.rounds.map((x) => `${x.accuracy.toFixed(3)} / ${x.evalLoss.toFixed(4)}`).join(', ')}`);
  assert.ok(first.evalLoss < r.baseEvalLoss / 4, `round 0 must learn the answer format: eval loss ${first.evalLoss} vs the base model's ${r.baseEvalLoss}`);
  assert.ok(last.evalLoss < first.evalLoss - LEARNING_MARGIN, `learning must go on after round 0 and through the crash: eval loss ${first.evalLoss} after round 0, ${last.evalLoss} after the last`);
  assert.ok(last.accuracy >= r.baseAccuracy, `held-out accuracy after the last round (${last.accuracy}) must not fall below the base model's (${r.baseAccuracy})`);

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
