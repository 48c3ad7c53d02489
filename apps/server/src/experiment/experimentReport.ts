/**
 * docs/results.md and its plots from the raw results: per study and strategy, final accuracy (mean
 * and spread over seeds), rounds and bytes to the target accuracy, bytes up and down, and the peak
 * memory per tier; then the issue's expectations, checked against the numbers, whatever they say.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { STRATEGY_DESCRIPTIONS, type StrategyName } from '@fedllm/core';
import { experimentModelConfig, type ExperimentConfig } from './experimentConfig';
import { strategyFigures, type Spread, type StrategyFigures } from './experimentSummary';
import type { SimulationJobResult } from './simulationJob';
import { svgLineChart } from './svgLineChart';

export interface ReportOptions {
  outDir: string;
  command: string;
  rawPath: string;
  /** Extra markdown (e.g. the measured-memory check) appended before the method notes. */
  appendix?: string;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(2);
const kb = (b: number) => (Number.isFinite(b) ? `${(b / 1000).toFixed(0)} kB` : '–');
const pct = (x: number) => `${(100 * x).toFixed(1)}`;
const acc = (s: Spread) => (s.n ? `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})` : '–');

export function writeExperimentReport(config: ExperimentConfig, results: readonly SimulationJobResult[], o: ReportOptions): string[] {
  const plotDir = join(o.outDir, 'results');
  mkdirSync(plotDir, { recursive: true });
  const reportPath = join(o.outDir, 'results.md');
  const written: string[] = [];
  const md: string[] = [];
  const full = results[0]?.fullPeakBytes ?? NaN;
  const model = experimentModelConfig(config);
  md.push(`# Experiment report: ${config.name}`, '');
  md.push(`Produced on this project's development machine (2 CPU cores; WebGPU through Chromium's SwiftShader software adapter) by \`${o.command}\`; raw results: \`${relative(o.outDir, o.rawPath)}\`.`, '');
  md.push('## Setup', '');
  md.push(`- Model \`${config.model}\`; ${config.rounds} rounds; every tab trains ${config.localSteps} local steps of ${config.batch} × ${config.seqLen} tokens per round (AdamW lr ${config.lr}, clip ${config.clipNorm}); LoRA rank ${config.lora.rank}, alpha ${config.lora.alpha} on ${config.lora.targets.join(', ')}; logits in chunks of ${config.logitsChunkRows ?? 'all'} rows.`);
  md.push(`- Full-model training peak (predicted, the budget unit): **${mib(full)} MiB**. Tabs: ${config.tiers.map((t) => `${t.count} × ${t.name} (${pct(t.fraction)}% = ${mib(Math.floor(t.fraction * full))} MiB)`).join(', ')}; every tab takes part in every round it can.`);
  md.push('- Runner: the in-process simulator (`apps/server/src/experiment/federatedSimulator.ts`): the coordinator\'s strategies, data shards, aggregation and evaluation, with each tab\'s local training on the CPU reference engine, which the WGSL kernels match (see the README). Memory figures are the estimator\'s predictions; the section "Measured memory" compares them with the WebGPU ledger.');
  md.push('- Accuracy: label-completion log-probability on held-out examples (the first N of the test split); "eval loss" is the mean negative log-probability of the true label\'s completion.', '');

  for (const study of config.studies) {
    const rs = results.filter((r) => r.study === study.name);
    if (rs.length === 0) continue;
    const figs = study.strategies.flatMap((s) => {
      const mine = rs.filter((r) => r.strategy === s);
      return mine.length ? [strategyFigures(mine, study.targetAccuracy, model)] : [];
    });
    md.push(`## Study: ${study.name}`, '');
    const base = rs[0].base;
    md.push(`Local training engine: **${study.engine === 'webgpu' ? 'WebGPU (the real training worker and WGSL kernels in headless Chromium; each assignment\'s peak measured by its ledger)' : 'CPU reference engine'}**${study.rounds ? `; ${study.rounds} rounds` : ''}${study.localSteps ? `; ${study.localSteps} local steps per round` : ''}${study.stopAfter ? `; the first ${study.stopAfter} of the ${study.rounds ?? config.rounds} scheduled rounds` : ''}.`, '');
    md.push(`Task \`${study.task}\`, partition ${study.partition.kind === 'dirichlet' ? `Dirichlet α = ${study.partition.alpha} over labels` : study.partition.kind === 'natural' ? 'natural (whole classes per tab)' : 'IID'}; seeds ${study.seeds.join(', ')}; ${study.evalExamples} held-out examples; base model accuracy ${base.accuracy.toFixed(3)} (majority class ${base.majorityBaseline.toFixed(3)}), eval loss ${base.evalLoss.toFixed(3)}; target accuracy ${study.targetAccuracy}.`, '');
    md.push('| strategy | final accuracy mean ± sd (min–max) | final eval loss | best accuracy | rounds to target (reached) | adapter bytes up / down | adapter bytes to target | base-weight parts downloaded | train s |');
    md.push('|---|---|---|---|---|---|---|---|---|');
    for (const f of figs) {
      md.push(`| ${f.strategy} | ${acc(f.finalAccuracy)} | ${f.finalEvalLoss.mean.toFixed(3)} | ${f.bestAccuracy.mean.toFixed(3)} | ${f.reachedTarget ? f.roundsToTarget.mean.toFixed(1) : '–'} (${f.reachedTarget}/${f.seeds.length}) | ${kb(f.bytesUp.mean)} / ${kb(f.bytesDown.mean)} | ${f.reachedTarget ? kb(f.bytesToTarget.mean) : '–'} | ${kb(f.weightBytesDown.mean)} | ${f.trainSeconds.mean.toFixed(0)} |`);
    }
    md.push('', '### Peak memory per tier (predicted peak of the largest task; % of the full-model peak; share of rounds the tier trained)', '');
    const tiers = figs[0].tiers.map((t) => t.tier);
    md.push(`| strategy | ${tiers.join(' | ')} |`, `|---|${tiers.map(() => '---').join('|')}|`);
    for (const f of figs) {
      md.push(`| ${f.strategy} | ${f.tiers.map((t) => (t.maxEstimateBytes === undefined ? `excluded${t.excludedReason ? ` (${t.excludedReason})` : ''}` : `${mib(t.maxEstimateBytes)} MiB (${pct(t.maxEstimateBytes / full)}%), ${t.meanLayersKept!.toFixed(1)} layers${t.weightFormat !== 'f32' ? ` ${t.weightFormat}` : ''}, ${pct(t.participation)}% of rounds`)).join(' | ')} |`);
    }
    md.push('');
    const slug = study.name.replace(/[^a-z0-9-]+/gi, '-');
    const plots: [string, string][] = [
      [`${slug}-accuracy.svg`, svgLineChart(figs.map((f) => ({ name: f.strategy, points: f.accuracyByRound.map((a, i) => [i + 1, a] as const) })), { title: `${study.name}: held-out accuracy (mean over seeds)`, xLabel: 'round', yLabel: 'accuracy' })],
      [`${slug}-eval-loss.svg`, svgLineChart(figs.map((f) => ({ name: f.strategy, points: f.evalLossByRound.map((a, i) => [i + 1, a] as const) })), { title: `${study.name}: eval loss (mean over seeds)`, xLabel: 'round', yLabel: 'NLL of the true label' })],
      [`${slug}-accuracy-vs-bytes.svg`, svgLineChart(figs.map((f) => ({ name: f.strategy, points: f.accuracyByRound.map((a, i) => [f.cumulativeBytesByRound[i] / 1e6, a] as const) })), { title: `${study.name}: accuracy vs adapter traffic`, xLabel: 'cumulative adapter bytes up + down (MB)', yLabel: 'accuracy' })],
    ];
    for (const [name, svg] of plots) {
      writeFileSync(join(plotDir, name), svg);
      written.push(join(plotDir, name));
      md.push(`![${name}](results/${name})`);
    }
    if (study.engine === 'webgpu') md.push('', ...sameKernels(rs, results.filter((r) => !rs.includes(r)), config));
    else md.push('', ...expectations(figs, full, study.targetAccuracy, rs[0].base.accuracy, largestSwing(rs)), '');
    md.push('<details><summary>Per-round accuracy by seed, and each method\'s state</summary>', '');
    for (const r of rs) {
      md.push(`- ${r.strategy} seed ${r.seed}: ${r.rounds.map((x) => x.accuracy.toFixed(3)).join(', ')}; last state: ${r.rounds[r.rounds.length - 1].strategyState}`);
    }
    md.push('', '</details>', '');
  }
  if (o.appendix) md.push(o.appendix, '');
  md.push('## Methods as implemented', '');
  for (const [name, d] of Object.entries(STRATEGY_DESCRIPTIONS) as [StrategyName, string][]) md.push(`- **${name}**: ${d}.`);
  md.push('', 'Source: `packages/core/src/federated/strategies/` (each file documents where the papers are silent and what we chose).', '');
  writeFileSync(reportPath, md.join('\n'));
  written.unshift(reportPath);
  return written;
}

