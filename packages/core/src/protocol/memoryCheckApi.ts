/**
 * The memory-check page's API (apps/web-client/test-pages/memory.html, driven by the experiment
 * CLI): build the real WebGPU LoRA session of each task shape under its budget, run one training
 * step, and report the ledger's measured peak next to the estimator's prediction.
 */
import type { LoraConfig } from '../model/lora';
import type { SubmodelPlan } from '../model/submodelPlan';
import type { ModelConfig } from '../model/modelConfig';
import type { WeightFormat } from '../model/weightQuantization';

export interface MemoryCheckCase {
  key: string;
  config: ModelConfig;
  plan: SubmodelPlan;
  lora: LoraConfig;
  batch: number;
  seqLen: number;
  clipNorm?: number;
  logitsChunkRows?: number;
  weightFormat: WeightFormat;
  /** The session's ledger enforces it: a plan over budget fails to build. */
  budgetBytes: number;
}

export interface MemoryCheckResult {
  key: string;
  /** The ledger's high-water mark after one training step (undefined when the session failed). */
  peakBytes?: number;
  /** The strategies' prediction (planPeakBytes: buffer list + dispatch reserve). */
  estimateBytes: number;
  budgetBytes: number;
  error?: string;
}
