/** Runs the grid's jobs on a pool of worker threads (one job per thread: jobs share nothing). */
import { startTsWorker } from '../threads/startTsWorker';
import type { ExperimentConfig } from './experimentConfig';
import type { SimulationJob, SimulationJobResult } from './simulationJob';

export function gridJobs(config: ExperimentConfig): SimulationJob[] {
  return config.studies.flatMap((study) => study.seeds.flatMap((seed) => study.strategies.map((strategy) => ({ config, study, strategy, seed }))));
}

export async function runJobs(
  jobs: readonly SimulationJob[], parallel: number, log: (m: string) => void, onResult: (r: SimulationJobResult) => void,
): Promise<SimulationJobResult[]> {
  const results: SimulationJobResult[] = [];
  let next = 0;
  const errors: string[] = [];
  const lane = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      await new Promise<void>((resolve) => {
        const w = startTsWorker(new URL('./simulationWorker.ts', import.meta.url), job);
        let settled = false;
        w.on('message', (m: { log?: string; result?: SimulationJobResult; error?: string }) => {
          if (m.log) log(m.log);
          if (m.result) {
            results.push(m.result);
            onResult(m.result);
          }
          if (m.error) errors.push(m.error);
        });
        w.on('error', (e) => errors.push(`[${job.study.name} ${job.strategy} seed ${job.seed}] ${e.stack ?? e.message}`));
        w.on('exit', () => {
          if (!settled) {
            settled = true;
            resolve();
          }
        });
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, lane));
  if (errors.length) throw new Error(`${errors.length} experiment job(s) failed:\n${errors.join('\n')}`);
  return results;
}
