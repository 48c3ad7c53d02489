/**
 * `npm run bench`: our WGSL kernels vs TensorFlow.js's WebGPU backend, in one headless Chromium.
 * Starts a Vite dev server (the repo's vite.config.ts, own free port, the model directory served
 * at /model/), opens apps/web-client/test-pages/bench.html, calls window.runBench and prints:
 *   1. GFLOP/s of each matmul shape of the default model's LoRA step, ours vs tf.matMul;
 *   2. tokens/s of the whole LoRA training step, LoraTrainingSession vs the same step in tfjs ops
 *      (and both step-1 losses);
 *   3. measured peak bytes of our step (memory ledger) vs estimateLoraSessionBytes.
 */
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseHfConfig, SeededRandom, streamWindows } from '@fedllm/core';
import { brownPlainText, loadTokenizerDir } from '@fedllm/core/node';
import { REPO_ROOT, withHeadlessPage } from '../browser/headlessChromium';
import { parseCliArgs, positiveInt, positiveNumber, runCli, UsageError } from './cliSupport';
import { DEFAULT_MODEL_DIR } from './defaults';
// The page's API types (DOM-free, so this DOM-less tsconfig checks them too).
import type { BenchBatch, BenchOptions, BenchResult, MatmulRow, TrainingRun } from '@fedllm/core';

const USAGE =
  'npm run bench -- [--model <dir>] [--iters N] [--steps N] [--batch B] [--seq T] [--rank R] [--lr X] [--parts matmul,training,memory] [--json] [--timeout-min N]';

/** Token batches from the Brown validation split (the model's own tokenizer); random ids as a fallback. */
async function makeBatches(modelDir: string, vocabSize: number, B: number, T: number, count: number, seed: number): Promise<{ batches: BenchBatch[]; source: string }> {
  const needed = count * B;
  try {
    const tok = await loadTokenizerDir(modelDir);
    const sep = tok.eosId ?? 0;
    const docs: number[][] = [];
    let tokens = 0;
    for (const text of brownPlainText('validation')) {
      const ids = tok.encode(text);
      docs.push(ids);
      tokens += ids.length + 1;
      if (tokens > needed * T + T) break;
    }
    const windows = streamWindows(docs, T, sep);
    if (windows.length >= needed) {
      const batches: BenchBatch[] = [];
      for (let i = 0; i < count; i++) {
        const inputIds: number[] = [], targets: number[] = [];
        for (const w of windows.slice(i * B, (i + 1) * B)) {
          for (let t = 0; t < T; t++) { inputIds.push(w.tokens[t]); targets.push(w.tokens[t + 1]); }
        }
        batches.push({ inputIds, targets });
      }
      return { batches, source: 'Brown validation text (model tokenizer)' };
    }
  } catch (e) {
    console.error(`[bench] no tokenized text (${(e as Error).message}); using random token ids`);
  }
  const rng = new SeededRandom(seed + 100);
  const batches = Array.from({ length: count }, () => {
    const inputIds = Array.from({ length: B * T }, () => rng.int(vocabSize));
    return { inputIds, targets: inputIds.map((_, i) => (i % T === T - 1 ? -1 : inputIds[i + 1])) };
  });
  return { batches, source: 'random token ids' };
}

