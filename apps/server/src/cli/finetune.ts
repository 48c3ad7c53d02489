// npm start (= npm run finetune): LoRA fine-tuning of the default model on one task with the CPU
// reference engine: base accuracy, local training, accuracy after, PEFT adapter written to --out.
// It is the single-client version of what each browser tab does in a federated round.
import {
  classificationAccuracy, completionBatch, cosineLr, createLoraAdapter, LORA_TARGETS, LoraTrainer, SeededRandom,
  type LoraTarget,
  taskForModel,
  isRunTask,
  RUN_TASKS,
} from '@fedllm/core';
import { loadTask, modelNameOrPath, saveAdapterDir } from '@fedllm/core/node';
import { DEFAULT_MODEL_DIR } from './defaults';
import { runCli, parseCliArgs, positiveInt, positiveNumber, nonNegativeInt, UsageError } from './cliSupport';
import { loadForCli } from './loadForCli';

const USAGE = 'npm start -- [--model <dir>] [--task spam|brown-genre] [--steps N] [--batch-size B] [--rank R] [--alpha A] [--targets q,v,..] [--lr LR] [--eval-limit N] [--out <dir>]';

await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    model: { type: 'string', default: DEFAULT_MODEL_DIR }, task: { type: 'string', default: 'spam' },
    steps: { type: 'string' }, 'batch-size': { type: 'string' }, rank: { type: 'string' }, alpha: { type: 'string' },
    targets: { type: 'string', default: 'q,k,v,o,gate,up,down' }, lr: { type: 'string' }, 'eval-limit': { type: 'string' },
    'max-len': { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
  });
  if (!isRunTask(a.task!)) throw new UsageError(`--task must be one of ${RUN_TASKS.join(', ')} (classification), got "${a.task}"`);
  const targets = a.targets!.split(',').map((s) => s.trim()) as LoraTarget[];
  for (const t of targets) if (!LORA_TARGETS.includes(t)) throw new UsageError(`unknown LoRA target "${t}"; valid: ${LORA_TARGETS.join(',')}`);
  const steps = positiveInt(a.steps, 100, 'steps');
  const bs = positiveInt(a['batch-size'], 8, 'batch-size');
  const rank = positiveInt(a.rank, 8, 'rank');
  const alpha = positiveNumber(a.alpha, 16, 'alpha');
  const lr = positiveNumber(a.lr, 3e-3, 'lr');
  const evalLimit = positiveInt(a['eval-limit'], 200, 'eval-limit');
  const seed = nonNegativeInt(a.seed, 1, 'seed');
  const out = a.out ?? `runs/finetune-${a.task}`;
  const log = (s: string) => console.log(`[finetune] ${s}`);

  const { model, tokenizer } = await loadForCli(a.model!, { needTokenizer: true });
  const tok = tokenizer!;
  const maxLen = positiveInt(a['max-len'], Math.min(128, model.config.maxPositionEmbeddings), 'max-len');
  const task = taskForModel(loadTask(a.task), tok);
  const testSet = task.test.slice(0, evalLimit);
  log(`model ${a.model}: ${model.config.numLayers} layers, hidden ${model.config.hiddenSize}; task ${task.name}: ${task.train.length} train, evaluating on ${testSet.length} test examples`);
  const before = classificationAccuracy(model, tok, task, testSet, { maxLen });
  log(`base model: accuracy ${before.accuracy.toFixed(3)} (majority-class baseline ${before.majorityBaseline.toFixed(3)})`);

  const rng = new SeededRandom(seed);
  const adapter = createLoraAdapter(model.config, { rank, alpha, targets }, [...Array(model.config.numLayers).keys()], rng);
  const trainer = new LoraTrainer(model, adapter, { lr, clipNorm: 1 });
  const order = rng.shuffle([...task.train.keys()]);
  const pad = tok.padId ?? tok.eosId ?? 0;
  const t0 = performance.now();
  let tokens = 0;
  for (let s = 0; s < steps; s++) {
    const rows = order.slice((s * bs) % order.length, (s * bs) % order.length + bs).map((i) => ({
      prompt: tok.encode(task.prompt(task.train[i].text)),
      completion: tok.encode(task.completion(task.train[i].label)),
    }));
    const batch = completionBatch(rows, maxLen, pad);
    const loss = trainer.step(batch, cosineLr(s, steps, lr, Math.min(10, steps)));
    tokens += batch.B * batch.T;
    if ((s + 1) % 10 === 0 || s === 0 || s + 1 === steps) {
      log(`step ${s + 1}/${steps} loss ${loss.toFixed(4)} (${(tokens / ((performance.now() - t0) / 1000)).toFixed(0)} tok/s)`);
    }
  }
  const after = classificationAccuracy(model, tok, task, testSet, { maxLen, lora: adapter });
  log(`with LoRA:  accuracy ${after.accuracy.toFixed(3)} (was ${before.accuracy.toFixed(3)})`);
  await saveAdapterDir(out, adapter, model.config, await modelNameOrPath(a.model!));
  log(`adapter written to ${out} (PEFT layout); evaluate it with: npm run eval -- --model ${a.model} --task ${task.name} --adapter ${out}`);
  console.log(JSON.stringify({ task: task.name, steps, baseAccuracy: before.accuracy, loraAccuracy: after.accuracy, n: testSet.length, adapter: out }));
});