/**
 * A WebGPU-engine study against the CPU-engine runs of the same task, partition, strategy and seed:
 * the same data, plans and aggregation, so any gap is the engines' numerics. Also the measured
 * peak of every assignment against its budget and the estimate.
 */
function sameKernels(gpu: readonly SimulationJobResult[], others: readonly SimulationJobResult[], config: ExperimentConfig): string[] {
  const out = ['### WebGPU engine vs CPU engine, and measured memory per assignment', ''];
  const studyOf = (name: string) => config.studies.find((s) => s.name === name)!;
  const key = (r: SimulationJobResult) => { const s = studyOf(r.study); return `${s.task}|${JSON.stringify(s.partition)}|${r.strategy}|${r.seed}`; };
  out.push('| strategy | rounds compared | largest accuracy difference | largest eval-loss difference | largest difference of a tab\'s final training loss |', '|---|---|---|---|---|');
  for (const g of gpu) {
    const c = others.find((o) => studyOf(o.study).engine !== 'webgpu' && key(o) === key(g));
    if (!c) {
      out.push(`| ${g.strategy} | no CPU-engine run of the same cell | | | |`);
      continue;
    }
    const n = Math.min(g.rounds.length, c.rounds.length);
    let da = 0, dl = 0, dt = 0;
    for (let i = 0; i < n; i++) {
      da = Math.max(da, Math.abs(g.rounds[i].accuracy - c.rounds[i].accuracy));
      dl = Math.max(dl, Math.abs(g.rounds[i].evalLoss - c.rounds[i].evalLoss));
      for (const t of g.rounds[i].tasks) {
        const u = c.rounds[i].tasks.find((x) => x.clientId === t.clientId);
        if (t.finalLoss !== undefined && u?.finalLoss !== undefined) dt = Math.max(dt, Math.abs(t.finalLoss - u.finalLoss));
      }
    }
    out.push(`| ${g.strategy} | ${n} | ${da.toFixed(4)} | ${dl.toExponential(2)} | ${dt.toExponential(2)} |`);
  }
  const tasks = gpu.flatMap((r) => r.rounds.flatMap((x) => x.tasks.filter((t) => t.peakBytes !== undefined).map((t) => ({ ...t, exempt: r.strategy === 'unlimited' }))));
  const budgeted = tasks.filter((t) => !t.exempt);
  const over = budgeted.filter((t) => t.peakBytes! > t.budgetBytes);
  const rel = tasks.map((t) => Math.abs(t.estimateBytes! - t.peakBytes!) / t.peakBytes!);
  out.push('', `Measured by the WebGPU ledger in every one of the ${tasks.length} assignments: peak ≤ budget in **${budgeted.length - over.length} of ${budgeted.length}**; estimate within **${(100 * Math.max(0, ...rel)).toFixed(2)}%** of the measured peak (largest difference).`, '');
  return out;
}

