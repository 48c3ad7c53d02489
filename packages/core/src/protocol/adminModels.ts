/**
 * The models an operator can pick for a run (admin event `listModels`, and `createRun`'s optional
 * `modelDir`). A run names its model by a directory name under the coordinator's models root,
 * never by a path: the name is checked here, at both edges, and the coordinator resolves it
 * inside the root.
 */
import { z } from 'zod';
import { ProtocolError } from './federatedProtocol';
import type { RunSettingsInput } from './runSettings';

/** One path segment: no separators, no NUL, not "." or ".." (so it cannot leave the root). */
export const modelDirNameSchema = z.string().min(1).max(200)
  .regex(/^[^/\\\0]+$/, 'must be a directory name under the models root, not a path')
  .refine((s) => s !== '.' && s !== '..', 'must be a directory name under the models root, not "." or ".."');

/** What createRun carries besides the settings (which the settings schema reads and strips). */
const createRunModelSchema = z.object({ modelDir: modelDirNameSchema.optional() });

/** createRun's request: the run settings plus, optionally, the model directory's name. */
export type CreateRunRequest = RunSettingsInput & { modelDir?: string };

/** The model a createRun request names (undefined: the coordinator's --model); refused on field "modelDir". */
export function parseModelDirChoice(value: unknown): string | undefined {
  const r = createRunModelSchema.safeParse(value ?? {});
  if (r.success) return r.data.modelDir;
  throw new ProtocolError('bad-settings', `invalid run setting modelDir: ${r.error.issues[0].message}`, 'modelDir');
}

/** A Hugging Face model directory under the models root, as listModels reports it. */
export interface ModelListing {
  /** The directory's name under the root: what createRun's modelDir takes. */
  name: string;
  architecture: string;
  numLayers: number;
  hiddenSize: number;
  vocabSize: number;
  /** Size of the weight files (model*.safetensors) on disk. */
  weightsBytes: number;
}

export interface ModelList {
  root: string;
  models: ModelListing[];
  /** The name of the coordinator's --model under the root; null when --model lies outside it. */
  defaultModel: string | null;
  /** The --model directory, which runs created without modelDir use. */
  defaultDir: string;
}
