// The experiment pipeline end to end on a tiny grid: real model, data and strategies in the
// simulator, then the report (markdown, SVG plots) written from the raw results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { experimentModelConfig, parseExperimentConfig } from '../src/experiment/experimentConfig';
import { memoryCheckCases } from '../src/experiment/memoryCheck';
import { modelPartBytes, roundsToReach, spread, strategyFigures, weightDownloadsByRound } from '../src/experiment/experimentSummary';
import { DelegatingStrategy, tensor, type LoraAdapter, type StrategyUpdate } from '@fedllm/core';
import { writeExperimentReport } from '../src/experiment/experimentReport';
import { runSimulationJob, type SimulationJobResult } from '../src/experiment/simulationJob';
import { withWebgpuTrainer } from '../src/experiment/webgpuLocalTrainer';

const config = parseExperimentConfig({
  name: 'tiny', rounds: 2, localSteps: 1, batch: 2, seqLen: 32, lr: 0.005, logitsChunkRows: 64,
  lora: { rank: 4, alpha: 8, targets: ['q', 'v', 'down'] },
  tiers: [{ name: 'small', fraction: 0.3, count: 1 }, { name: 'large', fraction: 1, count: 1 }],
  calibrationBatches: 1, strategyOptions: { devftStages: 2 },
  studies: [{ name: 'spam-tiny', task: 'spam', partition: { kind: 'dirichlet', alpha: 1 }, strategies: ['budget-planner', 'fedpruner', 'exclusive', 'devft'], seeds: [3], evalExamples: 4, targetAccuracy: 0.5 }],
});

/** The trivial wrapper: the inner aggregate times 1, through new tensors. */
class ScaledByOne extends DelegatingStrategy {
  calls = 0;
  override aggregate(global: LoraAdapter, updates: readonly StrategyUpdate[]): LoraAdapter {
    this.calls++;
    const next = super.aggregate(global, updates);
    const layers = new Map([...next.layers].map(([i, l]) => [i, Object.fromEntries(Object.entries(l).map(([t, p]) => [t, {
      A: tensor([...p!.A.shape], Float32Array.from(p!.A.data, (v) => v * 1)), B: tensor([...p!.B.shape], Float32Array.from(p!.B.data, (v) => v * 1)),
    }]))]));
    return { config: next.config, layers };
  }
}

test('a strategy wrapped in a trivial wrapper runs bit-identically (DevFT, with its derived state, and the budget planner)', async () => {
  const study = config.studies[0];
  for (const strategy of ['devft', 'budget-planner'] as const) {
    const plain = await runSimulationJob({ config, study, strategy, seed: 3 });
    let wrapper: ScaledByOne | undefined;
    const wrapped = await runSimulationJob({ config, study, strategy, seed: 3 }, undefined, undefined, (s) => (wrapper = new ScaledByOne(s)));
    assert.equal(wrapper!.calls, 2, 'the wrapper aggregated every round');
    const strip = (r: SimulationJobResult) => r.rounds.map(({ trainSeconds: _, ...rest }) => rest);
    assert.deepEqual(strip(wrapped), strip(plain), `${strategy}: same plans, losses, accuracy and eval loss every round`);
    assert.ok(plain.rounds.some((r) => r.tasks.some((t) => !t.excluded)), 'somebody trained');
  }
});

test('summary figures: spread and rounds to reach a target', () => {
  assert.deepEqual(spread([1, 3]), { mean: 2, std: Math.SQRT2, min: 1, max: 3, n: 2 });
  assert.equal(roundsToReach([0.4, 0.6, 0.8], 0.6), 2);
  assert.equal(roundsToReach([0.4, 0.5], 0.6), undefined);
  assert.throws(() => parseExperimentConfig({ ...config, tiers: [] }), /tiers/);
});

test('weight downloads: a tab pays for the parts it does not hold yet, per served model', () => {
  const model = experimentModelConfig(config);
  const p = modelPartBytes(model);
  // The part sizes are those of the real tensors (embedding tied: one V×H table plus the final norm).
  assert.equal(p.shared, 4 * (model.vocabSize * model.hiddenSize + model.hiddenSize));
  assert.equal(p.mlp, 4 * (model.hiddenSize + 3 * tensor([model.intermediateSize, model.hiddenSize]).data.length));
  const task = (clientId: string, plan: string, modelKey: string) => ({ clientId, tier: 't', budgetBytes: 1, plan, modelKey });
  const round = (tasks: ReturnType<typeof task>[]) => ({ round: 0, accuracy: 0, evalLoss: 0, participants: 1, bytesUp: 0, bytesDown: 0, trainSeconds: 0, strategyState: '', tasks });
  const r = { rounds: [round([task('a', '0', 'base')]), round([task('a', '0,4a', 'base')]), round([task('a', '0', 'stage1')])] } as unknown as SimulationJobResult;
  assert.deepEqual(weightDownloadsByRound(r, model), [p.shared + p.attention + p.mlp, p.attention, p.shared + p.attention + p.mlp]);
});

