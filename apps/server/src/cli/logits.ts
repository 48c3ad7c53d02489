// npm run logits -- --model <dir> --tokens <comma-separated ids> [--engine cpu]
// Prints {"tokens": [...], "logits": [[...], ...]}: next-token logits at every position.
import { runCli, parseCliArgs, requireArg, intList, UsageError } from './cliSupport';
import { loadForCli } from './loadForCli';
import { withHeadlessPage } from '../browser/headlessChromium';

const USAGE = 'npm run logits -- --model <dir> --tokens <ids> [--engine cpu|webgpu] [--adapter <dir>] [--layers 0,1,..]';
await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    model: { type: 'string' }, tokens: { type: 'string' }, engine: { type: 'string', default: 'cpu' },
    adapter: { type: 'string' }, layers: { type: 'string' },
  });
  const tokens = intList(requireArg(a.tokens, 'tokens'), 'tokens');
  if (a.engine === 'webgpu') {
    if (a.adapter || a.layers) throw new UsageError('--adapter and --layers are supported with --engine cpu only');
    const modelDir = requireArg(a.model, 'model');
    const logits = await withHeadlessPage({ path: '/tools/logits.html', modelDir }, async (page) => {
      await page.waitForFunction(() => 'webgpuLogits' in globalThis);
      return page.evaluate((t) => (globalThis as unknown as { webgpuLogits(t: number[]): Promise<number[][]> }).webgpuLogits(t), tokens);
    });
    process.stdout.write(JSON.stringify({ tokens, logits }) + '\n');
    return;
  }
  if (a.engine !== 'cpu') throw new UsageError(`unknown --engine "${a.engine}"; engines: cpu, webgpu`);
  const { model, adapter, plan } = await loadForCli(requireArg(a.model, 'model'), { adapter: a.adapter, layers: a.layers, maxSeqLen: tokens.length });
  const T = tokens.length;
  if (T > model.config.maxPositionEmbeddings) {
    throw new UsageError(`${T} tokens exceed the model's ${model.config.maxPositionEmbeddings} positions`);
  }
  const V = model.config.vocabSize;
  const logits = model.logits({ B: 1, T, inputIds: Int32Array.from(tokens), targets: new Int32Array(T).fill(-1) }, { lora: adapter, plan });
  const rows: number[][] = [];
  for (let t = 0; t < T; t++) rows.push(Array.from(logits.subarray(t * V, (t + 1) * V)));
  process.stdout.write(JSON.stringify({ tokens, logits: rows }) + '\n');
});
