// 2b. The LoRA training step written with tfjs ops, and its timed run.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself (the @tensorflow/tfjs union package does this import).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  buildRopeTables, loraScale,
  type LayerWeights, type LlamaWeights, type LoraAdapter, type LoraTarget, type ModelConfig, type TokenBatch,
} from '@fedllm/core';
import { log } from './log';
import { adapterFor, type BenchSetup } from './model';
import { timeSteps, type TimedSteps } from './stepTiming';

type TfLayer = Record<keyof LayerWeights, tf.Tensor | undefined>;

/**
 * The same computation as LoraTrainingSession (and core's LlamaModel.lossAndGrad + AdamW), in
 * tfjs ops: embedding gather, RMSNorm, q/k/v projections with LoRA, RoPE (rotate-half), causal
 * GQA attention, o projection, SwiGLU MLP, LM head, masked mean cross-entropy; gradients with
 * tf.variableGrads on the LoRA A/B variables only (base weights are constants), then Adam.
 */
export class TfLoraStep {
  private readonly embed: tf.Tensor2D;
  private readonly lmHead: tf.Tensor2D;
  private readonly finalNorm: tf.Tensor1D;
  private readonly layers: TfLayer[];
  private readonly lora = new Map<string, { A: tf.Variable; B: tf.Variable }>();
  private readonly vars: tf.Variable[] = [];
  private readonly cos: tf.Tensor4D;
  private readonly sin: tf.Tensor4D;
  private readonly mask: tf.Tensor2D;
  private readonly optimizer: tf.AdamOptimizer;
  private readonly scale: number;

