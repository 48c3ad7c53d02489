import type { ModelConfig } from '../model/modelConfig';
import type { LoraConfig } from '../model/lora';
import type { SubmodelPlan } from '../model/submodelPlan';
import type { WeightFormat } from '../model/weightQuantization';

/**
 * The API of the training worker (a Dedicated Worker exposed with comlink), typed once here and
 * shared by the worker and every page that drives it. Binary payloads are safetensors blobs
 * (ArrayBuffers, transferred, not copied): base tensors under HF names, LoRA under PEFT names.
 */
export interface WorkerGpuInfo {
  vendor: string;
  architecture: string;
  description: string;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** Token batches of one local training run, flattened: steps × batch × seqLen ids and targets. */
export interface WorkerBatches {
  batch: number;
  seqLen: number;
  inputIds: Int32Array;
  targets: Int32Array;
}

export interface WorkerTrainRequest {
  config: ModelConfig;
  plan: SubmodelPlan;
  /**
   * safetensors files holding the base tensors of the kept parts (HF names), e.g. the parts a tab
   * downloaded from the coordinator; together they must hold exactly what the plan needs. A
   * quantized base's files hold its packed matrices as packed words (packedSafetensors.ts).
   */
  baseTensors: ArrayBuffer[];
  /**
   * How the frozen projections are stored on the GPU (default 'f32'). With a packed format the
   * kept projections come packed in baseTensors (the tab never holds them as float32) or, if they
   * come as float tensors, are quantized in the worker. Packed vocabulary tables stay packed.
   */
  weightFormat?: WeightFormat;
  /** safetensors bytes of the starting LoRA (PEFT names) for the kept layers. */
  lora: ArrayBuffer;
  loraConfig: LoraConfig;
  batches: WorkerBatches;
  steps: number;
  lr: number;
  /** Global LoRA gradient-norm clipping (none when absent). */
  clipNorm?: number;
  /** Run the LM head and loss over this many token rows at a time (loraSessionLayout.ts); default all. */
  logitsChunkRows?: number;
  /** GPU memory the session may use; building fails with GpuBudgetExceededError above it. */
  budgetBytes: number;
  /** Names the run for cancel(); a cancelled run rejects with TrainingCancelledError between steps. */
  jobId?: string;
}

export interface WorkerTrainResult {
  /** Trained LoRA as PEFT-named safetensors bytes. */
  lora: ArrayBuffer;
  losses: number[];
  /** Ledger high-water mark of the session. */
  peakBytes: number;
  /** Memory estimate for the same session (loraSessionBuffers). */
  estimateBytes: number;
  tokensPerSecond: number;
  /** Session build time (pipelines, uploads) and per-step wall times. */
  buildMs: number;
  stepMs: number[];
}

export interface TrainingWorkerApi {
  /** Creates the worker's GPUDevice (with the adapter's real limits) and reports it. */
  init(): Promise<WorkerGpuInfo>;
  train(req: WorkerTrainRequest): Promise<WorkerTrainResult>;
  /**
   * Stops the training run with this jobId after its current step (its GPU memory is released);
   * the coordinator no longer wants it. Unknown ids are remembered briefly, for a run just starting.
   */
  cancel(jobId: string): Promise<void>;
  /** Destroys the device, as a driver reset would: for tests of the device-lost path. */
  loseDeviceForTesting(): Promise<void>;
}
