import {
  LORA_TARGET_WEIGHTS, loraScale, quantizedLayout, targetDims, type LoraTarget, type WeightFormat,
} from '@fedllm/core';
import type { CrossEntropyGradDispatch } from './crossEntropy';
import type { PackedWeightBuffers } from './dequantMatmul';
import { bufferOf, isSlice, type Bindable, type BufferSlice, type Dispatch } from './dispatch';
import type { KernelSet } from './kernelSet';
import type { LoraSessionSpec, VocabSlice } from './loraTrainingSession';
import type { GpuMemoryLedger } from './memoryLedger';
import type { RopeTableBuffers } from './rope';

/** Builds the forward and backward dispatch lists of one session (see LoraTrainingSession). */
export class GraphBuilder {
  /** The loss dispatches (one per logits chunk) whose gradient scale each step sets. */
  readonly lossDispatches: CrossEntropyGradDispatch[] = [];
  private readonly M: number;
  private readonly scale: number;

  constructor(
    private readonly k: KernelSet, private readonly ledger: GpuMemoryLedger, private readonly spec: LoraSessionSpec,
    private readonly buffers: Map<string, GPUBuffer>, private readonly rope: RopeTableBuffers, private readonly chunkRows: number,
    private readonly vocab: VocabSlice[], private readonly format: WeightFormat, private readonly vocabFormat: WeightFormat,
  ) {
    this.M = spec.batch * spec.seqLen;
    this.scale = spec.lora ? loraScale(spec.lora.config) : 0;
  }

