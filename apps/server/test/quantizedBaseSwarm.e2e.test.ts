// End to end with a quantized base: the real coordinator (child process) fine-tunes a GGUF model
// (a tiny random llama written by llama.cpp's own `gguf` package: Q4_1 projections, Q8_0 embedding)
// and two headless Chromium tabs train it on the built volunteer page. The coordinator must serve
// the base packed (the tabs download packed words, not a float image), plan with the packed
// formats' memory, and the tabs' sessions (holding the base packed on the GPU) must stay within
// their budgets and learn.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fullPlan, hfTensorNamesForPlan, parsePlanDescription, parseRunSettings, planKeepingLayers, planPeakBytes, weightsToHfTensors,
} from '@fedllm/core';
import { GGUF_WEIGHTS, importGgufFiles, loadModelDir, readGgufFile } from '@fedllm/core/node';
import { runSwarm } from '../src/swarm/swarmRunner';
import { formatRoundTable } from '../src/swarm/roundTable';
import { REPO_ROOT } from '../src/browser/headlessChromium';

const work = await mkdtemp(join(tmpdir(), 'quantized-swarm-'));
after(() => rm(work, { recursive: true, force: true }));

const SETTINGS = {
  task: 'spam', rounds: 2, localSteps: 12, batch: 4, seqLen: 32, lr: 1e-2, evalExamples: 60, deadlineMs: 300_000, shards: 2, seed: 1, layerPick: 'top',
} as const;

async function ggufModelDir(): Promise<string> {
  const dir = join(work, 'tiny-gguf');
  const gguf = join(work, GGUF_WEIGHTS);
  const r = spawnSync('python3', [join(REPO_ROOT, 'tools/reference/gguf_oracle.py'), 'make-gguf', '--out', gguf, '--types', 'Q4_1,Q8_0,F32', '--seed', '5'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `gguf_oracle.py make-gguf failed (pip install -r tools/reference/requirements.txt):\n${r.stderr}`);
  const imported = importGgufFiles(await readGgufFile(gguf));
  await mkdir(dir);
  await rename(gguf, join(dir, GGUF_WEIGHTS));
  await writeFile(join(dir, 'config.json'), JSON.stringify(imported.hfConfig));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(imported.tokenizerJson));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(imported.tokenizerConfig));
  return dir;
}

test('two tabs fine-tune a GGUF base served packed (q4_1 projections, q8_0 embedding) within their budgets', { timeout: 15 * 60_000 }, async (t) => {
  if (!existsSync(join(REPO_ROOT, 'dist/web-client/index.html'))) assert.fail('the web client is not built: run "npm run build:web" (npm test does it first)');
  const dir = await ggufModelDir();
  const { config, weights } = await loadModelDir(dir);
  const settings = parseRunSettings({ name: 'q', ...SETTINGS });
  const shape = { config, lora: settings.lora, batch: settings.batch, seqLen: settings.seqLen, clipNorm: settings.clipNorm };
  const packedShape = { ...shape, weightFormat: 'q4_1' as const, vocabFormat: 'q8_0' as const };
  const oneLayer = planPeakBytes(packedShape, planKeepingLayers([0]));
  const full = planPeakBytes(packedShape, fullPlan(config));
  // The small tab holds one packed layer but not two; the big one the whole model (packed).
  const budgets = [oneLayer + 1024, full + 1024];
  assert.ok(budgets[0] < full);

  const t0 = Date.now();
  const r = await runSwarm({ budgets, settings: SETTINGS, modelDir: dir, log: (l) => t.diagnostic(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${l}`) });
  for (const round of r.rounds) t.diagnostic(formatRoundTable(round));
  assert.equal(r.final.status, 'completed');
  assert.deepEqual(r.rounds.map((x) => x.round), [0, 1]);
  assert.ok(r.baseEvalLoss !== undefined);
  // A random model learns nothing but the answer format; round 0 must learn that (as in the swarm test).
  assert.ok(r.rounds[0].evalLoss < r.baseEvalLoss, `round 0 learns the answer format: eval loss ${r.baseEvalLoss} -> ${r.rounds.map((x) => x.evalLoss.toFixed(4)).join(', ')}`);

  const floats = weightsToHfTensors(config, weights);
  for (const round of r.rounds) {
    const received = round.clients.filter((c) => c.status === 'received');
    assert.equal(received.length, 2, `round ${round.round}: both tabs delivered`);
    for (const c of received) {
      const plan = parsePlanDescription(c.plan);
      // The coordinator planned with the packed formats' bytes, and the tab's session stayed within them.
      assert.equal(c.estimateBytes, planPeakBytes(packedShape, plan), `round ${round.round} ${c.label}: estimate of ${c.plan}`);
      assert.ok(c.peakBytes !== undefined && c.peakBytes <= c.estimateBytes && c.peakBytes <= c.budgetBytes, `${c.label}: peak ${c.peakBytes}`);
      // What it downloaded is packed: well under the float32 image of the same tensors (Q4_1 is 4/0.75 = 5.3x
      // smaller, Q8_0 3.6x). bytesDown also counts the starting LoRA, which is as large as the update sent back.
      const floatBytes = hfTensorNamesForPlan(config, plan).reduce((a, n) => a + (floats.get(n)?.data.byteLength ?? 0), 0);
      const baseBytes = c.bytesDown - c.bytesUp;
      if (round.round === 0) assert.ok(baseBytes > 0 && baseBytes < floatBytes / 3, `${c.label}: downloaded ${baseBytes} base bytes, the float image is ${floatBytes}`);
    }
    const [small, big] = [received.find((c) => c.budgetBytes === budgets[0])!, received.find((c) => c.budgetBytes === budgets[1])!];
    assert.ok(small.layersKept < big.layersKept, `round ${round.round}: the small tab kept ${small.layersKept} layers, the big one ${big.layersKept}`);
  }
});
