import {
  buildRopeTables, isQuantizedWeights, LORA_TARGET_WEIGHTS, loraScale, projectionShape, PROJECTION_WEIGHTS, quantizeMatrix, targetDims, loraSessionBuffers,
  validatePlan, WEIGHT_FORMATS, type LlamaWeights, type LoraAdapter, type LoraTarget, type ModelConfig, type ProjectionWeightName,
  type QuantizedLlamaWeights, type QuantizedMatrix, type SubmodelPlan, type Tensor, type TokenBatch, type LoraSessionShape, type WeightFormat,
} from '@fedllm/core';
import type { AdamWDispatch, AdamWKernelOptions } from './adamw';
import type { CrossEntropyGradDispatch } from './crossEntropy';
import { bufferOf, isSlice, recordDispatch, type Bindable, type BufferSlice, type Dispatch } from './dispatch';
import { validateTokenIds } from './elementwise';
import { validateTargets } from './crossEntropy';
import { whileDeviceLives, type GpuContext } from './gpuDevice';
import { KernelSet } from './kernelSet';
import { GpuMemoryLedger, GpuOutOfMemoryError } from './memoryLedger';
import type { RopeTableBuffers } from './rope';

export interface LoraSessionSpec {
  config: ModelConfig;
  plan: SubmodelPlan;
  /**
   * Base weights; only the kept layers need to be present. With a quantized weightFormat, give
   * them pre-quantized (core's quantizeWeights: the projections as packed QuantizedMatrix), so
   * the tab never holds the float32 projections; float32 LlamaWeights are also accepted and
   * their projections quantized at upload (same result, for callers that have the floats anyway).
   */
  weights: LlamaWeights | QuantizedLlamaWeights;
  /**
   * How the frozen projections are stored on the GPU (default: the format of pre-quantized
   * weights, else 'f32'). 'int8' / 'int4' run the projections' forward and input-gradient
   * products on the dequantizing matmuls; embedding, head, norms, biases and LoRA stay float32.
   */
  weightFormat?: WeightFormat;
  /**
   * LoRA pairs for every kept layer and every target of a kept sub-block. Without one the
   * session runs the frozen model forward only (logits), with no backward or optimizer.
   */
  lora?: LoraAdapter;
  /** Allocate a staging buffer so logits() can read the logits back. */
  readLogits?: boolean;
  batch: number;
  seqLen: number;
  /** Byte budget enforced by the ledger (default: unlimited). */
  budgetBytes?: number;
  /** AdamW settings; clipNorm clips the global LoRA gradient norm first (as core's clipGradNorm). */
  optimizer?: AdamWKernelOptions & { lr: number; clipNorm?: number };
  /**
   * Run the LM head and the loss over this many token rows at a time (a multiple of the device's
   * minStorageBufferOffsetAlignment / 4, usually 64), so the logits buffer is [rows, vocab]
   * instead of [B·T, vocab]. Default: all rows, unless the full logits would exceed
   * maxStorageBufferBindingSize, in which case the largest chunk that fits is used.
   */
  logitsChunkRows?: number;
  /**
   * Bind at most this many bytes of one tensor (default and maximum: the device's
   * maxStorageBufferBindingSize): simulates a device with a smaller binding limit.
   */
  maxBindingBytes?: number;
}

/** Rows [first, first + rows) of the vocabulary table, bound on their own. */
export interface VocabSlice {
  first: number;
  rows: number;
}

/**
 * How the [vocab, hidden] embedding / LM head table is bound: whole when it fits one binding,
 * else in row slices of at most maxBinding bytes whose starts are aligned both as table rows
 * (first·hidden·4 bytes) and as logits columns (first·4 bytes).
 */
export function vocabSlices(vocab: number, hidden: number, maxBinding: number, offsetAlignment: number): VocabSlice[] {
  const rowBytes = hidden * 4;
  if (vocab * rowBytes <= maxBinding) return [{ first: 0, rows: vocab }];
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const asRows = offsetAlignment / gcd(rowBytes, offsetAlignment), asColumns = Math.max(1, offsetAlignment / 4);
  const step = (asRows * asColumns) / gcd(asRows, asColumns);
  const rows = Math.floor(maxBinding / rowBytes / step) * step;
  if (rows < 1) throw new RangeError(`session: one aligned slice of the vocabulary table (${step} rows of ${rowBytes} bytes) exceeds the ${maxBinding}-byte binding limit`);
  const out: VocabSlice[] = [];
  for (let first = 0; first < vocab; first += rows) out.push({ first, rows: Math.min(rows, vocab - first) });
  return out;
}