  private buf(name: string): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`session: no buffer "${name}" in the layout`);
    return b;
  }

  private has(name: string): boolean {
    return this.buffers.has(name);
  }

  private mm(label: string, transA: boolean, transB: boolean, accumulate: boolean, M: number, N: number, R: number, a: Bindable, b: Bindable, c: Bindable, alpha = 1, ld: { lda?: number; ldc?: number } = {}) {
    return this.k.matmul.prepare(this.ledger, label, { transA, transB, accumulate }, { M, N, R, alpha, ...ld }, a, b, c);
  }

  /** Rows of the vocabulary table (the tied embedding or the untied LM head) of one slice, float32. */
  private headSlice(s: VocabSlice, name = this.headName()): Bindable {
    const H = this.spec.config.hiddenSize, b = this.buf(name);
    return this.vocab.length === 1 ? b : { buffer: b, offset: s.first * H * 4, size: s.rows * H * 4 };
  }

  /** The same rows of a packed table: their words and scales. */
  private packedHeadSlice(s: VocabSlice, name = this.headName()): PackedWeightBuffers {
    const l = quantizedLayout(1, this.spec.config.hiddenSize, this.vocabFormat), words = this.buf(name), scales = this.buf(`${name}.scales`);
    if (this.vocab.length === 1) return { words, scales };
    return {
      words: { buffer: words, offset: s.first * l.words * 4, size: s.rows * l.words * 4 },
      scales: { buffer: scales, offset: s.first * l.scales * 4, size: s.rows * l.scales * 4 },
    };
  }

  private headName(): string {
    return this.spec.config.tieWordEmbeddings ? 'embed' : 'lmHead';
  }

  private packedFormat(): Exclude<WeightFormat, 'f32'> | undefined {
    return this.vocabFormat === 'f32' ? undefined : this.vocabFormat;
  }

  /** Columns [first, first + rows) of `rows` rows of logits (row stride vocab) starting at byte `offset`. */
  private logitColumns(logits: Bindable, rows: number, s: VocabSlice): Bindable {
    if (this.vocab.length === 1) return logits;
    const V = this.spec.config.vocabSize, base = isSlice(logits) ? logits.offset : 0;
    return { buffer: bufferOf(logits), offset: base + s.first * 4, size: ((rows - 1) * V + s.rows) * 4 };
  }

  /** logits[rows, V] = normed · headᵀ, one matmul per vocabulary slice (dequantizing if the table is packed). */
  private async headForward(label: string, rows: number, normed: Bindable, logits: Bindable): Promise<Dispatch[]> {
    const c = this.spec.config, out: Dispatch[] = [], format = this.packedFormat();
    for (const [i, s] of this.vocab.entries()) {
      const l = this.vocab.length === 1 ? label : `${label}.v${i}`;
      if (format) {
        out.push(await this.k.dequantMatmul.prepare(this.ledger, l, 'forward', false, { M: rows, N: s.rows, K: c.hiddenSize, format, ldc: c.vocabSize }, normed, this.packedHeadSlice(s), this.logitColumns(logits, rows, s)));
        continue;
      }
      out.push(await this.mm(l, false, true, false, rows, s.rows, c.hiddenSize, normed, this.headSlice(s), this.logitColumns(logits, rows, s), 1, { ldc: c.vocabSize }));
    }
    return out;
  }

  /** dNormed[rows, H] = dlogits · head, summed over the vocabulary slices. */
  private async headInputGrad(label: string, rows: number, dlogits: Bindable, dNormed: Bindable): Promise<Dispatch[]> {
    const c = this.spec.config, out: Dispatch[] = [], format = this.packedFormat();
    for (const [i, s] of this.vocab.entries()) {
      const l = this.vocab.length === 1 ? label : `${label}.v${i}`;
      if (format) {
        out.push(await this.k.dequantMatmul.prepare(this.ledger, l, 'inputGrad', i > 0, { M: rows, N: s.rows, K: c.hiddenSize, format, lda: c.vocabSize }, this.logitColumns(dlogits, rows, s), this.packedHeadSlice(s), dNormed));
        continue;
      }
      out.push(await this.mm(l, false, false, i > 0, rows, c.hiddenSize, s.rows, this.logitColumns(dlogits, rows, s), this.headSlice(s), dNormed, 1, { lda: c.vocabSize }));
    }
    return out;
  }

  /**
   * The frozen weight W[fout, fin] of target t: forward y (+)= x·Wᵀ, or inputGrad dx (+)= dy·W.
   * A float32 weight runs on the plain matmul, a packed one on the dequantizing matmul.
   */
  private frozen(product: 'forward' | 'inputGrad', layer: number, t: LoraTarget, a: GPUBuffer, c: GPUBuffer, accumulate: boolean): Promise<Dispatch> {
    const [fin, fout] = targetDims(this.spec.config, t), M = this.M, p = `layer${layer}`, w = `${p}.${LORA_TARGET_WEIGHTS[t][0]}`;
    const fwd = product === 'forward', label = `${p}.${t}.${fwd ? 'fwd' : 'dx'}`;
    if (this.format !== 'f32') {
      return this.k.dequantMatmul.prepare(this.ledger, label, product, accumulate, { M, N: fout, K: fin, format: this.format }, a, { words: this.buf(w), scales: this.buf(`${w}.scales`) }, c);
    }
    return fwd ? this.mm(label, false, true, accumulate, M, fout, fin, a, this.buf(w), c) : this.mm(label, false, false, accumulate, M, fin, fout, a, this.buf(w), c);
  }

  /** y (+)= x·Wᵀ + bias + s·(x·Aᵀ)·Bᵀ. */
  private async projForward(layer: number, t: LoraTarget, x: GPUBuffer, y: GPUBuffer, accumulate: boolean): Promise<Dispatch[]> {
    const [fin, fout] = targetDims(this.spec.config, t), M = this.M, p = `layer${layer}`;
    const out = [await this.frozen('forward', layer, t, x, y, accumulate)];
    if (this.has(`${p}.${LORA_TARGET_WEIGHTS[t][1]}`)) out.push(await this.mm(`${p}.${t}.bias`, false, false, true, M, fout, 1, this.buf('io.ones'), this.buf(`${p}.${LORA_TARGET_WEIGHTS[t][1]}`), y));
    const q = `${p}.lora.${t}`;
    if (this.has(`${q}.A`)) {
      const r = this.spec.lora!.config.rank;
      out.push(await this.mm(`${q}.fwdA`, false, true, false, M, r, fin, x, this.buf(`${q}.A`), this.buf(`${q}.mid`)));
      out.push(await this.mm(`${q}.fwdB`, false, true, true, M, fout, r, this.buf(`${q}.mid`), this.buf(`${q}.B`), y, this.scale));
    }
    return out;
  }

  /** LoRA gradients of a projection and (if dx) its input gradient, given dy. */
  private async projBackward(layer: number, t: LoraTarget, x: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer | undefined, accumulateDx: boolean): Promise<Dispatch[]> {
    const [fin, fout] = targetDims(this.spec.config, t), M = this.M, p = `layer${layer}`;
    const out: Dispatch[] = [];
    if (dx) out.push(await this.frozen('inputGrad', layer, t, dy, dx, accumulateDx));
    const q = `${p}.lora.${t}`;
    if (this.has(`${q}.A`)) {
      const r = this.spec.lora!.config.rank, dMid = this.buf('grad.loraMid');
      out.push(await this.mm(`${q}.gradB`, true, false, false, fout, r, M, dy, this.buf(`${q}.mid`), this.buf(`${q}.gradB`), this.scale));
      out.push(await this.mm(`${q}.dMid`, false, false, false, M, r, fout, dy, this.buf(`${q}.B`), dMid, this.scale));
      out.push(await this.mm(`${q}.gradA`, true, false, false, r, fin, M, dMid, x, this.buf(`${q}.gradA`)));
      if (dx) out.push(await this.mm(`${q}.dxLora`, false, false, true, M, fin, r, dMid, this.buf(`${q}.A`), dx));
    }
    return out;
  }

  private streamOut(i: number): GPUBuffer {
    const next = this.spec.plan.layers[i + 1];
    return next ? this.buf(`layer${next.index}.x`) : this.buf('final.hidden');
  }

  async forward(): Promise<Dispatch[]> {
    const c = this.spec.config, M = this.M, H = c.hiddenSize, F = c.intermediateSize, k = this.k, L = this.ledger;
    const attnShape = { B: this.spec.batch, T: this.spec.seqLen, nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim, window: c.slidingWindow };
    const first = this.spec.plan.layers.length ? this.buf(`layer${this.spec.plan.layers[0].index}.x`) : this.buf('final.hidden');
    const gatherShape = { rows: M, D: H, vocab: c.vocabSize }, packed = this.packedFormat();
    const out: Dispatch[] = packed
      ? await Promise.all(this.vocab.map((s, i) => k.dequantMatmul.prepareGather(L, this.vocab.length === 1 ? 'embed.gather' : `embed.gather.v${i}`, { M, D: H, first: s.first, rows: s.rows, format: packed }, this.packedHeadSlice(s, 'embed'), this.buf('io.inputIds'), first)))
      : this.vocab.length === 1
      ? [await k.elementwise.prepareEmbeddingGather(L, 'embed.gather', gatherShape, this.buf('embed'), this.buf('io.inputIds'), first)]
      : await Promise.all(this.vocab.map((s, i) => k.elementwise.prepareEmbeddingGatherSlice(L, `embed.gather.v${i}`, gatherShape, s.first, this.headSlice(s, 'embed'), this.buf('io.inputIds'), first)));
    for (const [i, pl] of this.spec.plan.layers.entries()) {
      const p = `layer${pl.index}`, x = this.buf(`${p}.x`), next = this.streamOut(i);
      let mid = x;
      if (pl.attention) {
        out.push(await k.rmsNorm.prepareForward(L, `${p}.attnNorm`, { M, D: H }, c.rmsNormEps, x, this.buf(`${p}.inputNorm`), this.buf(`${p}.attnNorm`), this.buf(`${p}.attnInvRms`)));
        for (const t of ['q', 'k', 'v'] as const) out.push(...(await this.projForward(pl.index, t, this.buf(`${p}.attnNorm`), this.buf(`${p}.${t}`), false)));
        out.push(await k.rope.prepare(L, `${p}.ropeQ`, { B: this.spec.batch, T: this.spec.seqLen, nHeads: c.numHeads }, false, this.buf(`${p}.q`), this.rope));
        out.push(await k.rope.prepare(L, `${p}.ropeK`, { B: this.spec.batch, T: this.spec.seqLen, nHeads: c.numKvHeads }, false, this.buf(`${p}.k`), this.rope));
        out.push(...(await k.attention.prepareForward(L, `${p}.attn`, attnShape, { q: this.buf(`${p}.q`), k: this.buf(`${p}.k`), v: this.buf(`${p}.v`), out: this.buf(`${p}.mixed`), probs: this.buf(`${p}.probs`) })));
        mid = this.buf(`${p}.mid`);
        out.push(await k.elementwise.prepareCopy(L, `${p}.residual1`, M * H, x, mid));
        out.push(...(await this.projForward(pl.index, 'o', this.buf(`${p}.mixed`), mid, true)));
      }
      out.push(await k.elementwise.prepareCopy(L, `${p}.residual2`, M * H, mid, next));
      if (pl.mlp) {
        out.push(await k.rmsNorm.prepareForward(L, `${p}.mlpNorm`, { M, D: H }, c.rmsNormEps, mid, this.buf(`${p}.postNorm`), this.buf(`${p}.mlpNorm`), this.buf(`${p}.mlpInvRms`)));
        out.push(...(await this.projForward(pl.index, 'gate', this.buf(`${p}.mlpNorm`), this.buf(`${p}.gate`), false)));
        out.push(...(await this.projForward(pl.index, 'up', this.buf(`${p}.mlpNorm`), this.buf(`${p}.up`), false)));
        out.push(await k.elementwise.prepareSwigluForward(L, `${p}.swiglu`, M * F, this.buf(`${p}.gate`), this.buf(`${p}.up`), this.buf(`${p}.act`)));
        out.push(...(await this.projForward(pl.index, 'down', this.buf(`${p}.act`), next, true)));
      }
    }
    out.push(await k.rmsNorm.prepareForward(L, 'final.norm', { M, D: H }, c.rmsNormEps, this.buf('final.hidden'), this.buf('finalNorm'), this.buf('final.normed'), this.buf('final.invRms')));
    // With chunked logits the LM head runs chunk by chunk with the loss, in backward().
    if (this.chunkRows < M && this.spec.lora) return out;
    out.push(...(await this.headForward('lmHead', M, this.buf('final.normed'), this.buf('logits'))));
    return out;
  }

  /**
   * LM head, loss and (when training) the LM head's input gradient, chunk by chunk over the token
   * rows: each chunk's logits overwrite the previous chunk's in one [chunkRows, vocab] buffer.
   */
  private async chunkedHead(train: boolean): Promise<Dispatch[]> {
    const c = this.spec.config, M = this.M, H = c.hiddenSize, V = c.vocabSize, L = this.ledger, out: Dispatch[] = [];
    const rowsOf = (name: string, m0: number, rows: number, width: number): BufferSlice => ({ buffer: this.buf(name), offset: m0 * width * 4, size: rows * width * 4 });
    for (let m0 = 0, i = 0; m0 < M; m0 += this.chunkRows, i++) {
      const rows = Math.min(this.chunkRows, M - m0);
      const logits: BufferSlice = { buffer: this.buf('logits'), offset: 0, size: rows * V * 4 };
      out.push(...(await this.headForward(`lmHead.c${i}`, rows, rowsOf('final.normed', m0, rows, H), logits)));
      const ce = await this.k.crossEntropy.prepareLossAndGrad(L, `loss.c${i}`, { N: rows, V }, 1, logits, rowsOf('io.targets', m0, rows, 1), rowsOf('io.lossRows', m0, rows, 1));
      this.lossDispatches.push(ce);
      out.push(ce);
      if (train) out.push(...(await this.headInputGrad(`lmHead.dx.c${i}`, rows, logits, rowsOf('grad.norm', m0, rows, H))));
    }
    return out;
  }

  async backward(): Promise<Dispatch[]> {
    const c = this.spec.config, M = this.M, H = c.hiddenSize, F = c.intermediateSize, k = this.k, L = this.ledger;
    const attnShape = { B: this.spec.batch, T: this.spec.seqLen, nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim, window: c.slidingWindow };
    const out: Dispatch[] = [];
    const layers = this.spec.plan.layers;
    const targets = this.spec.lora?.config.targets ?? [];
    const lowest = layers.findIndex((l) => targets.some((t) => this.has(`layer${l.index}.lora.${t}.A`)));
    if (this.chunkRows < M) {
      out.push(...(await this.chunkedHead(lowest !== -1)));
      if (lowest === -1) return out;
    } else {
      const ce = await k.crossEntropy.prepareLossAndGrad(L, 'loss', { N: M, V: c.vocabSize }, 1, this.buf('logits'), this.buf('io.targets'), this.buf('io.lossRows'));
      this.lossDispatches.push(ce);
      out.push(ce);
      if (lowest === -1) return out; // nothing trains: loss only
      out.push(...(await this.headInputGrad('lmHead.dx', M, this.buf('logits'), this.buf('grad.norm'))));
    }
    const dNorm = this.buf('grad.norm');
    let dCur = this.buf('grad.stream'), dOther = this.buf('grad.stream2');
    out.push(...(await k.rmsNorm.prepareBackward(L, 'final.norm.bwd', { M, D: H }, false, { x: this.buf('final.hidden'), w: this.buf('finalNorm'), invRms: this.buf('final.invRms'), dy: dNorm, dx: dCur })));
    for (let i = layers.length - 1; i >= lowest; i--) {
      const pl = layers[i], p = `layer${pl.index}`, needDx = i > lowest;
      const x = this.buf(`${p}.x`), mid = pl.attention ? this.buf(`${p}.mid`) : x;
      if (pl.mlp) {
        const dAct = this.buf('grad.act'), dGate = this.buf('grad.gate'), dUp = this.buf('grad.up');
        out.push(...(await this.projBackward(pl.index, 'down', this.buf(`${p}.act`), dCur, dAct, false)));
        out.push(await k.elementwise.prepareSwigluBackward(L, `${p}.swiglu.bwd`, M * F, this.buf(`${p}.gate`), this.buf(`${p}.up`), dAct, dGate, dUp));
        const needNorm = needDx || pl.attention;
        out.push(...(await this.projBackward(pl.index, 'gate', this.buf(`${p}.mlpNorm`), dGate, needNorm ? dNorm : undefined, false)));
        out.push(...(await this.projBackward(pl.index, 'up', this.buf(`${p}.mlpNorm`), dUp, needNorm ? dNorm : undefined, true)));
        if (needNorm) {
          out.push(await k.elementwise.prepareCopy(L, `${p}.dres2`, M * H, dCur, dOther));
          out.push(...(await k.rmsNorm.prepareBackward(L, `${p}.mlpNorm.bwd`, { M, D: H }, true, { x: mid, w: this.buf(`${p}.postNorm`), invRms: this.buf(`${p}.mlpInvRms`), dy: dNorm, dx: dOther })));
          [dCur, dOther] = [dOther, dCur];
        }
      }
      if (pl.attention) {
        const dMixed = this.buf('grad.mixed');
        out.push(...(await this.projBackward(pl.index, 'o', this.buf(`${p}.mixed`), dCur, dMixed, false)));
        out.push(...(await k.attention.prepareBackward(L, `${p}.attn.bwd`, attnShape, {
          q: this.buf(`${p}.q`), k: this.buf(`${p}.k`), v: this.buf(`${p}.v`), out: this.buf(`${p}.mixed`), probs: this.buf(`${p}.probs`),
          dOut: dMixed, dq: this.buf('grad.q'), dk: this.buf('grad.k'), dv: this.buf('grad.v'), scratch: this.buf('grad.rowDot'),
        })));
        out.push(await k.rope.prepare(L, `${p}.ropeQ.bwd`, { B: this.spec.batch, T: this.spec.seqLen, nHeads: c.numHeads }, true, this.buf('grad.q'), this.rope));
        out.push(await k.rope.prepare(L, `${p}.ropeK.bwd`, { B: this.spec.batch, T: this.spec.seqLen, nHeads: c.numKvHeads }, true, this.buf('grad.k'), this.rope));
        const norm = this.buf(`${p}.attnNorm`);
        out.push(...(await this.projBackward(pl.index, 'q', norm, this.buf('grad.q'), needDx ? dNorm : undefined, false)));
        out.push(...(await this.projBackward(pl.index, 'k', norm, this.buf('grad.k'), needDx ? dNorm : undefined, true)));
        out.push(...(await this.projBackward(pl.index, 'v', norm, this.buf('grad.v'), needDx ? dNorm : undefined, true)));
        if (needDx) {
          out.push(await k.elementwise.prepareCopy(L, `${p}.dres1`, M * H, dCur, dOther));
          out.push(...(await k.rmsNorm.prepareBackward(L, `${p}.attnNorm.bwd`, { M, D: H }, true, { x, w: this.buf(`${p}.inputNorm`), invRms: this.buf(`${p}.attnInvRms`), dy: dNorm, dx: dOther })));
          [dCur, dOther] = [dOther, dCur];
        }
      }
    }
    return out;
  }
}
