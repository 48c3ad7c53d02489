// npm run experiment -- <config.json>: runs the config's studies (strategies × seeds over one client
// population) in the in-process simulator, writes the raw results as they arrive, then the report
// (docs/results.md, plots). --report-only rebuilds the report from an existing raw file.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseExperimentConfig } from '../experiment/experimentConfig';
import { gridJobs, runJobs } from '../experiment/experimentRunner';
import type { SimulationJobResult } from '../experiment/simulationJob';
import { runCli, UsageError } from './cliSupport';

const USAGE = 'npm run experiment -- <config.json> [--out docs] [--jobs N] [--report-only] [--skip-memory]';

await runCli(USAGE, async () => {
  const { values: a, positionals } = parseArgs({
    options: {
      out: { type: 'string', default: 'docs' }, jobs: { type: 'string' }, 'report-only': { type: 'boolean', default: false },
      'skip-memory': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
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
  const rawPath = join(a.out, 'results', `${config.name}.json`);
  let results: SimulationJobResult[];
  if (a['report-only']) {
    results = (JSON.parse(readFileSync(rawPath, 'utf8')) as { results: SimulationJobResult[] }).results;
  } else {
    const jobs = gridJobs(config);
    const parallel = a.jobs ? Number(a.jobs) : availableParallelism();
    if (!Number.isInteger(parallel) || parallel < 1) throw new UsageError(`--jobs must be a positive integer, got "${a.jobs}"`);
    const t0 = Date.now();
    console.log(`experiment ${config.name}: ${jobs.length} job(s) on ${parallel} thread(s)`);
    mkdirSync(dirname(rawPath), { recursive: true });
    const done: SimulationJobResult[] = [];
    const save = () => writeFileSync(rawPath, JSON.stringify({ config, command: `npm run experiment -- ${configPath}`, results: done }, null, 1));
    results = await runJobs(jobs, parallel, (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`), (r) => {
      done.push(r);
      save();
      console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s] finished ${r.study} ${r.strategy} seed ${r.seed} in ${r.seconds.toFixed(0)} s (${done.length}/${jobs.length})`);
    });
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