test('experiment: strategies run in the simulator within their budgets, and the report is written', async () => {
  const study = config.studies[0];
  const results: SimulationJobResult[] = [];
  for (const strategy of study.strategies) results.push(await runSimulationJob({ config, study, strategy, seed: 3 }));
  for (const r of results) {
    assert.equal(r.rounds.length, 2);
    const budgets = Object.fromEntries(r.clients.map((c) => [c.tier, c.budgetBytes]));
    assert.equal(budgets.large, Math.floor(r.fullPeakBytes));
    for (const round of r.rounds) {
      assert.ok(round.accuracy >= 0 && round.accuracy <= 1 && Number.isFinite(round.evalLoss));
      for (const t of round.tasks) {
        if (t.excluded) continue;
        assert.ok(t.estimateBytes! <= t.budgetBytes, `${r.strategy}: ${t.estimateBytes} > ${t.budgetBytes}`);
        assert.ok(t.adapterBytesUp! > 0 && t.adapterBytesDown === t.adapterBytesUp, 'the same LoRA pairs go down and come back');
      }
      assert.equal(round.bytesUp, round.tasks.reduce((a, t) => a + (t.adapterBytesUp ?? 0), 0));
    }
  }
  const exclusive = results.find((r) => r.strategy === 'exclusive')!;
  assert.ok(exclusive.rounds.every((x) => x.tasks.find((t) => t.tier === 'small')!.excluded), 'a 30% tab cannot hold the full model');
  const devft = results.find((r) => r.strategy === 'devft')!;
  assert.deepEqual(devft.rounds.map((x) => x.tasks.find((t) => t.tier === 'large')!.layersKept), [3, 6], 'DevFT grows from a 3-layer stage to the full depth');
  // Cumulative bytes and participation as the report tabulates them.
  const model = experimentModelConfig(config);
  const f = strategyFigures([exclusive], 0, model);
  assert.equal(f.reachedTarget, 1);
  assert.equal(f.tiers.find((t) => t.tier === 'small')!.participation, 0);
  assert.equal(f.cumulativeBytesByRound[1], exclusive.rounds.reduce((a, x) => a + x.bytesUp + x.bytesDown, 0));
  // Every trained task shape becomes one memory-check case, under the smallest budget it had.
  const { cases, rows } = memoryCheckCases(config, results);
  assert.equal(rows.reduce((a, r) => a + r.assignments, 0), results.flatMap((r) => r.rounds.flatMap((x) => x.tasks.filter((t) => !t.excluded))).length);
  assert.ok(cases.every((c) => c.budgetBytes > 0));

  const out = await mkdtemp(join(tmpdir(), 'experiment-report-'));
  const files = writeExperimentReport(config, results, { outDir: out, command: 'npm run experiment -- tiny.json', rawPath: join(out, 'results', 'tiny.json') });
  const md = readFileSync(join(out, 'results.md'), 'utf8');
  for (const s of study.strategies) assert.match(md, new RegExp(`\\| ${s} \\|`));
  assert.match(md, /Expectations vs\. what we measured/);
  for (const f of files.filter((x) => x.endsWith('.svg'))) {
    assert.ok(existsSync(f));
    assert.match(readFileSync(f, 'utf8'), /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>$/);
  }
  assert.equal(files.filter((x) => x.endsWith('.svg')).length, 3);
});

test('experiment: the WebGPU engine (real training worker, headless Chromium) reproduces the CPU engine\'s run, within budgets it measures', async () => {
  const study = { ...config.studies[0], strategies: ['fedsoda' as const], stopAfter: 1 };
  const job = { config: { ...config, strategyOptions: { fedsodaFormat: 'int4' as const, fedsodaAlignSteps: 2 } }, study, strategy: 'fedsoda' as const, seed: 3 };
  const cpu = await runSimulationJob(job);
  const gpu = await withWebgpuTrainer((train) => runSimulationJob({ ...job, study: { ...study, engine: 'webgpu' } }, undefined, train));
  assert.equal(gpu.rounds.length, 1);
  const [c, g] = [cpu.rounds[0], gpu.rounds[0]];
  assert.ok(Math.abs(c.evalLoss - g.evalLoss) < 1e-4, `eval loss ${c.evalLoss} vs ${g.evalLoss}`);
  const trained = g.tasks.filter((t) => !t.excluded);
  assert.ok(trained.length > 0);
  for (const t of trained) {
    const u = c.tasks.find((x) => x.clientId === t.clientId)!;
    assert.equal(t.plan, u.plan);
    assert.ok(Math.abs(t.finalLoss! - u.finalLoss!) < 1e-4, `${t.clientId}: ${t.finalLoss} vs ${u.finalLoss}`);
    assert.equal(t.weightFormat, 'int4');
    assert.ok(t.peakBytes! <= t.budgetBytes, `${t.clientId}: measured ${t.peakBytes} > budget ${t.budgetBytes}`);
    assert.ok(Math.abs(t.estimateBytes! - t.peakBytes!) <= 0.1 * t.peakBytes!, `${t.clientId}: estimate ${t.estimateBytes} vs measured ${t.peakBytes}`);
  }
});
