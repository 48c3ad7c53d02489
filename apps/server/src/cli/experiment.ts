// npm run experiment -- <config.json>: runs the config's studies (strategies × seeds over one client
// population) in the in-process simulator, writes the raw results as they arrive, then the report
// (docs/results.md, plots). --report-only rebuilds the report from an existing raw file.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseExperimentConfig } from '../experiment/experimentConfig';
import { gridJobs, runJobs } from '../experiment/experimentRunner';
import type { SimulationJobResult } from '../experiment/simulationJob';
import { runCli, UsageError } from './cliSupport';

const USAGE = 'npm run experiment -- <config.json> [--out docs] [--jobs N] [--study NAME] [--report-only] [--skip-memory]';

await runCli(USAGE, async () => {
  const { values: a, positionals } = parseArgs({
    options: {
      out: { type: 'string', default: 'docs' }, jobs: { type: 'string' }, 'report-only': { type: 'boolean', default: false },
      'skip-memory': { type: 'boolean', default: false }, study: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true, strict: true,
  });
  if (a.help) {
    console.log(`usage: ${USAGE}`);
    return;
  }
  if (positionals.length !== 1) throw new UsageError('give exactly one experiment config file (e.g. experiments/seed-methods.json)');
  const configPath = positionals[0];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read the config ${configPath}: ${(e as Error).message}`);
  }
  const config = parseExperimentConfig(raw);
  if (a.study && !config.studies.some((s) => s.name === a.study)) throw new UsageError(`--study: the config has no study "${a.study}" (it has ${config.studies.map((s) => s.name).join(', ')})`);
  const resultsDir = join(a.out, 'results');
  // --study runs one study into its own raw file (another run may be writing the main one); the
  // report merges them all.
  const rawPath = join(resultsDir, a.study ? `${config.name}.${a.study}.json` : `${config.name}.json`);
  let results: SimulationJobResult[];
  if (a['report-only']) {
    const files = readdirSync(resultsDir).filter((f) => f === `${config.name}.json` || (f.startsWith(`${config.name}.`) && f.endsWith('.json')));
    // A cell run twice (in the full run and again with --study) counts once: the newest file's.
    const byCell = new Map<string, { r: SimulationJobResult; mtime: number }>();
    for (const f of files) {
      const mtime = statSync(join(resultsDir, f)).mtimeMs;
      for (const r of (JSON.parse(readFileSync(join(resultsDir, f), 'utf8')) as { results: SimulationJobResult[] }).results) {
        const key = `${r.study}|${r.strategy}|${r.seed}`;
        const had = byCell.get(key);
        if (!had || had.mtime < mtime) byCell.set(key, { r, mtime });
      }
    }
    results = [...byCell.values()].map((x) => x.r);
  } else {
    const jobs = gridJobs(config).filter((j) => !a.study || j.study.name === a.study);
    const parallel = a.jobs ? Number(a.jobs) : availableParallelism();
    if (!Number.isInteger(parallel) || parallel < 1) throw new UsageError(`--jobs must be a positive integer, got "${a.jobs}"`);
    const t0 = Date.now();
    const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);
    console.log(`experiment ${config.name}: ${jobs.length} job(s); CPU-engine jobs on ${parallel} thread(s), WebGPU-engine jobs one at a time in headless Chromium`);
    mkdirSync(dirname(rawPath), { recursive: true });
    const done: SimulationJobResult[] = [];
    const save = () => writeFileSync(rawPath, JSON.stringify({ config, command: `npm run experiment -- ${configPath}`, results: done }, null, 1));
    const finished = (r: SimulationJobResult) => {
      done.push(r);
      save();
      log(`finished ${r.study} ${r.strategy} seed ${r.seed} in ${r.seconds.toFixed(0)} s (${done.length}/${jobs.length})`);
    };
    const gpuJobs = jobs.filter((j) => j.study.engine === 'webgpu');
    await runJobs(jobs.filter((j) => j.study.engine !== 'webgpu'), parallel, log, finished);
    if (gpuJobs.length) {
      const { withWebgpuTrainer } = await import('../experiment/webgpuLocalTrainer');
      const { runSimulationJob } = await import('../experiment/simulationJob');
      await withWebgpuTrainer(async (train) => {
        for (const j of gpuJobs) finished(await runSimulationJob(j, (m) => log(`[${j.study.name} ${j.strategy} seed ${j.seed}] ${m}`), train));
      });
    }
    results = done;
    if (a.study) {
      console.log(`wrote ${rawPath}; rebuild the report with --report-only once every study has run`);
      return;
    }
  }
  // Measured memory: every task shape as the real WebGPU session (kept, so --report-only reuses it).
  const memoryPath = join(a.out, 'results', `${config.name}-memory.json`);
  let appendix: string | undefined;
  if (!a['skip-memory']) {
    const { measureMemory, memoryCheckMarkdown } = await import('../experiment/memoryCheck');
    const rows = a['report-only'] && existsSync(memoryPath)
      ? (JSON.parse(readFileSync(memoryPath, 'utf8')) as { rows: Awaited<ReturnType<typeof measureMemory>> }).rows
      : await measureMemory(config, results, (m) => console.log(m));
    writeFileSync(memoryPath, JSON.stringify({ rows }, null, 1));
    appendix = memoryCheckMarkdown(rows);
  }
  // Loaded only now: the report is rebuilt from the raw results, whatever ran them.
  const { writeExperimentReport } = await import('../experiment/experimentReport');
  const files = writeExperimentReport(config, results, { outDir: a.out, command: `npm run experiment -- ${configPath}`, rawPath, appendix });
  console.log(`wrote ${files.join(', ')}`);
});
