import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread running a TypeScript module. Node 20 does not pass the parent's tsx
 * loader to workers, so a tiny bootstrap registers tsx in the worker before importing it.
 */
export function startTsWorker(url: URL, workerData: unknown): Worker {
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