/** Sets the loss gradient's scale (1 / counted positions) on every loss dispatch of a step. */
interface LossScale {
  setGradScale(gradScale: number): void;
}

/** Rows of logits a session holds at once (see LoraSessionSpec.logitsChunkRows). */
export function chooseLogitsChunkRows(spec: Pick<LoraSessionSpec, 'batch' | 'seqLen' | 'readLogits' | 'logitsChunkRows' | 'config' | 'lora'>, maxBinding: number, offsetAlignment: number): number {
  const M = spec.batch * spec.seqLen, rowBytes = spec.config.vocabSize * 4;
  // Chunks start at row multiples of `step`, so every slice's byte offset (rows x 4 bytes, or
  // rows x hidden x 4) is a multiple of the alignment.
  const step = Math.max(1, offsetAlignment / 4);
  const asked = spec.logitsChunkRows;
  if (asked !== undefined) {
    if (!Number.isInteger(asked) || asked < 1) throw new RangeError(`logitsChunkRows must be a positive integer, got ${asked}`);
    if (asked >= M) return M;
    if (spec.readLogits || !spec.lora) throw new RangeError('logitsChunkRows: only a training session chunks its logits; one that reads logits back holds all B·T rows');
    if (asked % step !== 0) throw new RangeError(`logitsChunkRows must be a multiple of ${step} on this device (storage offset alignment ${offsetAlignment} bytes), got ${asked}`);
    return asked;
  }
  if (M * rowBytes <= maxBinding || spec.readLogits || !spec.lora) return M;
  const rows = Math.floor(maxBinding / rowBytes / step) * step;
  return rows >= step ? rows : M; // not even one chunk fits: the binding check refuses it by name
}

const NO_LORA = { rank: 1, alpha: 1, targets: [] };

/** spec.weightFormat, else the format pre-quantized weights were packed in, else 'f32'. */
export function sessionWeightFormat(spec: Pick<LoraSessionSpec, 'weights' | 'weightFormat'>): WeightFormat {
  const packed = isQuantizedWeights(spec.weights) ? spec.weights.format : undefined;
  const format = spec.weightFormat ?? packed ?? 'f32';
  if (!WEIGHT_FORMATS.includes(format)) throw new RangeError(`weightFormat must be one of ${WEIGHT_FORMATS.join(', ')}, got "${format}"`);
  if (packed !== undefined && packed !== format) throw new RangeError(`session: weightFormat is ${format} but the weights were quantized as ${packed}`);
  return format;
}

export interface StepResult {
  loss: number;
  count: number;
}

/**
 * LoRA fine-tuning of a (sub)model on WebGPU: the same computation as the CPU engine's
 * LlamaModel.lossAndGrad + AdamW, on hand-written kernels. Every buffer comes from
 * loraSessionBuffers through one ledger, which is sealed once the session is built: a step
 * writes token ids and a few uniforms, records prepared dispatches, and allocates nothing.
 */
export class LoraTrainingSession {
  private stepCount = 0;
  /** Set while a step/logits/readLora call is in flight: they share staging buffers and the queue. */
  private busy = false;
  private constructor(
    readonly ctx: GpuContext,
    readonly ledger: GpuMemoryLedger,
    private readonly spec: LoraSessionSpec,
    private readonly buffers: Map<string, GPUBuffer>,
    private readonly forwardDispatches: Dispatch[],
    private readonly dispatches: Dispatch[],
    private readonly ce: LossScale | undefined,
    private readonly optimizers: AdamWDispatch[],
    private readonly loraParams: { name: string; layer: number; target: LoraTarget; which: 'A' | 'B'; floats: number; offset: number }[],
    /** Token rows of logits held at once (B·T unless chunked), and the vocabulary table's binding slices. */
    readonly logitsChunkRows: number,
    readonly vocabSlices: readonly VocabSlice[],
  ) {}

