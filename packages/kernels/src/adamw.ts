import adamwWgsl from './adamw.wgsl?raw';
import { PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Dispatch } from './dispatch';
import { flatWorkgroupGrid, requireDistinctBuffers } from './elementwise';
import type { GpuMemoryLedger } from './memoryLedger';

/** Fixed for a training run (defaults as torch.optim.AdamW and core's AdamW). */
export interface AdamWKernelOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay; 0 for tensors exempt from decay (norms, biases). */
  weightDecay?: number;
}

/** What changes every step. `step` counts from 1 (the first update), as core's AdamW.step after it. */
export interface AdamWStepHyperparameters {
  lr: number;
  step: number;
}

export interface AdamWDispatch extends Dispatch {
  /**
   * Rewrites lr and the bias corrections for `step` into the prepared uniform
   * (queue.writeBuffer into an existing buffer: no allocation). Call before submitting each step.
   */
  updateHyperparameters(h: AdamWStepHyperparameters): void;
}

const UNIFORM_BYTES = 48;

/** Fills the uniform of adamw.wgsl: step-dependent terms in float64 on the host, then float32. */
function writeHyper(data: ArrayBuffer, n: number, o: Required<AdamWKernelOptions>, h: AdamWStepHyperparameters): void {
  if (!(h.lr >= 0) || !Number.isFinite(h.lr)) throw new RangeError(`adamw: learning rate must be a finite number >= 0, got ${h.lr}`);
  if (!Number.isInteger(h.step) || h.step < 1) throw new RangeError(`adamw: step must be an integer >= 1, got ${h.step}`);
  new Uint32Array(data, 0, 1)[0] = n;
  new Float32Array(data, 4, 9).set([
    h.lr, o.beta1, o.beta2, 1 - o.beta1, 1 - o.beta2, o.eps, 1 - h.lr * o.weightDecay,
    1 - Math.pow(o.beta1, h.step), 1 - Math.pow(o.beta2, h.step),
  ]);
}

/** AdamW over a flat parameter buffer (adamw.wgsl), exactly as core's AdamW.update. */
export class AdamWKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'adamw', adamwWgsl);
  }

  /**
   * One in-place update of param[n], m[n], v[n] from grad[n]. `initial` is written now; later
   * steps rewrite lr and step with updateHyperparameters on the returned dispatch.
   */
  async prepare(
    ledger: GpuMemoryLedger, label: string, n: number, opts: AdamWKernelOptions, initial: AdamWStepHyperparameters,
    param: GPUBuffer, grad: GPUBuffer, m: GPUBuffer, v: GPUBuffer,
  ): Promise<AdamWDispatch> {
    requirePositiveInts('adamw', { n });
    const o: Required<AdamWKernelOptions> = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, ...opts };
    for (const k of ['beta1', 'beta2'] as const) {
      if (!(o[k] >= 0 && o[k] < 1)) throw new RangeError(`adamw: ${k} must be in [0, 1), got ${o[k]}`);
    }
    if (!(o.eps >= 0) || !Number.isFinite(o.eps)) throw new RangeError(`adamw: eps must be a finite number >= 0, got ${o.eps}`);
    if (!(o.weightDecay >= 0) || !Number.isFinite(o.weightDecay)) throw new RangeError(`adamw: weightDecay must be a finite number >= 0, got ${o.weightDecay}`);
    requireFloats('adamw', 'param', param, n);
    requireFloats('adamw', 'grad', grad, n);
    requireFloats('adamw', 'm', m, n);
    requireFloats('adamw', 'v', v, n);
    requireDistinctBuffers('adamw', { param, m, v, grad });
    const data = new ArrayBuffer(UNIFORM_BYTES);
    writeHyper(data, n, o, initial);
    const pipeline = await this.cache.get('main');
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data);
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, param, grad, m, v].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const queue = this.device.queue;
    return {
      label, pipeline, bindGroup, workgroups: flatWorkgroupGrid(Math.ceil(n / 64)),
      updateHyperparameters(h: AdamWStepHyperparameters) {
        writeHyper(data, n, o, h);
        queue.writeBuffer(uniform, 0, data);
      },
    };
  }
}
