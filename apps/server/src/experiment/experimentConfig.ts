/**
 * The experiment grid `npm run experiment -- <config.json>` runs: strategies × seeds × partitions
 * over one client population (memory tiers as fractions of the full model's training peak).
 */
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LORA_TARGETS, parseHfConfig, RUN_TASKS, STRATEGY_NAMES, WEIGHT_FORMATS, type ModelConfig } from '@fedllm/core';

const partitionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('iid') }),
  z.object({ kind: z.literal('dirichlet'), alpha: z.number().positive() }),
  z.object({ kind: z.literal('natural') }),
]);

const studySchema = z.object({
  /** Heading of this study in the report. */
  name: z.string().min(1),
  task: z.enum(RUN_TASKS),
  partition: partitionSchema,
  strategies: z.array(z.enum(STRATEGY_NAMES)).min(1),
  seeds: z.array(z.number().int().min(0)).min(1),
  /** Held-out examples scored after each round (brown-genre scores 15 labels per example). */
  evalExamples: z.number().int().min(1),
  /** "Rounds to reach" this accuracy. */
  targetAccuracy: z.number().min(0).max(1),
  /**
   * Local training engine: the CPU reference engine on worker threads, or the real WebGPU training
   * worker in headless Chromium (slow on SwiftShader; it measures every assignment's peak).
   */
  engine: z.enum(['cpu', 'webgpu']).default('cpu'),
  /** This study's number of rounds (default: the config's). */
  rounds: z.number().int().min(1).optional(),
  /** Run only the first N rounds of the schedule (the strategies still plan for all of them). */
  stopAfter: z.number().int().min(1).optional(),
  /** This study's local steps per round (default: the config's). */
  localSteps: z.number().int().min(1).optional(),
});

export const experimentConfigSchema = z.object({
  name: z.string().min(1),
  model: z.string().default('models/tiny-brown-llama'),
  rounds: z.number().int().min(1),
  localSteps: z.number().int().min(1),
  batch: z.number().int().min(1),
  seqLen: z.number().int().min(8),
  lr: z.number().positive(),
  clipNorm: z.number().positive().default(1),
  logitsChunkRows: z.number().int().positive().optional(),
  lora: z.object({
    rank: z.number().int().min(1),
    alpha: z.number().positive(),
    targets: z.array(z.enum(LORA_TARGETS)).min(1),
  }),
  /** Memory tiers: `count` tabs with budget = fraction × the full model's predicted training peak. */
  tiers: z.array(z.object({ name: z.string(), fraction: z.number().positive(), count: z.number().int().min(1) })).min(1),
  /**
   * Calibration batches of 8 rows: task training rows for layer importance and CKA (as the
   * coordinator measures them), and public Brown text windows for FedSODA's distillation.
   */
  calibrationBatches: z.number().int().min(1).default(4),
  strategyOptions: z.object({
    devftStages: z.number().int().min(1).optional(),
    devftBeta: z.number().min(0).optional(),
    fedsodaFormat: z.enum(WEIGHT_FORMATS).optional(),
    fedsodaAlignSteps: z.number().int().min(0).optional(),
    fedsodaAlignLr: z.number().positive().optional(),
    fedsodaRealignEvery: z.number().int().min(0).optional(),
  }).default({}),
  studies: z.array(studySchema).min(1),
});
export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;
export type StudyConfig = ExperimentConfig['studies'][number];

export function parseExperimentConfig(value: unknown): ExperimentConfig {
  const r = experimentConfigSchema.safeParse(value);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new Error(`experiment config: ${i.path.join('.') || '(root)'}: ${i.message}`);
}

/** The experiment model's config (its config.json alone; the weights are loaded by the jobs). */
export function experimentModelConfig(config: ExperimentConfig): ModelConfig {
  return parseHfConfig(JSON.parse(readFileSync(join(config.model, 'config.json'), 'utf8')));
}
