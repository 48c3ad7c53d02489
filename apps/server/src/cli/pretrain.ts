// npm run pretrain -- [--out models/tiny-brown-llama] [--steps N] [--workers N] [--max-minutes M]
// Trains the default model (tokenizer + weights) from the Brown corpus; see pretrainDefaultModel.
import { DEFAULT_PRETRAIN, pretrainDefaultModel } from '../pretrain/pretrainDefaultModel';
import { DEFAULT_MODEL_DIR } from './defaults';
import { nonNegativeInt, parseCliArgs, positiveInt, positiveNumber, runCli } from './cliSupport';

const USAGE = 'npm run pretrain -- [--out <dir>] [--steps N] [--workers N] [--max-minutes M] [--batch-size B] [--seed S]';
await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    out: { type: 'string', default: DEFAULT_MODEL_DIR }, steps: { type: 'string' }, workers: { type: 'string' },
    'max-minutes': { type: 'string' }, 'batch-size': { type: 'string' }, seed: { type: 'string' },
  });
  await pretrainDefaultModel({
    ...DEFAULT_PRETRAIN,
    outDir: a.out!,
    steps: positiveInt(a.steps, DEFAULT_PRETRAIN.steps, 'steps'),
    workers: positiveInt(a.workers, DEFAULT_PRETRAIN.workers, 'workers'),
    maxMinutes: positiveNumber(a['max-minutes'], DEFAULT_PRETRAIN.maxMinutes, 'max-minutes'),
    batchSize: positiveInt(a['batch-size'], DEFAULT_PRETRAIN.batchSize, 'batch-size'),
    seed: nonNegativeInt(a.seed, DEFAULT_PRETRAIN.seed, 'seed'),
    log: (l) => console.log(`[pretrain] ${l}`),
  });
});
