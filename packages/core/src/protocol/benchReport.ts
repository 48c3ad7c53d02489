// Types of the benchmark page's API (window.runBench), shared by the page and the Node runner
// (apps/server/src/cli/bench.ts). Kept free of DOM types.

export interface BenchModelFiles {
  /** URL of config.json. */
  config: string;
  /** URL of model.safetensors (single file). */
  weights: string;
}

export interface BenchBatch {
  inputIds: number[];
  /** -1 = not counted. */
  targets: number[];
}

export interface BenchOptions {
  batch: number;
  seqLen: number;
  /** Base iteration count of each matmul measurement (tiny shapes run more, see minFlop). */
  iters: number;
  /** Un-timed runs before each measurement (compiles pipelines, uploads inputs). */
  warmup: number;
  /** Timed training steps per implementation (after one warm-up step). */
  steps: number;
  rank: number;
  alpha: number;
  lr: number;
  seed: number;
  /** Token batches (cycled); each holds batch*seqLen ids and targets. */
  batches: BenchBatch[];
  /** Layers of the small plan whose peak bytes are measured too. */
  smallPlanLayers: number[];
  /** Which parts to run (default all). */
  parts?: { matmul?: boolean; training?: boolean; memory?: boolean };
}

export interface MatmulTiming {
  msPerIter: number;
  gflops: number;
}

export interface MatmulRow {
  op: string;
  targets: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  R: number;
  flop: number;
  iters: number;
  warmup: number;
  ours: MatmulTiming;
  tfjs: MatmulTiming & { program: string };
  /** max |ours - tfjs| over the output, relative to max |tfjs|. */
  relDiff: number;
}

export interface TrainingRun {
  impl: 'ours' | 'tfjs';
  /** Loss before each update: [warm-up step, timed steps...]. */
  losses: number[];
  /** Wall time of each step (same order), ms, each ending with the loss readback. */
  stepMs: number[];
  /** Tokens/s over the timed steps (batch*seqLen per step). */
  tokensPerSec: number;
  /** Building the session / uploading the weights, ms. */
  setupMs: number;
  /** Compute dispatches and queue submits one step issues (counted on the warm-up step). */
  dispatchesPerStep: number;
  submitsPerStep: number;
}

export interface MemoryRow {
  plan: string;
  layers: number;
  peakBytes: number;
  estimateBytes: number;
  byKind: Record<string, number>;
  /** A step on this plan (the step is part of what the peak covers). */
  stepMs: number;
  loss: number;
}

export interface BenchResult {
  device: { vendor: string; architecture: string; device: string; description: string };
  tfjs: { version: string; backend: string; gpuBytesAllocated?: number; numTensors: number };
  model: {
    vocabSize: number; hiddenSize: number; intermediateSize: number; numLayers: number; numHeads: number;
    numKvHeads: number; headDim: number; tieWordEmbeddings: boolean; params: number;
  };
  shape: { batch: number; seqLen: number; tokens: number; rank: number; alpha: number; targets: string[] };
  matmul: MatmulRow[];
  training?: { ours: TrainingRun; tfjs: TrainingRun };
  memory: MemoryRow[];
  totalMs: number;
}