  static async create(ctx: GpuContext, spec: LoraSessionSpec, kernels = new KernelSet(ctx.device)): Promise<LoraTrainingSession> {
    const c = spec.config;
    validatePlan(spec.plan, c.numLayers);
    if (spec.seqLen > c.maxPositionEmbeddings) throw new RangeError(`seqLen ${spec.seqLen} exceeds the model's ${c.maxPositionEmbeddings} positions`);
    const ledger = new GpuMemoryLedger(ctx.device, spec.budgetBytes);
    const device = ctx.device;
    const shape: LoraSessionShape = {
      config: c, plan: spec.plan, lora: spec.lora?.config ?? NO_LORA, batch: spec.batch, seqLen: spec.seqLen, readLogits: spec.readLogits,
      clipNorm: spec.optimizer?.clipNorm,
      logitsChunkRows: 0,
      weightFormat: sessionWeightFormat(spec),
    };
    const format = shape.weightFormat!;
    const deviceBinding = ctx.limits.maxStorageBufferBindingSize, align = ctx.device.limits.minStorageBufferOffsetAlignment;
    const maxBinding = spec.maxBindingBytes ?? deviceBinding;
    if (!Number.isInteger(maxBinding) || maxBinding < 4 || maxBinding > deviceBinding) {
      throw new RangeError(`maxBindingBytes must be an integer in [4, ${deviceBinding}] (this device's maxStorageBufferBindingSize), got ${spec.maxBindingBytes}`);
    }
    shape.logitsChunkRows = chooseLogitsChunkRows(spec, maxBinding, align);
    const slices = vocabSlices(c.vocabSize, c.hiddenSize, maxBinding, align);
    const buffers = new Map<string, GPUBuffer>();
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    // createBuffer reports out-of-memory asynchronously: catch it for the whole build.
    device.pushErrorScope('out-of-memory');
    let scopeOpen = true;
    try {
      const layout = loraSessionBuffers(shape);
      // The vocabulary tables are bound in row slices and the logits in row chunks; everything
      // else is bound whole, and no buffer may exceed maxBufferSize.
      const sliced = new Set(['embed', 'lmHead']);
      const tooBig = layout.filter((b) => b.elements * 4 > (sliced.has(b.name) ? ctx.limits.maxBufferSize : maxBinding));
      if (tooBig.length) {
        throw new RangeError(
          `session: ${tooBig.map((b) => `${b.name} (${b.elements * 4} bytes)`).join(', ')} exceed this device's ` +
            `binding limit of ${maxBinding} bytes (maxStorageBufferBindingSize; ${ctx.limits.maxBufferSize} for the sliced vocabulary tables); ` +
            'use a smaller batch or sequence length',
        );
      }
      for (const b of layout) {
        if (b.name.startsWith('rope.')) continue; // uploaded by the rope kernels below, same size
        const u = b.name.endsWith('Readback') ? GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST : usage;
        buffers.set(b.name, ledger.createBuffer(b.name, b.elements * 4, u));
      }
      const buf = (name: string): GPUBuffer => {
        const b = buffers.get(name);
        if (!b) throw new Error(`session: no buffer "${name}" in the layout`);
        return b;
      };
      const elements = new Map(layout.map((b) => [b.name, b.elements]));
      const upload = (name: string, t: Tensor | undefined) => {
        if (!t) throw new Error(`session: weights for "${name}" are missing`);
        if (t.data.length !== elements.get(name)) {
          throw new RangeError(`session: "${name}" has ${t.data.length} values, the model config needs ${elements.get(name)}`);
        }
        device.queue.writeBuffer(buf(name), 0, t.data as Float32Array<ArrayBuffer>);
      };
      // A frozen projection: float32 as it is, or packed words + scales (quantized here if given as floats).
      const uploadProjection = (name: string, weight: ProjectionWeightName, src: Tensor | QuantizedMatrix | undefined) => {
        if (!src) throw new Error(`session: weights for "${name}" are missing`);
        const isPacked = 'words' in src;
        if (format === 'f32' && !isPacked) return upload(name, src);
        const [rows, cols] = projectionShape(c, weight);
        const q = isPacked ? src : quantizeMatrix(src.data, rows, cols, format);
        if (q.format !== format) throw new RangeError(`session: "${name}" is packed as ${q.format}, the session's weightFormat is ${format}`);
        if (q.rows !== rows || q.cols !== cols) throw new RangeError(`session: "${name}" is ${q.rows} x ${q.cols}, the model config needs ${rows} x ${cols}`);
        if (q.words.length !== elements.get(name) || (format !== 'f32' && q.scales.length !== elements.get(`${name}.scales`))) {
          throw new RangeError(`session: "${name}" has ${q.words.length} words and ${q.scales.length} scales, not the ${format} layout of ${rows} x ${cols}`);
        }
        device.queue.writeBuffer(buf(name), 0, q.words as Uint32Array<ArrayBuffer>);
        if (format !== 'f32') device.queue.writeBuffer(buf(`${name}.scales`), 0, q.scales as Float32Array<ArrayBuffer>);
      };
      const projections = new Set<string>(PROJECTION_WEIGHTS);
      // Weights and LoRA.
      upload('embed', spec.weights.embed);
      upload('finalNorm', spec.weights.finalNorm);
      if (!c.tieWordEmbeddings) upload('lmHead', spec.weights.lmHead);
      if (buffers.has('io.ones')) device.queue.writeBuffer(buf('io.ones'), 0, new Float32Array(spec.batch * spec.seqLen).fill(1));
      const loraParams: LoraTrainingSession['loraParams'] = [];
      let offset = 0;
      for (const l of spec.plan.layers) {
        // Norms and biases are Tensors; projections are Tensors or QuantizedMatrix objects.
        const w = spec.weights.layers[l.index] as Record<string, Tensor | QuantizedMatrix> | undefined;
        if (!w) throw new Error(`plan keeps layer ${l.index} but its weights were not given`);
        for (const name of buffers.keys()) {
          const m = new RegExp(`^layer${l.index}\\.(\\w+)$`).exec(name);
          if (m && projections.has(m[1])) uploadProjection(name, m[1] as ProjectionWeightName, w[m[1]]);
          else if (m && m[1] in w) upload(name, w[m[1]] as Tensor);
          const lm = new RegExp(`^layer${l.index}\\.lora\\.(\\w+)\\.(A|B)$`).exec(name);
          if (lm) {
            const t = lm[1] as LoraTarget, which = lm[2] as 'A' | 'B';
            const pair = spec.lora?.layers.get(l.index)?.[t];
            if (!pair) throw new Error(`LoRA adapter has no ${t} pair for kept layer ${l.index}`);
            upload(name, pair[which]);
            loraParams.push({ name, layer: l.index, target: t, which, floats: pair[which].data.length, offset });
            offset += pair[which].data.length;
          }
        }
      }
      const rope = kernels.rope.uploadTables(ledger, 'rope', buildRopeTables(c, spec.seqLen));
      const g = new GraphBuilder(kernels, ledger, spec, buffers, rope, shape.logitsChunkRows, slices, format);
      const forward = await g.forward();
      const dispatches = spec.lora ? [...forward, ...(await g.backward())] : forward;
      const losses = g.lossDispatches;
      const ce: LossScale | undefined = losses.length ? { setGradScale: (v) => losses.forEach((d) => d.setGradScale(v)) } : undefined;
      const optimizers: AdamWDispatch[] = [];
      if (loraParams.length && !spec.optimizer) throw new Error('session: a LoRA session needs optimizer settings');
      const gradOf = (p: (typeof loraParams)[number]) => buf(`${p.name.slice(0, -1)}grad${p.which}`);
      const clipNorm = spec.optimizer?.clipNorm;
      if (clipNorm !== undefined && loraParams.length) {
        const parts = buf('grad.normParts'), scale = buf('grad.clipScale');
        for (const [i, p] of loraParams.entries()) dispatches.push(await kernels.gradNorm.prepareSumSquares(ledger, `clip.sum.${p.name}`, p.floats, gradOf(p), parts, i));
        dispatches.push(await kernels.gradNorm.prepareClipScale(ledger, 'clip.scale', loraParams.length, clipNorm, parts, scale));
        for (const p of loraParams) dispatches.push(await kernels.gradNorm.prepareScaleInPlace(ledger, `clip.apply.${p.name}`, p.floats, gradOf(p), scale));
      }
      for (const p of loraParams) {
        const base = p.name.slice(0, -1);
        const { lr, clipNorm: _clip, ...given } = spec.optimizer!;
        // Options given as undefined keep the kernel's defaults.
        const opts = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as AdamWKernelOptions;
        optimizers.push(await kernels.adamw.prepare(
          ledger, `adamw.${p.name}`, p.floats, opts, { lr, step: 1 },
          buf(p.name), buf(`${base}grad${p.which}`), buf(`${base}m${p.which}`), buf(`${base}v${p.which}`),
        ));
      }
      scopeOpen = false;
      const oom = await device.popErrorScope();
      if (oom) throw new GpuOutOfMemoryError(`the GPU could not allocate the session's ${ledger.liveBytes} bytes: ${oom.message}`);
      ledger.seal();
      return new LoraTrainingSession(ctx, ledger, spec, buffers, forward, dispatches, ce, optimizers, loraParams, shape.logitsChunkRows!, slices);
    } catch (e) {
      if (scopeOpen) await device.popErrorScope().catch(() => null);
      ledger.destroyAll();
      throw e;
    }
  }

  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new Error(`${what}: the session is busy; await the previous call first`);
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  /** One AdamW step on the batch; returns the batch's mean loss before the update. */
  step(batch: TokenBatch, lr = this.spec.optimizer?.lr ?? 0): Promise<StepResult> {
    return this.exclusive('step', () => this.runStep(batch, lr));
  }

