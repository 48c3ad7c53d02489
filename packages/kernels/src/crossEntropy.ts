import crossEntropyWgsl from './crossEntropy.wgsl?raw';
import { bindingOf, PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Bindable, type Dispatch } from './dispatch';
import { flatWorkgroupGrid, requireDistinctBuffers, requireInt32s, rowWorkgroupSize } from './elementwise';
import type { GpuMemoryLedger } from './memoryLedger';

export interface CrossEntropyShape {
  /** Rows (B·T positions). */
  N: number;
  /** Vocabulary size. */
  V: number;
}

/** The gradient variant: gradScale lives in its uniform and changes per batch (1 / counted positions). */
export interface CrossEntropyGradDispatch extends Dispatch {
  /** Rewrites gradScale in the prepared uniform (queue.writeBuffer, no allocation). */
  setGradScale(gradScale: number): void;
}

/**
 * Host-side check of targets before upload: each must be −1 (ignored) or in [0, V). The kernel
 * does not check them (the CPU reference throws; a GPU kernel cannot), so callers validate here.
 */
export function validateTargets(targets: ArrayLike<number>, V: number): void {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (t !== -1 && (!Number.isInteger(t) || t < 0 || t >= V)) {
      throw new RangeError(`crossEntropy: target ${t} at position ${i} outside vocabulary [0, ${V})`);
    }
  }
}

/**
 * Masked softmax cross-entropy (crossEntropy.wgsl), as core's crossEntropy: per-row losses
 * lossRows[N] (0 for ignored rows; their sum is core's lossSum), and in the gradient variant the
 * logits are overwritten with (softmax − onehot)·gradScale (zero rows for ignored positions).
 */
export class CrossEntropyKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'crossEntropy', crossEntropyWgsl);
  }

  private async build(
    ledger: GpuMemoryLedger, label: string, s: CrossEntropyShape, grad: boolean, gradScale: number,
    logits: Bindable, targets: Bindable, lossRows: Bindable,
  ): Promise<{ d: Dispatch; uniform: GPUBuffer }> {
    const kernel = grad ? 'crossEntropyGrad' : 'crossEntropy';
    requirePositiveInts(kernel, { N: s.N, V: s.V });
    requireFloats(kernel, 'logits', logits, s.N * s.V);
    requireInt32s(kernel, 'targets', targets, s.N);
    requireFloats(kernel, 'lossRows', lossRows, s.N);
    requireDistinctBuffers(kernel, { logits, lossRows, targets });
    if (!Number.isFinite(gradScale)) throw new RangeError(`${kernel}: gradScale must be finite, got ${gradScale}`);
    const pipeline = await this.cache.get('main', { GRAD: +grad, WG: rowWorkgroupSize(s.V) });
    const data = new ArrayBuffer(16);
    new Uint32Array(data, 0, 2).set([s.N, s.V]);
    new Float32Array(data, 8, 1)[0] = gradScale;
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data);
    const bindGroup = this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: [uniform, logits, targets, lossRows].map((x, binding) => ({ binding, resource: bindingOf(x) })),
    });
    return { d: { label, pipeline, bindGroup, workgroups: flatWorkgroupGrid(s.N) }, uniform };
  }

  /** lossRows[n] = −log softmax(logits[n])[targets[n]] (0 where the target is −1); logits untouched. */
  async prepareLoss(
    ledger: GpuMemoryLedger, label: string, s: CrossEntropyShape, logits: Bindable, targets: Bindable, lossRows: Bindable,
  ): Promise<Dispatch> {
    return (await this.build(ledger, label, s, false, 0, logits, targets, lossRows)).d;
  }

  /**
   * As prepareLoss, and overwrites logits with d(Σ loss · gradScale)/dlogits. gradScale is the
   * initial value; setGradScale rewrites it for later batches.
   */
  async prepareLossAndGrad(
    ledger: GpuMemoryLedger, label: string, s: CrossEntropyShape, gradScale: number,
    logits: Bindable, targets: Bindable, lossRows: Bindable,
  ): Promise<CrossEntropyGradDispatch> {
    const { d, uniform } = await this.build(ledger, label, s, true, gradScale, logits, targets, lossRows);
    const staging = new Float32Array(1);
    const queue = this.device.queue;
    return {
      ...d,
      setGradScale(value: number) {
        if (!Number.isFinite(value)) throw new RangeError(`crossEntropyGrad: gradScale must be finite, got ${value}`);
        staging[0] = value;
        queue.writeBuffer(uniform, 8, staging);
      },
    };
  }
}
