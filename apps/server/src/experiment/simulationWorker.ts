// Worker thread running one simulation job (experimentRunner.ts keeps one per core busy).
import { parentPort, workerData } from 'node:worker_threads';
import { runSimulationJob, type SimulationJob } from './simulationJob';

const job = workerData as SimulationJob;
const tag = `[${job.study.name} ${job.strategy} seed ${job.seed}]`;
try {
  const result = await runSimulationJob(job, (m) => parentPort!.postMessage({ log: `${tag} ${m}` }));
  parentPort!.postMessage({ result });
} catch (e) {
  parentPort!.postMessage({ error: `${tag} ${(e as Error).stack ?? String(e)}` });
}