// ---------------------------------------------------------------------------------------------
// Output

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function table(header: string[], rows: string[][], leftCols = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < leftCols ? pad(c, widths[i]) : lpad(c, widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

function report(r: BenchResult, modelDir: string, dataSource: string, o: BenchOptions, load: { start: number; end: number }): string {
  const out: string[] = [];
  const m = r.model;
  out.push(`LoRA training-step benchmark: ours (hand-written WGSL) vs TensorFlow.js ${r.tfjs.version} (${r.tfjs.backend} backend), same Chromium tab`);
  out.push(
    `GPU adapter: ${[r.device.vendor, r.device.architecture, r.device.description].filter(Boolean).join(' / ') || 'unknown'}; ` +
      `host: ${availableParallelism()} CPUs, 1-min load average ${load.start.toFixed(2)} at start, ${load.end.toFixed(2)} at end`,
  );
  out.push(
    `model: ${modelDir} (vocab ${m.vocabSize}, hidden ${m.hiddenSize}, ffn ${m.intermediateSize}, ${m.numLayers} layers, ` +
      `${m.numHeads} q / ${m.numKvHeads} kv heads × ${m.headDim}, ${m.tieWordEmbeddings ? 'tied' : 'untied'} embeddings, ${(m.params / 1e6).toFixed(2)}M params)`,
  );
  out.push(
    `step: batch ${r.shape.batch} × seq ${r.shape.seqLen} = ${r.shape.tokens} tokens; LoRA rank ${r.shape.rank}, alpha ${r.shape.alpha}, ` +
      `targets ${r.shape.targets.join(',')}; data: ${dataSource}`,
  );

  if (r.matmul.length) {
    out.push('', '1. Matmul throughput, C[M,N] = op(A)·op(B), R = reduction length. Each side: min(iters,16) warm-up runs, then `iters`');
    out.push('   runs ended by one device.queue.onSubmittedWorkDone() (tfjs: tf.matMul, its deferred encoder flushed before the same sync)');
    const rows = r.matmul.map((x) => [
      x.op, x.targets, `${x.M}×${x.N}×${x.R}`, (x.flop / 1e6).toFixed(1), String(x.iters),
      x.ours.msPerIter.toFixed(2), x.ours.gflops.toFixed(2), x.tfjs.msPerIter.toFixed(2), x.tfjs.gflops.toFixed(2),
      x.tfjs.program, `${(x.ours.gflops / x.tfjs.gflops).toFixed(2)}×`, x.relDiff.toExponential(1),
    ]);
    const sum = (f: (x: MatmulRow) => number) => r.matmul.reduce((a, x) => a + f(x), 0);
    const flop = sum((x) => x.flop), oursMs = sum((x) => x.ours.msPerIter), tfMs = sum((x) => x.tfjs.msPerIter);
    rows.push([
      'all shapes once', '', '', (flop / 1e6).toFixed(1), '', oursMs.toFixed(2), (flop / oursMs / 1e6).toFixed(2),
      tfMs.toFixed(2), (flop / tfMs / 1e6).toFixed(2), '', `${(tfMs / oursMs).toFixed(2)}×`, '',
    ]);
    out.push(table(
      ['op', 'targets', 'M×N×R', 'MFLOP', 'iters', 'ours ms', 'ours GFLOP/s', 'tfjs ms', 'tfjs GFLOP/s', 'tfjs program', 'ours/tfjs', 'max rel.diff'],
      rows, 3,
    ));
  }

  if (r.training) {
    const { ours, tfjs } = r.training;
    out.push('', `2. Whole LoRA training step (full plan, ${m.numLayers} layers, ${r.shape.tokens} tokens/step, AdamW/Adam lr ${o.lr}): step 1 is`);
    out.push(`   the warm-up, tokens/s over the next ${o.steps} step(s); every step ends with the loss readback (a GPU sync)`);
    const timedMs = (t: TrainingRun) => t.stepMs.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, t.stepMs.length - 1);
    const row = (name: string, t: TrainingRun) => [
      name, (t.setupMs / 1000).toFixed(2), (t.stepMs[0] / 1000).toFixed(2), (timedMs(t) / 1000).toFixed(2), t.tokensPerSec.toFixed(0),
      String(t.dispatchesPerStep), String(t.submitsPerStep), t.losses.map((l) => l.toFixed(5)).join(' '),
    ];
    out.push(table(
      ['implementation', 'setup s', 'step 1 s', 's/step', 'tokens/s', 'dispatches/step', 'submits/step', 'loss before each update (step 1, 2, ...)'],
      [row('ours (LoraTrainingSession)', ours), row('tfjs (tf ops + variableGrads + Adam)', tfjs)], 1,
    ).replace(/ +$/gm, ''));
    const d1 = Math.abs(ours.losses[0] - tfjs.losses[0]);
    const dMax = Math.max(...ours.losses.map((l, i) => Math.abs(l - tfjs.losses[i])));
    out.push(`loss at step 1: ours ${ours.losses[0].toFixed(6)}, tfjs ${tfjs.losses[0].toFixed(6)}, |Δ| ${d1.toExponential(2)} (max |Δ| over all steps ${dMax.toExponential(2)})`);
    out.push(`throughput: ours ${(ours.tokensPerSec / tfjs.tokensPerSec).toFixed(2)}× tfjs`);
  }

  if (r.memory.length) {
    out.push('', '3. GPU memory of our step: measured peak (GpuMemoryLedger, every buffer incl. uniforms) vs estimateLoraSessionBytes');
    out.push(table(
      ['plan', 'layers', 'measured peak', 'estimate', 'peak − estimate', 'peak/estimate', 'loss'],
      r.memory.map((x) => [
        x.plan, String(x.layers), `${x.peakBytes} B (${mib(x.peakBytes)})`, `${x.estimateBytes} B (${mib(x.estimateBytes)})`,
        `${x.peakBytes - x.estimateBytes} B`, (x.peakBytes / x.estimateBytes).toFixed(4), x.loss.toFixed(5),
      ]), 1,
    ));
    const kinds = r.memory[0].byKind;
    out.push(`estimate by kind (${r.memory[0].plan}): ${Object.entries(kinds).map(([k, v]) => `${k} ${mib(v)}`).join(', ')}`);
    if (r.tfjs.gpuBytesAllocated !== undefined) {
      out.push(`(tfjs, for reference: ${mib(r.tfjs.gpuBytesAllocated)} of GPU buffers allocated after its steps, incl. its buffer pool)`);
    }
  }
  out.push('', `total in browser: ${(r.totalMs / 1000).toFixed(1)} s`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseCliArgs(USAGE, {
    model: { type: 'string' },
    iters: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
    rank: { type: 'string' },
    lr: { type: 'string' },
    parts: { type: 'string' },
    json: { type: 'boolean' },
    'timeout-min': { type: 'string' },
  });
  const modelDir = resolve(args.model ?? DEFAULT_MODEL_DIR);
  for (const f of ['config.json', 'model.safetensors']) {
    const st = await stat(join(modelDir, f)).catch(() => undefined);
    if (!st?.isFile()) throw new UsageError(`${join(modelDir, f)} not found (--model must be a directory with config.json and model.safetensors)`);
  }
  const B = positiveInt(args.batch, 8, 'batch'), T = positiveInt(args.seq, 128, 'seq');
  const steps = positiveInt(args.steps, 3, 'steps');
  const rank = positiveInt(args.rank, 8, 'rank');
  const partNames = (args.parts ?? 'matmul,training,memory').split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of partNames) if (!['matmul', 'training', 'memory'].includes(p)) throw new UsageError(`--parts: unknown part "${p}" (matmul, training, memory)`);
  const parts = { matmul: partNames.includes('matmul'), training: partNames.includes('training'), memory: partNames.includes('memory') };
  const timeoutMs = positiveNumber(args['timeout-min'], 15, 'timeout-min') * 60_000;
  const config = parseHfConfig(JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')));
  if (T > config.maxPositionEmbeddings) throw new UsageError(`--seq ${T} exceeds the model's ${config.maxPositionEmbeddings} positions`);

  const t0 = performance.now();
  const loadStart = loadavg()[0];
  const { batches, source } = await makeBatches(modelDir, config.vocabSize, B, T, steps + 1, 1234);
  const opts: BenchOptions = {
    batch: B, seqLen: T, iters: positiveInt(args.iters, 5, 'iters'), warmup: 2, steps, rank, alpha: 2 * rank,
    lr: positiveNumber(args.lr, 1e-3, 'lr'), seed: 1234, batches, smallPlanLayers: config.numLayers >= 2 ? [0, 1] : [0], parts,
  };

  const { result, load, wallMs } = await withHeadlessPage({
    path: '/test-pages/bench.html',
    modelDir,
    vite: {
      // Own dependency cache: other Vite servers (browser tests) may be optimizing at the same time.
      cacheDir: join(REPO_ROOT, 'node_modules/.vite-bench'),
      logLevel: 'warn',
      optimizeDeps: {
        entries: ['test-pages/bench.html'],
        include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-core/dist/register_all_gradients', '@tensorflow/tfjs-backend-webgpu'],
      },
    },
    onListening: (base) => console.error(`[bench] vite dev server on ${base}; launching Chromium`),
    onConsole: (msg) => {
      const text = msg.text();
      if (text.startsWith('[bench]')) console.error(`${text} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      else if (msg.type() === 'error' || msg.type() === 'warning') console.error(`[page ${msg.type()}] ${text}`);
    },
    onPageError: (e) => console.error(`[page error] ${e.message}`),
    timeout: { ms: timeoutMs, message: `bench did not finish within ${timeoutMs / 60_000} min (--timeout-min)` },
  }, async (page) => {
    await page.waitForFunction(() => typeof (globalThis as { runBench?: unknown }).runBench === 'function', undefined, { timeout: 180_000 });
    const files = { config: '/model/config.json', weights: '/model/model.safetensors' };
    const result = await (page.evaluate(
      ({ files, opts }) => (globalThis as unknown as { runBench: (f: unknown, o: unknown) => Promise<unknown> }).runBench(files, opts),
      { files, opts },
    ) as Promise<BenchResult>);
    // Measured before the browser and the server are closed.
    return { result, load: { start: loadStart, end: loadavg()[0] }, wallMs: performance.now() - t0 };
  });
  if (args.json) {
    console.log(JSON.stringify({ model: modelDir, data: source, options: { ...opts, batches: opts.batches.length }, load, result }, null, 2));
  } else {
    console.log(report(result, modelDir.startsWith(REPO_ROOT) ? modelDir.slice(REPO_ROOT.length) : modelDir, source, opts, load));
    console.log(`wall time incl. server and browser start: ${(wallMs / 1000).toFixed(1)} s`);
  }
}

await runCli(USAGE, main);
