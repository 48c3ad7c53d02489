/**
 * Predicted peak GPU bytes of a tab's training session for a strategy's task: the session's buffer
 * list (loraSessionLayout.ts: weights of the kept parts, quantized or not, LoRA and AdamW state,
 * activations for the batch and sequence) plus the uniform-buffer reserve (submodelPlanner.ts).
 */
import { planKeepingLayers, type SubmodelPlan } from '../../engine/submodelPlan';
import { planPeakBytes, type PlanMemoryShape } from '../submodelPlanner';

/** The shape of a tab's training session: the planner's (weights' storage and logits chunking included). */
export type TaskShape = PlanMemoryShape;

export function taskPeakBytes(s: TaskShape, plan: SubmodelPlan): number {
  return planPeakBytes(s, plan);
}

/**
 * The most whole layers (0..numLayers) a budget holds. Every decoder layer of a Llama model has the
 * same shapes, so the count, not which layers, decides the memory.
 */
export function maxLayersForBudget(s: TaskShape, budgetBytes: number): number {
  let k = 0;
  while (k < s.config.numLayers && taskPeakBytes(s, planKeepingLayers([...Array(k + 1).keys()])) <= budgetBytes) k++;
  return k;
}