/** The largest change of accuracy between two consecutive rounds of one run (the noise floor of a final-accuracy comparison). */
function largestSwing(rs: readonly SimulationJobResult[]): { swing: number; where: string } {
  let best = { swing: 0, where: '' };
  for (const r of rs) {
    for (let i = 1; i < r.rounds.length; i++) {
      const d = Math.abs(r.rounds[i].accuracy - r.rounds[i - 1].accuracy);
      if (d > best.swing) best = { swing: d, where: `${r.strategy} seed ${r.seed}, rounds ${i - 1} -> ${i}: ${r.rounds[i - 1].accuracy.toFixed(3)} -> ${r.rounds[i].accuracy.toFixed(3)}` };
    }
  }
  return best;
}

/** The issue's expectations, each with the numbers behind the verdict. */
function expectations(figs: readonly StrategyFigures[], full: number, target: number, baseAccuracy: number, noise: { swing: number; where: string }): string[] {
  const by = (s: string) => figs.find((f) => f.strategy === s);
  const out = ['### Expectations vs. what we measured', ''];
  const yes = (b: boolean) => (b ? '**yes**' : '**no**');
  if (figs.every((f) => f.finalAccuracy.max === baseAccuracy && f.finalAccuracy.min === baseAccuracy)) {
    out.push(`- **Every strategy ends at the base model's accuracy (${baseAccuracy.toFixed(3)}) in every seed**: the accuracy comparisons below are ties, not evidence either way; the eval loss (the true label's negative log-probability) is given next to each.`);
  } else if (noise.swing >= 0.02) {
    out.push(`- **Read the accuracy verdicts below against the noise**: one run's accuracy moved by up to ${noise.swing.toFixed(3)} between consecutive rounds (${noise.where}), so a final-accuracy difference smaller than that is not evidence either way; the eval loss (the true label's negative log-probability) and the best accuracy are steadier.`);
  }
  const smallest = (f: StrategyFigures) => [...f.tiers].sort((a, b) => a.budgetBytes - b.budgetBytes)[0];
  const small = figs.filter((f) => f.strategy !== 'unlimited').map((f) => ({ s: f.strategy, t: smallest(f) })).filter((x) => x.t.maxEstimateBytes !== undefined);
  if (small.length) {
    const fit = small.filter((x) => x.t.maxEstimateBytes! / full <= 0.25).map((x) => x.s);
    out.push(`- Small tier at ≤ 25% of the full-model peak (largest task of the smallest tier): ${small.map((x) => `${x.s} ${pct(x.t.maxEstimateBytes! / full)}%`).join(', ')} → ${fit.length ? `${yes(true)} for ${fit.join(', ')}` : `${yes(false)} for every strategy`}.`);
  }
  const loss = (f: StrategyFigures | undefined) => (f ? f.finalEvalLoss.mean.toFixed(3) : '–');
  const naive = ['random-drop', 'uniform-drop'].map(by).filter((f): f is StrategyFigures => !!f);
  const upper = by('unlimited');
  for (const m of ['fedpruner', 'fedpruner-plus', 'devft', 'fedsoda']) {
    const f = by(m);
    if (!f) continue;
    const a = f.finalAccuracy.mean;
    if (naive.length) {
      const best = Math.max(...naive.map((n) => n.finalAccuracy.mean));
      out.push(`- ${m} ≥ 2 points above random and uniform dropping: ${a.toFixed(3)} vs ${naive.map((n) => `${n.strategy} ${n.finalAccuracy.mean.toFixed(3)}`).join(', ')} (difference ${(100 * (a - best)).toFixed(1)} points) → ${yes(a - best >= 0.02)}. Eval loss: ${loss(f)} vs ${naive.map((n) => `${n.strategy} ${loss(n)}`).join(', ')}.`);
    }
    if (upper) out.push(`- ${m} within 2 points of the unlimited-memory upper bound: ${a.toFixed(3)} vs ${upper.finalAccuracy.mean.toFixed(3)} (${(100 * (a - upper.finalAccuracy.mean)).toFixed(1)} points) → ${yes(a >= upper.finalAccuracy.mean - 0.02)}. Eval loss: ${loss(f)} vs ${loss(upper)}.`);
  }
  const devft = by('devft');
  for (const ref of ['exclusive', 'unlimited']) {
    const r = by(ref);
    if (!devft || !r) continue;
    // Paired by seed: only seeds where both reached the target are compared.
    const seeds = Object.keys(devft.bytesToTargetBySeed).map(Number).filter((s) => s in r.bytesToTargetBySeed);
    if (seeds.length) {
      const ratios = seeds.map((s) => r.bytesToTargetBySeed[s] / devft.bytesToTargetBySeed[s]);
      const ratio = ratios.reduce((a, b) => a + b, 0) / ratios.length;
      out.push(`- DevFT reaches accuracy ${target} in ≥ 2× fewer adapter bytes than full-depth FedAvg-LoRA (${ref}): per seed ${seeds.map((s, i) => `seed ${s}: ${kb(devft.bytesToTargetBySeed[s])} vs ${kb(r.bytesToTargetBySeed[s])} (${ratios[i].toFixed(2)}×)`).join('; ')} → ${yes(ratio >= 2)} (mean ${ratio.toFixed(2)}×).`);
    } else {
      out.push(`- DevFT vs full-depth FedAvg-LoRA (${ref}) bytes to accuracy ${target}: not comparable, no seed where both reached it (DevFT ${devft.reachedTarget}/${devft.seeds.length}, ${ref} ${r.reachedTarget}/${r.seeds.length} seeds). Total adapter bytes: DevFT ${kb(devft.bytesUp.mean + devft.bytesDown.mean)}, ${ref} ${kb(r.bytesUp.mean + r.bytesDown.mean)}.`);
    }
  }
  return out;
}
