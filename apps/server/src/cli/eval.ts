// npm run eval -- --model <dir> --task <spam|brown-genre|brown-lm> [--adapter <dir>] [--split test] [--limit N]
// Prints the task metrics as one JSON line.
import { bigramPerplexity, classificationAccuracy, lmPerplexity, taskForModel, type ClassificationMetrics, type PerplexityResult } from '@fedllm/core';
import { brownPlainText, isTaskName, loadTask, TASK_NAMES } from '@fedllm/core/node';
import { DEFAULT_MODEL_DIR } from './defaults';
import { runCli, parseCliArgs, requireArg, positiveInt, UsageError } from './cliSupport';
import { loadForCli } from './loadForCli';

const USAGE = `npm run eval -- --model <dir> --task <${TASK_NAMES.join('|')}> [--adapter <dir>] [--split test|validation] [--limit N] [--max-len T] [--layers 0,2,..]`;
const SPLITS = ['test', 'validation', 'train'] as const;

await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    model: { type: 'string', default: DEFAULT_MODEL_DIR }, task: { type: 'string' }, adapter: { type: 'string' },
    split: { type: 'string', default: 'test' }, limit: { type: 'string' }, 'max-len': { type: 'string' }, layers: { type: 'string' },
  });
  const taskName = requireArg(a.task, 'task');
  if (!isTaskName(taskName)) throw new UsageError(`unknown task "${taskName}"; tasks: ${TASK_NAMES.join(', ')}`);
  const split = a.split as (typeof SPLITS)[number];
  if (!SPLITS.includes(split)) throw new UsageError(`--split must be one of ${SPLITS.join(', ')}, got "${a.split}"`);
  const { model, tokenizer, adapter, plan } = await loadForCli(a.model!, { adapter: a.adapter, layers: a.layers, needTokenizer: true });
  const tok = tokenizer!;
  // Default context: the pretraining window of small models, capped by the model's own limit.
  const maxLen = positiveInt(a['max-len'], Math.min(128, model.config.maxPositionEmbeddings), 'max-len');
  const limit = a.limit ? positiveInt(a.limit, 0, 'limit') : undefined;
  const t0 = performance.now();
  const head = { task: taskName, split, model: a.model, adapter: a.adapter ?? null, layers: plan ? plan.layers.map((l) => l.index) : 'all' };
  let metrics: ClassificationMetrics | (PerplexityResult & { bigramPerplexity: number; bigramTokens: number });
  if (taskName === 'brown-lm') {
    const sep = tok.eosId ?? 0;
    const evalDocs = brownPlainText(split).slice(0, limit).map((d) => tok.encode(d));
    const trainDocs = brownPlainText('train').map((d) => tok.encode(d));
    const ppl = lmPerplexity(model, evalDocs, sep, { T: maxLen, lora: adapter, plan });
    const bigram = bigramPerplexity(trainDocs, evalDocs, sep, model.config.vocabSize);
    metrics = { ...ppl, bigramPerplexity: bigram.perplexity, bigramTokens: bigram.tokens };
  } else {
    const task = taskForModel(loadTask(taskName), tok);
    const examples = task[split].slice(0, limit);
    metrics = classificationAccuracy(model, tok, task, examples, { maxLen, lora: adapter, plan });
  }
  process.stdout.write(JSON.stringify({ ...head, ...metrics, seconds: +((performance.now() - t0) / 1000).toFixed(1) }) + '\n');
});
