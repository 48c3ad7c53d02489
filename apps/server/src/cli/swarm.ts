// npm run swarm: a coordinator and N headless Chromium tabs with the given GPU budgets run one
// federated job to the end; prints a table per round (accuracy, loss, each tab's plan, measured
// peak vs budget, bytes up/down, time).
import { IMPORTANCE_MEASURES, isRunTask, RUN_TASKS, STRATEGY_NAMES, type RunSettings } from '@fedllm/core';
import { runSwarm } from '../swarm/swarmRunner';
import { formatRoundTable } from '../swarm/roundTable';
import { parseByteSize } from '../swarm/byteSize';
import { nonNegativeInt, parseCliArgs, positiveInt, positiveNumber, runCli, UsageError } from './cliSupport';

const USAGE = 'npm run swarm -- --clients N --rounds R --budgets 16MiB,24MiB,40MiB [--model <dir>] [--logits-chunk-rows N] [--importance loss-on-skip|block-influence] [--local-steps S] [--batch B] [--seq-len T] [--lr LR] ' +
  '[--task spam|brown-genre] [--strategy budget-planner|fedpruner|fedpruner-plus|devft|fedsoda|exclusive|unlimited|random-drop|uniform-drop|top-k|flexlora] [--layer-pick sample|top] [--eval-examples N] [--deadline-s S] [--kill-during-round K] [--seed N] [--timeout-s S] [--verbose]';

function parseStrategy(v: string): RunSettings['strategy'] {
  const valid = STRATEGY_NAMES;
  if (!(valid as readonly string[]).includes(v)) throw new UsageError(`--strategy must be one of ${valid.join(', ')}, got "${v}"`);
  return v as RunSettings['strategy'];
}

await runCli(USAGE, async () => {
  const a = parseCliArgs(USAGE, {
    clients: { type: 'string' }, rounds: { type: 'string' }, budgets: { type: 'string' }, 'local-steps': { type: 'string' },
    batch: { type: 'string' }, 'seq-len': { type: 'string' }, lr: { type: 'string' }, task: { type: 'string', default: 'spam' },
    'eval-examples': { type: 'string' }, 'deadline-s': { type: 'string' }, 'kill-during-round': { type: 'string' }, seed: { type: 'string' },
    'layer-pick': { type: 'string', default: 'sample' }, strategy: { type: 'string', default: 'budget-planner' }, verbose: { type: 'boolean', default: false },
    model: { type: 'string' }, 'logits-chunk-rows': { type: 'string' }, importance: { type: 'string', default: 'loss-on-skip' },
    'timeout-s': { type: 'string' },
  });
  const importance = a.importance as RunSettings['importance'];
  if (!IMPORTANCE_MEASURES.includes(importance)) throw new UsageError(`--importance must be one of ${IMPORTANCE_MEASURES.join(', ')}, got "${a.importance}"`);
  const clients = positiveInt(a.clients, 3, 'clients');
  if (!a.budgets) throw new UsageError('--budgets is required (a comma-separated list, e.g. 16MiB,24MiB,40MiB; cycled over the clients)');
  let list: number[];
  try {
    list = a.budgets.split(',').map(parseByteSize);
  } catch (e) {
    throw new UsageError(`--budgets: ${(e as Error).message}`);
  }
  const budgets = Array.from({ length: clients }, (_, i) => list[i % list.length]);
  if (!isRunTask(a.task!)) throw new UsageError(`--task must be one of ${RUN_TASKS.join(', ')}, got "${a.task}"`);
  const layerPick = a['layer-pick'];
  if (layerPick !== 'sample' && layerPick !== 'top') throw new UsageError(`--layer-pick must be sample or top, got "${layerPick}"`);
  const rounds = positiveInt(a.rounds, 3, 'rounds'), deadlineMs = positiveInt(a['deadline-s'], 900, 'deadline-s') * 1000;
  // Default: every round may use its whole deadline plus 10 minutes (evaluation, re-sampling), plus
  // 30 minutes to start (a large model's importance and base evaluation on the CPU engine).
  const timeoutMs = a['timeout-s'] === undefined ? rounds * (deadlineMs + 600_000) + 1_800_000 : positiveInt(a['timeout-s'], 1, 'timeout-s') * 1000;
  const t0 = Date.now();
  const log = (s: string) => console.log(`[swarm ${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}`);
  const result = await runSwarm({
    budgets, timeoutMs,
    settings: {
      name: 'swarm', task: a.task, rounds, localSteps: positiveInt(a['local-steps'], 20, 'local-steps'),
      batch: positiveInt(a.batch, 8, 'batch'), seqLen: positiveInt(a['seq-len'], 64, 'seq-len'), lr: positiveNumber(a.lr, 5e-3, 'lr'),
      evalExamples: positiveInt(a['eval-examples'], 200, 'eval-examples'), deadlineMs,
      seed: nonNegativeInt(a.seed, 1, 'seed'), shards: clients, layerPick, strategy: parseStrategy(a.strategy), importance,
      ...(a['logits-chunk-rows'] === undefined ? {} : { logitsChunkRows: positiveInt(a['logits-chunk-rows'], 64, 'logits-chunk-rows') }),
    },
    modelDir: a.model,
    killDuringRound: a['kill-during-round'] === undefined ? undefined : nonNegativeInt(a['kill-during-round'], 0, 'kill-during-round'),
    log,
    coordinatorLog: a.verbose ? (l) => console.log(`  ${l}`) : undefined,
  });
  console.log(`\nrun ${result.runId}: ${result.final.status}; base model accuracy ${result.baseAccuracy?.toFixed(3) ?? '-'}, eval loss ${result.baseEvalLoss?.toFixed(3) ?? '-'}; coordinator restarts ${result.restarts}`);
  for (const r of result.rounds) console.log(formatRoundTable(r));
  console.log(`state and round checkpoints (PEFT directories) in ${result.workDir}`);
  if (result.final.status !== 'completed') process.exitCode = 1;
});
