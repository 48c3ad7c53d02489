/**
 * A plan as the coordinator describes it (describePlan: "0,3a,5m": layer 0 whole, layer 3's
 * attention only, layer 5's MLP only) back into a SubmodelPlan, for the plan picture.
 */
import type { SubmodelPlan } from '@fedllm/core';

export function planFromText(text: string | undefined): SubmodelPlan | undefined {
  if (!text) return undefined;
  const layers = [];
  for (const part of text.split(',')) {
    const m = /^(\d+)([am-]?)$/.exec(part.trim());
    if (!m) return undefined;
    layers.push({ index: Number(m[1]), attention: m[2] === '' || m[2] === 'a', mlp: m[2] === '' || m[2] === 'm' });
  }
  return { layers };
}
