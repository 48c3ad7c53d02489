// npm run generate -- --model <dir> --prompt "text" [--max-new-tokens 60] [--temperature 0.8] [--top-k 40] [--seed 1]
import { generateTokens, SeededRandom } from '@fedllm/core';
import { DEFAULT_MODEL_DIR } from './defaults';
import { runCli, parseCliArgs, requireArg, positiveInt, nonNegativeInt, UsageError } from './cliSupport';
import { loadForCli } from './loadForCli';

const USAGE = 'npm run generate -- [--model <dir>] --prompt <text> [--max-new-tokens N] [--temperature T] [--top-k K] [--seed S] [--adapter <dir>]';
await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    model: { type: 'string', default: DEFAULT_MODEL_DIR }, prompt: { type: 'string' }, 'max-new-tokens': { type: 'string' },
    temperature: { type: 'string' }, 'top-k': { type: 'string' }, seed: { type: 'string' }, adapter: { type: 'string' },
    layers: { type: 'string' },
  });
  const prompt = requireArg(a.prompt, 'prompt');
  const temperature = a.temperature === undefined ? 0.8 : Number(a.temperature);
  if (!(temperature >= 0)) throw new UsageError(`--temperature must be >= 0, got "${a.temperature}"`);
  const { model, tokenizer, adapter, plan } = await loadForCli(a.model!, { adapter: a.adapter, layers: a.layers, needTokenizer: true });
  const ids = tokenizer!.encode(prompt);
  const eos = tokenizer!.eosId;
  const out = generateTokens(model, eos !== undefined ? [eos, ...ids] : ids, {
    maxNewTokens: positiveInt(a['max-new-tokens'], 60, 'max-new-tokens'),
    temperature, topK: positiveInt(a['top-k'], 40, 'top-k'),
    rng: new SeededRandom(nonNegativeInt(a.seed, 1, 'seed')),
    stopIds: eos !== undefined ? [eos] : [], lora: adapter, plan,
  });
  process.stdout.write(prompt + tokenizer!.decode(out) + '\n');
});
