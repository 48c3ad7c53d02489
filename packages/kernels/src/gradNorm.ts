import gradNormWgsl from './gradNorm.wgsl?raw';
import { PipelineCache, requireFloats, requirePositiveInts, uniformBuffer, type Dispatch } from './dispatch';
import { flatWorkgroupGrid } from './elementwise';
import type { GpuMemoryLedger } from './memoryLedger';

/**
 * Global gradient-norm clipping on the GPU (core's clipGradNorm): sumSquares per gradient buffer
 * into a slot of `parts`, one clipScale, then scaleInPlace per gradient buffer.
 */
export class GradNormKernels {
  private readonly cache: PipelineCache;

  constructor(private readonly device: GPUDevice) {
    this.cache = new PipelineCache(device, 'gradNorm', gradNormWgsl);
  }

  private async build(
    ledger: GpuMemoryLedger, label: string, entry: string, n: number, slot: number, maxNorm: number,
    bindings: [number, GPUBuffer][], workgroups: [number, number, number],
  ): Promise<Dispatch> {
    const data = new ArrayBuffer(16);
    new Uint32Array(data, 0, 2).set([n, slot]);
    new Float32Array(data, 8, 1)[0] = maxNorm;
    const uniform = uniformBuffer(this.device, ledger, `uniform.${label}`, data);
    const pipeline = await this.cache.get(entry);
    const bindGroup = this.device.createBindGroup({
      label, layout: pipeline.getBindGroupLayout(0),
      entries: [[0, uniform] as [number, GPUBuffer], ...bindings].map(([binding, buffer]) => ({ binding, resource: { buffer } })),
    });
    return { label, pipeline, bindGroup, workgroups };
  }

  /** parts[slot] = Σ grad² over n values. */
  prepareSumSquares(ledger: GpuMemoryLedger, label: string, n: number, grad: GPUBuffer, parts: GPUBuffer, slot: number): Promise<Dispatch> {
    requirePositiveInts('sumSquares', { n });
    requireFloats('sumSquares', 'grad', grad, n);
    requireFloats('sumSquares', 'parts', parts, slot + 1);
    if (grad === parts) throw new RangeError('sumSquares: grad and parts must be distinct buffers');
    return this.build(ledger, label, 'sumSquares', n, slot, 0, [[1, grad], [2, parts]], [1, 1, 1]);
  }

  /** scale[0] = maxNorm / ‖g‖ if ‖g‖ > maxNorm else 1, with ‖g‖² = Σ parts[0..count). */
  prepareClipScale(ledger: GpuMemoryLedger, label: string, count: number, maxNorm: number, parts: GPUBuffer, scale: GPUBuffer): Promise<Dispatch> {
    requirePositiveInts('clipScale', { count });
    if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new RangeError(`clipScale: maxNorm must be a finite number > 0, got ${maxNorm}`);
    requireFloats('clipScale', 'parts', parts, count);
    requireFloats('clipScale', 'scale', scale, 1);
    if (parts === scale) throw new RangeError('clipScale: parts and scale must be distinct buffers');
    return this.build(ledger, label, 'clipScale', count, 0, maxNorm, [[3, parts], [4, scale]], [1, 1, 1]);
  }

  /** grad *= scale[0] over n values. */
  prepareScaleInPlace(ledger: GpuMemoryLedger, label: string, n: number, grad: GPUBuffer, scale: GPUBuffer): Promise<Dispatch> {
    requirePositiveInts('scaleInPlace', { n });
    requireFloats('scaleInPlace', 'grad', grad, n);
    requireFloats('scaleInPlace', 'scale', scale, 1);
    if (grad === scale) throw new RangeError('scaleInPlace: grad and scale must be distinct buffers');
    return this.build(ledger, label, 'scaleInPlace', n, 0, 0, [[5, grad], [6, scale]], flatWorkgroupGrid(Math.ceil(n / 64)));
  }
}
