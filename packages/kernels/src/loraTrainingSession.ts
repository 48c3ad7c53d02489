import {
  buildRopeTables, isQuantizedWeights, loraSessionBuffers, quantizedLayout, validatePlan, vocabFormatOf, WEIGHT_FORMATS, type LlamaWeights,
  type LoraAdapter, type LoraSessionShape, type ModelConfig, type QuantizedLlamaWeights, type QuantizedMatrix, type SubmodelPlan, type Tensor,
  type TokenBatch, type WeightFormat,
} from '@fedllm/core';
import type { AdamWDispatch, AdamWKernelOptions } from './adamw';
import { recordDispatch, type Dispatch } from './dispatch';
import { validateTokenIds } from './elementwise';
import { validateTargets } from './crossEntropy';
import { whileDeviceLives, type GpuContext } from './gpuDevice';
import { KernelSet } from './kernelSet';
import { GraphBuilder } from './loraSessionGraph';
import { uploadSessionWeights, type LoraParamSlot } from './loraSessionUpload';
import { GpuMemoryLedger, GpuOutOfMemoryError } from './memoryLedger';

export interface LoraSessionSpec {
  config: ModelConfig;
  plan: SubmodelPlan;
  /**
   * Base weights; only the kept layers need to be present. With a quantized weightFormat, give
   * them pre-quantized (core's quantizeWeights: the projections as packed QuantizedMatrix), so
   * the tab never holds the float32 projections; float32 LlamaWeights are also accepted and
   * their projections quantized at upload (same result, for callers that have the floats anyway).
   * Pre-quantized weights may hold the vocabulary tables packed too (e.g. a GGUF's Q8_0
   * embedding): the gather and the LM head then dequantize them in their kernels.
   */
  weights: LlamaWeights | QuantizedLlamaWeights;
  /**
   * How the frozen projections are stored on the GPU (default: the format of pre-quantized
   * weights, else 'f32'). A packed format runs the projections' forward and input-gradient
   * products on the dequantizing matmuls; norms, biases and LoRA stay float32.
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
 * else in row slices of at most maxBinding bytes whose starts are aligned as table rows (first
 * rows of floats, or of packed words and of scales) and as logits columns (first·4 bytes).
 */
export function vocabSlices(vocab: number, hidden: number, maxBinding: number, offsetAlignment: number, format: WeightFormat = 'f32'): VocabSlice[] {
  const packed = format === 'f32' ? undefined : quantizedLayout(1, hidden, format);
  const rowBytes = packed ? packed.wordsPerRow * 4 : hidden * 4;
  if (vocab * rowBytes <= maxBinding) return [{ first: 0, rows: vocab }];
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const lcm = (a: number, b: number) => (a * b) / gcd(a, b);
  // Rows per step so that `bytes` per row lands slice starts on the alignment.
  const rowsFor = (bytes: number) => offsetAlignment / gcd(bytes, offsetAlignment);
  let step = lcm(rowsFor(rowBytes), Math.max(1, offsetAlignment / 4));
  if (packed) step = lcm(step, rowsFor(packed.scales * 4));
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
    private readonly loraParams: LoraParamSlot[],
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
      vocabFormat: vocabFormatOf(spec.weights), // 'f32' for float weights
    };
    const format = shape.weightFormat!;
    const deviceBinding = ctx.limits.maxStorageBufferBindingSize, align = ctx.device.limits.minStorageBufferOffsetAlignment;
    const maxBinding = spec.maxBindingBytes ?? deviceBinding;
    if (!Number.isInteger(maxBinding) || maxBinding < 4 || maxBinding > deviceBinding) {
      throw new RangeError(`maxBindingBytes must be an integer in [4, ${deviceBinding}] (this device's maxStorageBufferBindingSize), got ${spec.maxBindingBytes}`);
    }
    shape.logitsChunkRows = chooseLogitsChunkRows(spec, maxBinding, align);
    const vocabFormat = shape.vocabFormat!;
    const slices = vocabSlices(c.vocabSize, c.hiddenSize, maxBinding, align, vocabFormat);
    const buffers = new Map<string, GPUBuffer>();
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    // createBuffer reports out-of-memory asynchronously: catch it for the whole build.
    device.pushErrorScope('out-of-memory');
    let scopeOpen = true;
    try {
      const layout = loraSessionBuffers(shape);
      // The vocabulary tables are bound in row slices and the logits in row chunks; everything
      // else is bound whole, and no buffer may exceed maxBufferSize.
      const sliced = new Set(['embed', 'lmHead', 'embed.scales', 'lmHead.scales']);
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
      const loraParams = uploadSessionWeights(device, spec, buffers, new Map(layout.map((x) => [x.name, x.elements])), format, vocabFormat);
      const rope = kernels.rope.uploadTables(ledger, 'rope', buildRopeTables(c, spec.seqLen));
      const g = new GraphBuilder(kernels, ledger, spec, buffers, rope, shape.logitsChunkRows, slices, format, vocabFormat);
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