  private async runStep(batch: TokenBatch, lr: number): Promise<StepResult> {
    if (this.ctx.lostError) throw this.ctx.lostError;
    if (!this.ce) throw new Error('step: this session was built without LoRA (forward only)');
    const { batch: B, seqLen: T, config } = this.spec;
    if (batch.B !== B || batch.T !== T) throw new RangeError(`step: session was built for B=${B}, T=${T}, got B=${batch.B}, T=${batch.T}`);
    validateTokenIds(batch.inputIds, config.vocabSize);
    validateTargets(batch.targets, config.vocabSize);
    let count = 0;
    for (const t of batch.targets) if (t !== -1) count++;
    if (count === 0) throw new RangeError('step: the batch has no counted targets');
    const q = this.ctx.device.queue;
    q.writeBuffer(this.buffers.get('io.inputIds')!, 0, Int32Array.from(batch.inputIds));
    q.writeBuffer(this.buffers.get('io.targets')!, 0, Int32Array.from(batch.targets));
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`step: learning rate must be a finite number >= 0, got ${lr}`);
    this.ce.setGradScale(1 / count);
    const stepNumber = this.stepCount + 1;
    for (const d of this.optimizers) d.updateHyperparameters({ lr, step: stepNumber });
    this.stepCount = stepNumber;
    const enc = this.ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const d of this.dispatches) recordDispatch(pass, d);
    for (const d of this.optimizers) recordDispatch(pass, d);
    pass.end();
    const lossRows = this.buffers.get('io.lossRows')!, readback = this.buffers.get('io.lossReadback')!;
    enc.copyBufferToBuffer(lossRows, 0, readback, 0, B * T * 4);
    q.submit([enc.finish()]);
    await whileDeviceLives(this.ctx, readback.mapAsync(GPUMapMode.READ));
    const rows = new Float32Array(readback.getMappedRange());
    let sum = 0;
    for (let i = 0; i < rows.length; i++) sum += rows[i];
    readback.unmap();
    return { loss: sum / count, count };
  }

  /** Next-token logits [B*T, vocab] of a batch of token ids (forward only; needs readLogits). */
  logits(inputIds: Int32Array): Promise<Float32Array> {
    return this.exclusive('logits', () => this.runLogits(inputIds));
  }

  private async runLogits(inputIds: Int32Array): Promise<Float32Array> {
    if (this.ctx.lostError) throw this.ctx.lostError;
    const { batch: B, seqLen: T, config } = this.spec;
    const staging = this.buffers.get('io.logitsReadback');
    if (!staging) throw new Error('logits: build the session with readLogits: true');
    if (inputIds.length !== B * T) throw new RangeError(`logits: expected ${B * T} token ids, got ${inputIds.length}`);
    validateTokenIds(inputIds, config.vocabSize);
    this.ctx.device.queue.writeBuffer(this.buffers.get('io.inputIds')!, 0, Int32Array.from(inputIds));
    const enc = this.ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const d of this.forwardDispatches) recordDispatch(pass, d);
    pass.end();
    enc.copyBufferToBuffer(this.buffers.get('logits')!, 0, staging, 0, B * T * config.vocabSize * 4);
    this.ctx.device.queue.submit([enc.finish()]);
    await whileDeviceLives(this.ctx, staging.mapAsync(GPUMapMode.READ));
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    return out;
  }

  /** The current LoRA weights, read back from the GPU. */
  readLora(): Promise<LoraAdapter> {
    return this.exclusive('readLora', () => this.runReadLora());
  }

  private async runReadLora(): Promise<LoraAdapter> {
    if (this.ctx.lostError) throw this.ctx.lostError;
    if (!this.spec.lora) throw new Error('readLora: this session has no LoRA');
    const staging = this.buffers.get('io.loraReadback')!;
    const enc = this.ctx.device.createCommandEncoder();
    for (const p of this.loraParams) enc.copyBufferToBuffer(this.buffers.get(p.name)!, 0, staging, p.offset * 4, p.floats * 4);
    this.ctx.device.queue.submit([enc.finish()]);
    await whileDeviceLives(this.ctx, staging.mapAsync(GPUMapMode.READ));
    const all = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    const out: LoraAdapter = { config: { ...this.spec.lora.config }, layers: new Map() };
    for (const p of this.loraParams) {
      const src = this.spec.lora!.layers.get(p.layer)![p.target]![p.which];
      const layer = out.layers.get(p.layer) ?? {};
      const pair = (layer[p.target] ?? {}) as { A: Tensor; B: Tensor };
      pair[p.which] = { shape: [...src.shape], data: all.slice(p.offset, p.offset + p.floats) };
      layer[p.target] = pair;
      out.layers.set(p.layer, layer);
    }
    return out;
  }

  get peakBytes(): number {
    return this.ledger.peakBytes;
  }

  destroy(): void {
    this.ledger.unseal();
    this.ledger.destroyAll();
  }
}

