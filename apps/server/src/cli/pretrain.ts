// npm run pretrain -- [--out models/tiny-brown-llama] [--steps N] [--workers N] [--max-minutes M]
// Trains the default model (tokenizer + weights) from the Brown corpus; see pretrainDefaultModel.
import { parseArgs } from 'node:util';
import { DEFAULT_PRETRAIN, pretrainDefaultModel } from '../pretrain/pretrainDefaultModel';
import { DEFAULT_MODEL_DIR } from './defaults';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: DEFAULT_MODEL_DIR },
    steps: { type: 'string' },
    workers: { type: 'string' },
    'max-minutes': { type: 'string' },
    'batch-size': { type: 'string' },
    seed: { type: 'string' },
  },
});
const num = (v: string | undefined, d: number, name: string): number => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${v}"`);
  return n;
};

await pretrainDefaultModel({
  ...DEFAULT_PRETRAIN,
  outDir: values.out!,
  steps: num(values.steps, DEFAULT_PRETRAIN.steps, 'steps'),
  workers: num(values.workers, DEFAULT_PRETRAIN.workers, 'workers'),
  maxMinutes: num(values['max-minutes'], DEFAULT_PRETRAIN.maxMinutes, 'max-minutes'),
  batchSize: num(values['batch-size'], DEFAULT_PRETRAIN.batchSize, 'batch-size'),
  seed: num(values.seed, DEFAULT_PRETRAIN.seed, 'seed'),
  log: (l) => console.log(`[pretrain] ${l}`),
});
