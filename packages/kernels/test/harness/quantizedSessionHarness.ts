import {
  createLoraAdapter, estimateLoraSessionBytes, initLlamaWeights, quantizeWeights, LORA_TARGETS, SeededRandom,
  type ModelConfig, type QuantizedLlamaWeights, type SubmodelPlan, type WeightFormat,
} from '@fedllm/core';
import { createGpuContext, GpuBudgetExceededError, LoraTrainingSession, type LoraSessionSpec } from '../../src/index';
import { errorMessages } from './common';

/**
 * A quantized base under a budget: with the budget its int4 estimate needs (plus the uniform
 * reserve), the int4 session builds and the f32 one is refused by the ledger; and mismatched
 * formats are refused by name, leaving nothing allocated.
 */
export async function quantizedSessionLimits(config: ModelConfig, plan: SubmodelPlan): Promise<{
  estimates: Record<WeightFormat, number>; budget: number; fits: Record<WeightFormat, string>; errors: string[];
}> {
  const ctx = await createGpuContext();
  const floats = initLlamaWeights(config, new SeededRandom(21), 0.1);
  const lora = () => createLoraAdapter(config, { rank: 2, alpha: 4, targets: [...LORA_TARGETS] }, plan.layers.map((l) => l.index), new SeededRandom(22), 0.05);
  const base = { config, plan, batch: 2, seqLen: 8, optimizer: { lr: 1e-2 } };
  const estimates = {} as Record<WeightFormat, number>;
  for (const f of ['f32', 'int8', 'int4'] as const) estimates[f] = estimateLoraSessionBytes({ ...base, lora: lora().config, weightFormat: f }).totalBytes;
  const budget = estimates.int4 + 16384;
  const fits = {} as Record<WeightFormat, string>;
  for (const f of ['f32', 'int8', 'int4'] as const) {
    try {
      const s = await LoraTrainingSession.create(ctx, { ...base, lora: lora(), weights: f === 'f32' ? floats : quantizeWeights(config, floats, f), budgetBytes: budget });
      fits[f] = `peak ${s.peakBytes}`;
      s.destroy();
    } catch (e) {
      fits[f] = e instanceof GpuBudgetExceededError ? 'GpuBudgetExceededError' : `${(e as Error).name}: ${(e as Error).message}`;
    }
  }
  const int4 = quantizeWeights(config, floats, 'int4');
  const l0 = plan.layers[0].index;
  const mixed: QuantizedLlamaWeights = { ...int4, layers: int4.layers.map((l, i) => l && (i === l0 ? { ...l, upProj: quantizeWeights(config, floats, 'int8').layers[i]!.upProj } : l)) };
  const attempt = (spec: Partial<LoraSessionSpec>) => () => LoraTrainingSession.create(ctx, { ...base, lora: lora(), weights: int4, ...spec } as LoraSessionSpec);
  const errors = await errorMessages([
    attempt({ weightFormat: 'int8' }),
    attempt({ weights: floats, weightFormat: 'int3' as WeightFormat }),
    attempt({ weights: mixed }),
  ]);
  ctx.device.destroy();
  return { estimates, budget, fits, errors };
}