/** Builds the forward and backward dispatch lists of one session (see LoraTrainingSession). */
class GraphBuilder {
  /** The loss dispatches (one per logits chunk) whose gradient scale each step sets. */
  readonly lossDispatches: CrossEntropyGradDispatch[] = [];
  private readonly M: number;
  private readonly scale: number;

  constructor(
    private readonly k: KernelSet, private readonly ledger: GpuMemoryLedger, private readonly spec: LoraSessionSpec,
    private readonly buffers: Map<string, GPUBuffer>, private readonly rope: RopeTableBuffers, private readonly chunkRows: number,
    private readonly vocab: VocabSlice[], private readonly format: WeightFormat,
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

  /** Rows of the vocabulary table (the tied embedding or the untied LM head) of one slice. */
  private headSlice(s: VocabSlice, name = this.spec.config.tieWordEmbeddings ? 'embed' : 'lmHead'): Bindable {
    const H = this.spec.config.hiddenSize, b = this.buf(name);
    return this.vocab.length === 1 ? b : { buffer: b, offset: s.first * H * 4, size: s.rows * H * 4 };
  }

  /** Columns [first, first + rows) of `rows` rows of logits (row stride vocab) starting at byte `offset`. */
  private logitColumns(logits: Bindable, rows: number, s: VocabSlice): Bindable {
    if (this.vocab.length === 1) return logits;
    const V = this.spec.config.vocabSize, base = isSlice(logits) ? logits.offset : 0;
    return { buffer: bufferOf(logits), offset: base + s.first * 4, size: ((rows - 1) * V + s.rows) * 4 };
  }

  /** logits[rows, V] = normed · headᵀ, one matmul per vocabulary slice. */
  private async headForward(label: string, rows: number, normed: Bindable, logits: Bindable): Promise<Dispatch[]> {
    const c = this.spec.config, out: Dispatch[] = [];
    for (const [i, s] of this.vocab.entries()) {
      out.push(await this.mm(this.vocab.length === 1 ? label : `${label}.v${i}`, false, true, false, rows, s.rows, c.hiddenSize, normed, this.headSlice(s), this.logitColumns(logits, rows, s), 1, { ldc: c.vocabSize }));
    }
    return out;
  }

  /** dNormed[rows, H] = dlogits · head, summed over the vocabulary slices. */
  private async headInputGrad(label: string, rows: number, dlogits: Bindable, dNormed: Bindable): Promise<Dispatch[]> {
    const c = this.spec.config, out: Dispatch[] = [];
    for (const [i, s] of this.vocab.entries()) {
      out.push(await this.mm(this.vocab.length === 1 ? label : `${label}.v${i}`, false, false, i > 0, rows, c.hiddenSize, s.rows, this.logitColumns(dlogits, rows, s), this.headSlice(s), dNormed, 1, { lda: c.vocabSize }));
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
    const gatherShape = { rows: M, D: H, vocab: c.vocabSize };
    const out: Dispatch[] = this.vocab.length === 1
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
