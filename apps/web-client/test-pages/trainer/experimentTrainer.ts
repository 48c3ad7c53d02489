// Experiment trainer page: hands each simulated tab's local training to the real training worker
// (the one volunteer tabs run), so a study with "engine": "webgpu" trains on the WGSL kernels.
import * as Comlink from 'comlink';
import type { ExperimentTrainRequest, ExperimentTrainResult, TrainingWorkerApi } from '@fedllm/core';

const worker = Comlink.wrap<TrainingWorkerApi>(new Worker(new URL('../../src/worker/trainingWorker.ts', import.meta.url), { type: 'module' }));

function fromB64(s: string): ArrayBuffer {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function toB64(b: ArrayBuffer): string {
  const u = new Uint8Array(b);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
}

async function trainTask(r: ExperimentTrainRequest): Promise<ExperimentTrainResult> {
  const { baseTensorsB64, loraB64, batch, seqLen, inputIdsB64, targetsB64, ...rest } = r;
  const result = await worker.train({
    ...rest, baseTensors: [fromB64(baseTensorsB64)], lora: fromB64(loraB64),
    batches: { batch, seqLen, inputIds: new Int32Array(fromB64(inputIdsB64)), targets: new Int32Array(fromB64(targetsB64)) },
  });
  return { loraB64: toB64(result.lora), losses: result.losses, peakBytes: result.peakBytes, estimateBytes: result.estimateBytes, tokensPerSecond: result.tokensPerSecond };
}

await worker.init();
(globalThis as unknown as { trainTask: typeof trainTask }).trainTask = trainTask;
