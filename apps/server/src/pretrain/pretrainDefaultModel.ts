import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  batchFromWindows, cosineLr, initLlamaWeights, LlamaModel, makeTokenizerConfig, SeededRandom, streamWindows,
  documentWindows, TextTokenizer, trainByteLevelBpe, weightsAsFloat32, type LmWindow, type ModelConfig,
} from '@fedllm/core';
import { brownPlainText, saveModelDir } from '@fedllm/core/node';
import { DataParallelTrainer } from './dataParallelTrainer';

/** Everything that decides the default model; recorded next to it in pretraining.json. */
export interface PretrainSettings {
  outDir: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  seqLen: number;
  batchSize: number;
  steps: number;
  peakLr: number;
  warmupSteps: number;
  weightDecay: number;
  workers: number;
  seed: number;
  /** Stop early (keeping the weights so far) if wall time exceeds this. */
  maxMinutes: number;
  evalEvery: number;
  log: (line: string) => void;
}

export const DEFAULT_PRETRAIN: Omit<PretrainSettings, 'outDir' | 'log'> = {
  vocabSize: 1024,
  hiddenSize: 128,
  intermediateSize: 256,
  numLayers: 6,
  numHeads: 4,
  numKvHeads: 2,
  seqLen: 128,
  batchSize: 16,
  steps: 800,
  peakLr: 3e-3,
  warmupSteps: 40,
  weightDecay: 0.1,
  workers: 2,
  seed: 1234,
  maxMinutes: 55,
  evalEvery: 100,
};

const EOT = '<|endoftext|>';

/**
 * Trains the project's default model from scratch on the Brown corpus train split: a byte-level
 * BPE tokenizer, then a small Llama (GQA, tied embeddings) with full-parameter AdamW on all cores.
 */
export async function pretrainDefaultModel(s: PretrainSettings): Promise<void> {
  const t0 = performance.now();
  const minutes = () => (performance.now() - t0) / 60000;
  const trainText = brownPlainText('train');
  const valText = brownPlainText('validation');
  s.log(`corpus: ${trainText.length} train documents, ${valText.length} validation documents`);

  const tokenizerJson = trainByteLevelBpe(trainText, { vocabSize: s.vocabSize, specialTokens: [EOT] });
  const tokenizerConfig = makeTokenizerConfig({ bos: EOT, eos: EOT, pad: EOT }, s.seqLen * 2);
  const tok = new TextTokenizer(tokenizerJson, tokenizerConfig);
  const eot = tok.eosId!;
  const trainDocs = trainText.map((d) => tok.encode(d));
  const valDocs = valText.map((d) => tok.encode(d));
  const trainTokens = trainDocs.reduce((n, d) => n + d.length, 0);
  s.log(`tokenizer: vocab ${tok.vocabSize}, ${trainTokens} train tokens (${(trainText.join('').length / trainTokens).toFixed(2)} chars/token), ${minutes().toFixed(1)} min`);

  const config: ModelConfig = {
    architecture: 'LlamaForCausalLM',
    vocabSize: tok.vocabSize,
    hiddenSize: s.hiddenSize,
    intermediateSize: s.intermediateSize,
    numLayers: s.numLayers,
    numHeads: s.numHeads,
    numKvHeads: s.numKvHeads,
    headDim: s.hiddenSize / s.numHeads,
    maxPositionEmbeddings: s.seqLen * 2,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: true,
    attentionBias: false,
    oProjBias: false,
    mlpBias: false,
    bosTokenId: eot,
    eosTokenId: eot,
  };
  const rng = new SeededRandom(s.seed);
  const weights = initLlamaWeights(config, rng);
  const trainer = new DataParallelTrainer(config, weights, {
    workers: s.workers, lr: s.peakLr, weightDecay: s.weightDecay, clipNorm: 1, maxSeqLen: config.maxPositionEmbeddings,
  });
  const evalModel = new LlamaModel(config, trainer.weights, config.maxPositionEmbeddings);
  const valWindows = documentWindows(valDocs, s.seqLen, eot);
  const valSample = new SeededRandom(s.seed + 1).shuffle([...valWindows]).slice(0, 48);
  const valLoss = (): number => {
    let sum = 0, count = 0;
    for (let i = 0; i < valSample.length; i += 16) {
      const r = evalModel.loss(batchFromWindows(valSample.slice(i, i + 16), s.seqLen, eot));
      sum += r.lossSum; count += r.count;
    }
    return sum / count;
  };

  let windows: LmWindow[] = [];
  let epoch = 0;
  const curve: { step: number; loss: number; valLoss?: number; lr: number; minutes: number }[] = [];
  let step = 0, tokensSeen = 0, recent = 0, recentN = 0;
  try {
    for (; step < s.steps; step++) {
      if (windows.length < s.batchSize) {
        // Re-pack each epoch from a new offset into the stream, so window boundaries move.
        const offset = epoch === 0 ? 0 : rng.int(s.seqLen);
        const shifted = trainDocs.map((d, i) => (i === 0 ? d.slice(offset) : d));
        windows = rng.shuffle(streamWindows(shifted, s.seqLen, eot));
        epoch++;
        s.log(`epoch ${epoch}: ${windows.length} windows of ${s.seqLen + 1} tokens`);
      }
      const batch = batchFromWindows(windows.splice(0, s.batchSize), s.seqLen, eot);
      const lr = cosineLr(step, s.steps, s.peakLr, s.warmupSteps);
      const r = await trainer.step(batch, lr);
      if (!Number.isFinite(r.loss)) throw new Error(`pretraining diverged at step ${step}: loss ${r.loss}`);
      tokensSeen += batch.B * batch.T;
      recent += r.loss; recentN++;
      const point: (typeof curve)[number] = { step, loss: r.loss, lr, minutes: minutes() };
      if ((step + 1) % s.evalEvery === 0 || step + 1 === s.steps) {
        point.valLoss = valLoss();
        const rate = tokensSeen / (minutes() * 60);
        s.log(`step ${step + 1}/${s.steps} train ${(recent / recentN).toFixed(3)} val ${point.valLoss.toFixed(3)} (ppl ${Math.exp(point.valLoss).toFixed(1)}) lr ${lr.toExponential(2)} ${rate.toFixed(0)} tok/s ${minutes().toFixed(1)} min`);
        recent = 0; recentN = 0;
      }
      curve.push(point);
      if (minutes() > s.maxMinutes) {
        s.log(`stopping early at step ${step + 1}: over the ${s.maxMinutes}-minute budget`);
        step++;
        break;
      }
    }
  } finally {
    await trainer.close();
  }

  await mkdir(s.outDir, { recursive: true });
  await saveModelDir(s.outDir, config, weightsAsFloat32(trainer.weights), { tokenizerJson, tokenizerConfig });
  const { log: _log, ...settings } = s;
  await writeFile(
    join(s.outDir, 'pretraining.json'),
    JSON.stringify({ settings, steps: step, tokensSeen, epochs: epoch, minutes: minutes(), trainTokens, curve }, null, 1) + '\n',
  );
  s.log(`saved ${s.outDir} after ${step} steps, ${tokensSeen} tokens, ${minutes().toFixed(1)} min`);
}
