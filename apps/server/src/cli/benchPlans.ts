// npm run bench:plans -- --model <GGUF model dir> [--layers 2,8,30] [--batch 1] [--seq-len 64] [--steps 2] [--format q4_1|f32]
// Trains plans of 2, 8, ... layers of an imported GGUF model in the real training worker (headless
// Chromium) and prints tokens/s and the measured GPU peak next to the planner's predictions; then
// the planner's peaks at the swarm's batch shape (8 x 64): the full model against one layer.
import { LORA_TARGETS, parseHfConfig, planKeepingLayers, planPeakBytes, type WeightFormat } from '@fedllm/core';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withHeadlessPage } from '../browser/headlessChromium';
import { intList, parseCliArgs, positiveInt, requireArg, runCli, UsageError } from './cliSupport';

const USAGE = 'npm run bench:plans -- --model <dir with model.gguf> [--layers 2,8,30] [--batch 1] [--seq-len 64] [--steps 2] [--format q4_1|f32]';
const MiB = 2 ** 20;

interface Result { gpuLosses: number[]; peakBytes: number; plannedBytes: number; plannedF32Bytes: number; tokensPerSecond: number; baseWireBytes: number; vocabFormat: WeightFormat }

await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    model: { type: 'string' }, layers: { type: 'string', default: '2,8,30' }, batch: { type: 'string' }, 'seq-len': { type: 'string' },
    steps: { type: 'string' }, format: { type: 'string', default: 'q4_1' },
  });
  const dir = requireArg(a.model, 'model');
  const format = a.format as WeightFormat;
  if (format !== 'q4_1' && format !== 'f32') throw new UsageError(`--format must be q4_1 or f32, got "${a.format}"`);
  const config = parseHfConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
  const counts = intList(a.layers!, 'layers');
  if (counts.some((k) => k < 1 || k > config.numLayers)) throw new UsageError(`--layers: counts must be 1..${config.numLayers}`);
  const batch = positiveInt(a.batch, 1, 'batch'), seqLen = positiveInt(a['seq-len'], 64, 'seq-len'), steps = positiveInt(a.steps, 2, 'steps');
  console.log(`${dir}: ${config.numLayers} layers; batch ${batch} x ${seqLen} tokens, ${steps} steps per plan, base ${format}`);
  console.log('layers | tokens/s | peak MiB | planned MiB | planned as f32 MiB | base download MiB');
  let vocabFormat: WeightFormat = 'f32';
  await withHeadlessPage({ path: '/test-pages/ggufTraining.html', modelDir: dir }, async (page) => {
    await page.waitForFunction(() => 'trainGgufPlan' in globalThis);
    for (const k of counts) {
      // k layers spread evenly over the depth.
      const layers = Array.from({ length: k }, (_, i) => Math.round((i * (config.numLayers - 1)) / Math.max(1, k - 1)));
      const r = await page.evaluate(
        (o) => (globalThis as unknown as { trainGgufPlan(o: unknown): Promise<Result> }).trainGgufPlan(o),
        { layers: [...new Set(layers)], batch, seqLen, steps, lr: 1e-3, seed: 1, cpuReference: false, format, budgetBytes: 2 ** 32 - 1 },
      );
      vocabFormat = r.vocabFormat;
      console.log(`${k} | ${r.tokensPerSecond.toFixed(2)} | ${(r.peakBytes / MiB).toFixed(1)} | ${(r.plannedBytes / MiB).toFixed(1)} | ${(r.plannedF32Bytes / MiB).toFixed(1)} | ${(r.baseWireBytes / MiB).toFixed(1)}`);
    }
  });
  // The file's own formats: Q4_1 projections, and its embedding packed as the page found it (SmolLM2: Q8_0).
  const swarm = { config, lora: { rank: 8, alpha: 16, targets: [...LORA_TARGETS] }, batch: 8, seqLen: 64, weightFormat: format, vocabFormat };
  const full = planPeakBytes(swarm, planKeepingLayers([...Array(config.numLayers).keys()]));
  const one = planPeakBytes(swarm, planKeepingLayers([0]));
  const chunked = planPeakBytes({ ...swarm, logitsChunkRows: 64 }, planKeepingLayers([0]));
  console.log(`planner at the swarm's shape (8 x 64, rank 8, all targets, ${format}${swarm.vocabFormat !== 'f32' ? `, ${swarm.vocabFormat} embedding` : ''}): full model ${(full / MiB).toFixed(1)} MiB; ` +
    `1 layer ${(one / MiB).toFixed(1)} MiB (${((100 * one) / full).toFixed(1)}%); 1 layer with 64-row logits chunks ${(chunked / MiB).toFixed(1)} MiB (${((100 * chunked) / full).toFixed(1)}%)`);
});
