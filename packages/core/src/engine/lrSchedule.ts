/**
 * Linear warm-up then cosine decay to minRatio·peak: the usual schedule for small LM pretraining
 * (and a sane default for LoRA fine-tuning).
 */
export function cosineLr(step: number, totalSteps: number, peak: number, warmupSteps: number, minRatio = 0.1): number {
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