  constructor(
    private readonly c: ModelConfig, weights: LlamaWeights, adapter: LoraAdapter, private readonly B: number, private readonly T: number,
    lr: number, prefix: string,
  ) {
    const t2 = (t: { shape: number[]; data: Float32Array }) => tf.tensor(t.data, t.shape);
    this.embed = t2(weights.embed) as tf.Tensor2D;
    this.lmHead = weights.lmHead === weights.embed ? this.embed : (t2(weights.lmHead) as tf.Tensor2D);
    this.finalNorm = t2(weights.finalNorm) as tf.Tensor1D;
    this.layers = weights.layers.map((l, i) => {
      if (!l) throw new Error(`tfjs step: layer ${i} weights missing`);
      const out = {} as TfLayer;
      for (const [k, v] of Object.entries(l)) if (v) out[k as keyof LayerWeights] = t2(v);
      return out;
    });
    for (const [layer, pairs] of adapter.layers) {
      for (const [t, p] of Object.entries(pairs)) {
        if (!p) continue;
        const A = tf.variable(t2(p.A), true, `${prefix}.l${layer}.${t}.A`);
        const Bv = tf.variable(t2(p.B), true, `${prefix}.l${layer}.${t}.B`);
        this.lora.set(`${layer}.${t}`, { A, B: Bv });
        this.vars.push(A, Bv);
      }
    }
    this.scale = loraScale(adapter.config);
    const rope = buildRopeTables(c, T), half = c.headDim / 2;
    this.cos = tf.tensor4d(Float32Array.from(rope.cos), [1, T, 1, half]);
    this.sin = tf.tensor4d(Float32Array.from(rope.sin), [1, T, 1, half]);
    const m = new Float32Array(T * T);
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < T; s++) {
        const visible = s <= t && (!c.slidingWindow || t - s < c.slidingWindow);
        if (!visible) m[t * T + s] = -1e9;
      }
    }
    this.mask = tf.tensor2d(m, [T, T]);
    this.optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  }

  private rmsNorm(x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D {
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), this.c.rmsNormEps))), w) as tf.Tensor2D;
  }

  private proj(layer: number, t: LoraTarget, x: tf.Tensor2D): tf.Tensor2D {
    const PROJ = { q: 'qProj', k: 'kProj', v: 'vProj', o: 'oProj', gate: 'gateProj', up: 'upProj', down: 'downProj' } as const;
    const BIAS = { q: 'qBias', k: 'kBias', v: 'vBias', o: 'oBias', gate: 'gateBias', up: 'upBias', down: 'downBias' } as const;
    const l = this.layers[layer];
    let y: tf.Tensor2D = tf.matMul(x, l[PROJ[t]]!, false, true);
    const bias = l[BIAS[t]];
    if (bias) y = tf.add(y, bias);
    const p = this.lora.get(`${layer}.${t}`);
    if (p) y = tf.add(y, tf.matMul(tf.mul(tf.matMul(x, p.A, false, true), this.scale), p.B, false, true));
    return y;
  }

  /** Rotate-half RoPE on x[B*T, nHeads*headDim] for positions 0..T-1 of each sequence. */
  private rope(x: tf.Tensor2D, nHeads: number): tf.Tensor2D {
    const { B, T } = this, hd = this.c.headDim, half = hd / 2;
    const x4 = tf.reshape(x, [B, T, nHeads, hd]);
    const x1 = tf.slice(x4, [0, 0, 0, 0], [B, T, nHeads, half]);
    const x2 = tf.slice(x4, [0, 0, 0, half], [B, T, nHeads, half]);
    const r1 = tf.sub(tf.mul(x1, this.cos), tf.mul(x2, this.sin));
    const r2 = tf.add(tf.mul(x2, this.cos), tf.mul(x1, this.sin));
    return tf.reshape(tf.concat([r1, r2], 3), [B * T, nHeads * hd]);
  }

  /**
   * Causal GQA attention. Query heads sharing a k/v head are stacked along the row axis
   * ([B, nKv, group*T, hd]) so k and v are used as they are, with no repeat.
   */
  private attention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D {
    const { B, T } = this, c = this.c, hd = c.headDim, nH = c.numHeads, nKv = c.numKvHeads, group = nH / nKv;
    const q4 = tf.reshape(tf.transpose(tf.reshape(q, [B, T, nH, hd]), [0, 2, 1, 3]), [B, nKv, group * T, hd]);
    const k4 = tf.transpose(tf.reshape(k, [B, T, nKv, hd]), [0, 2, 1, 3]);
    const v4 = tf.transpose(tf.reshape(v, [B, T, nKv, hd]), [0, 2, 1, 3]);
    const scores = tf.mul(tf.matMul(q4, k4, false, true), 1 / Math.sqrt(hd)); // [B, nKv, group*T, T]
    const masked = tf.add(tf.reshape(scores, [B, nH, T, T]), this.mask);
    const probs = tf.reshape(tf.softmax(masked), [B, nKv, group * T, T]);
    const out = tf.reshape(tf.matMul(probs, v4), [B, nH, T, hd]);
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B * T, nH * hd]);
  }

  private loss(ids: tf.Tensor1D, targetsOneHot: tf.Tensor2D, count: number): tf.Scalar {
    const c = this.c;
    let x = tf.gather(this.embed, ids) as tf.Tensor2D;
    for (let i = 0; i < c.numLayers; i++) {
      const l = this.layers[i];
      const h = this.rmsNorm(x, l.inputNorm!);
      const q = this.rope(this.proj(i, 'q', h), c.numHeads);
      const k = this.rope(this.proj(i, 'k', h), c.numKvHeads);
      const v = this.proj(i, 'v', h);
      x = tf.add(x, this.proj(i, 'o', this.attention(q, k, v)));
      const h2 = this.rmsNorm(x, l.postNorm!);
      const g = this.proj(i, 'gate', h2), u = this.proj(i, 'up', h2);
      x = tf.add(x, this.proj(i, 'down', tf.mul(tf.mul(g, tf.sigmoid(g)), u)));
    }
    const logits = tf.matMul(this.rmsNorm(x, this.finalNorm), this.lmHead, false, true);
    const picked = tf.sum(tf.mul(tf.logSoftmax(logits), targetsOneHot));
    return tf.div(tf.neg(picked), count) as tf.Scalar;
  }

  /** One Adam step; returns the batch's mean loss before the update (read back: a GPU sync). */
  async step(batch: TokenBatch): Promise<number> {
    let count = 0;
    const safe = new Int32Array(batch.targets.length), keep = new Float32Array(batch.targets.length);
    batch.targets.forEach((t, i) => { if (t !== -1) { safe[i] = t; keep[i] = 1; count++; } });
    const ids = tf.tensor1d(batch.inputIds, 'int32');
    const oneHot = tf.tidy(() => tf.mul(tf.oneHot(tf.tensor1d(safe, 'int32'), this.c.vocabSize, 1, 0, 'float32'), tf.tensor2d(keep, [keep.length, 1]))) as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(() => this.loss(ids, oneHot, count), this.vars);
    this.optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    const loss = (await value.data())[0];
    tf.dispose([ids, oneHot, value, ...Object.values(grads)]);
    return loss;
  }

  dispose(): void {
    const all = new Set<tf.Tensor>([this.embed, this.lmHead, this.finalNorm, this.cos, this.sin, this.mask, ...this.vars]);
    for (const l of this.layers) for (const t of Object.values(l)) if (t) all.add(t);
    tf.dispose([...all]);
    this.optimizer.dispose();
  }
}

/** Uploads the weights, runs one warm-up step and `steps` timed steps of TfLoraStep on the full plan. */
export async function runTfjsLoraStep(s: BenchSetup): Promise<TimedSteps & { setupMs: number; gpuBytesAllocated?: number }> {
  const { config: c, o } = s;
  log('tfjs: uploading weights, building the LoRA step');
  const t = performance.now();
  const tfStep = new TfLoraStep(c, s.weights, adapterFor(c, s.plan, s.loraCfg, o.seed), o.batch, o.seqLen, o.lr, 'bench');
  const setupMs = performance.now() - t;
  const run = await timeSteps((b) => tfStep.step(b), s.batches, o.steps);
  log(`tfjs: losses ${run.losses.map((l) => l.toFixed(4)).join(' ')}, steps ${run.stepMs.map((m) => m.toFixed(0)).join(' ')} ms`);
  const mem = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number };
  tfStep.dispose();
  return { ...run, setupMs, gpuBytesAllocated: mem.numBytesAllocatedInGPU };
}
