/**
 * The experiment trainer page's API (apps/web-client/test-pages/trainer.html): one tab's local
 * training of a simulated round, run by the real training worker (WGSL kernels, memory ledger).
 * Binary fields travel base64-encoded (Playwright's evaluate passes JSON).
 */
import type { WorkerTrainRequest } from './trainingWorkerApi';

export type ExperimentTrainRequest = Omit<WorkerTrainRequest, 'baseTensors' | 'lora' | 'batches'> & {
  baseTensorsB64: string;
  loraB64: string;
  batch: number;
  seqLen: number;
  inputIdsB64: string;
  targetsB64: string;
};

export interface ExperimentTrainResult {
  loraB64: string;
  losses: number[];
  peakBytes: number;
  estimateBytes: number;
  tokensPerSecond: number;
}
