import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdamW, clipGradNorm, initLlamaWeights, listModelParams, LlamaModel, SeededRandom, zeroGradsLike,
  type ModelConfig, type TokenBatch,
} from '@fedllm/core';
import { DataParallelTrainer } from '../src/pretrain/dataParallelTrainer';

const cfg: ModelConfig = {
  architecture: 'LlamaForCausalLM', vocabSize: 17, hiddenSize: 16, intermediateSize: 20, numLayers: 2, numHeads: 4,
  numKvHeads: 2, headDim: 4, maxPositionEmbeddings: 16, ropeTheta: 10000, rmsNormEps: 1e-5, tieWordEmbeddings: true,
  attentionBias: false, oProjBias: false, mlpBias: false,
};

function batch(seed: number): TokenBatch {
  const r = new SeededRandom(seed);
  const B = 5, T = 8;
  return {
    B, T, inputIds: Int32Array.from({ length: B * T }, () => r.int(17)),
    targets: Int32Array.from({ length: B * T }, (_, i) => (i % 7 === 0 ? -1 : r.int(17))),
  };
}

test('data-parallel pretraining on 2 worker threads takes the same steps as one thread', async () => {
  const w0 = initLlamaWeights(cfg, new SeededRandom(1), 0.2);
  const trainer = new DataParallelTrainer(cfg, w0, { workers: 2, lr: 1e-2, weightDecay: 0.1, clipNorm: 0.5, maxSeqLen: 16 });
  // Reference: the same two AdamW steps, computed in this thread on the whole batch.
  const ref = initLlamaWeights(cfg, new SeededRandom(1), 0.2);
  const model = new LlamaModel(cfg, ref);
  const params = listModelParams(ref);
  const opt = new AdamW(params.map((p) => ({ tensor: p.tensor, decay: p.tensor.shape.length > 1 })), { lr: 1e-2, weightDecay: 0.1, beta2: 0.95 });
  try {
    for (const seed of [5, 6]) {
      const b = batch(seed);
      const got = await trainer.step(b, 1e-2);
      const grads = zeroGradsLike(ref);
      const r = model.lossAndGrad(b, {}, { base: grads });
      const g = listModelParams(grads).map((p) => p.tensor.data);
      const norm = clipGradNorm(g, 0.5);
      opt.update(g, 1e-2);
      assert.ok(Math.abs(got.loss - r.lossSum / r.count) < 1e-5, `loss ${got.loss} vs ${r.lossSum / r.count}`);
      assert.ok(Math.abs(got.gradNorm - norm) < 1e-4 * norm, `grad norm ${got.gradNorm} vs ${norm}`);
    }
    const a = listModelParams(trainer.weights), b = listModelParams(ref);
    let diff = 0;
    a.forEach((p, i) => p.tensor.data.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - b[i].tensor.data[j])))));
    assert.ok(diff < 1e-5, `weights differ by ${diff}`);
  } finally {
    await trainer.close();
  }
});
