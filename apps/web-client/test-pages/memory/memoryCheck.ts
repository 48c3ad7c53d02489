// Memory-check page: builds the real LoRA training session of each case (random weights of the
// case's shapes: the bytes do not depend on the values), quantized when the case says so, under
// the case's budget, runs one step and reads the ledger's peak.
import {
  createLoraAdapter, initLlamaWeights, planPeakBytes, quantizeWeights, SeededRandom,
  type MemoryCheckCase, type MemoryCheckResult,
} from '@fedllm/core';
import { createGpuContext, LoraTrainingSession } from '@fedllm/kernels';

async function measureSessionPeaks(cases: MemoryCheckCase[]): Promise<MemoryCheckResult[]> {
  const ctx = await createGpuContext();
  const out: MemoryCheckResult[] = [];
  for (const c of cases) {
    const estimateBytes = planPeakBytes({ config: c.config, lora: c.lora, batch: c.batch, seqLen: c.seqLen, clipNorm: c.clipNorm, logitsChunkRows: c.logitsChunkRows, weightFormat: c.weightFormat }, c.plan);
    const rng = new SeededRandom(1);
    const floats = initLlamaWeights(c.config, rng, 0.05);
    const weights = c.weightFormat === 'f32' ? floats : quantizeWeights(c.config, floats, c.weightFormat);
    const lora = createLoraAdapter(c.config, c.lora, c.plan.layers.map((l) => l.index), rng);
    let session: LoraTrainingSession | undefined;
    try {
      session = await LoraTrainingSession.create(ctx, {
        config: c.config, plan: c.plan, weights, weightFormat: c.weightFormat, lora, batch: c.batch, seqLen: c.seqLen,
        optimizer: { lr: 1e-3, clipNorm: c.clipNorm }, logitsChunkRows: c.logitsChunkRows, budgetBytes: c.budgetBytes,
      });
      const n = c.batch * c.seqLen;
      const inputIds = Int32Array.from({ length: n }, () => rng.int(c.config.vocabSize));
      const targets = Int32Array.from({ length: n }, () => rng.int(c.config.vocabSize));
      await session.step({ B: c.batch, T: c.seqLen, inputIds, targets });
      out.push({ key: c.key, peakBytes: session.peakBytes, estimateBytes, budgetBytes: c.budgetBytes });
    } catch (e) {
      out.push({ key: c.key, estimateBytes, budgetBytes: c.budgetBytes, error: `${(e as Error).name}: ${(e as Error).message}` });
    } finally {
      session?.destroy();
    }
  }
  ctx.device.destroy();
  return out;
}

(globalThis as unknown as { measureSessionPeaks: typeof measureSessionPeaks }).measureSessionPeaks = measureSessionPeaks;
