import { AttentionKernels } from './attention';
import { AdamWKernels } from './adamw';
import { CrossEntropyKernels } from './crossEntropy';
import { DequantMatmulKernels } from './dequantMatmul';
import { ElementwiseKernels } from './elementwise';
import { GradNormKernels } from './gradNorm';
import { MatmulKernels } from './matmul';
import { RmsNormKernels } from './rmsNorm';
import { RopeKernels } from './rope';

/** Every kernel family on one device; pipelines are compiled lazily and cached per family. */
export class KernelSet {
  readonly matmul: MatmulKernels;
  readonly dequantMatmul: DequantMatmulKernels;
  readonly elementwise: ElementwiseKernels;
  readonly rmsNorm: RmsNormKernels;
  readonly rope: RopeKernels;
  readonly attention: AttentionKernels;
  readonly crossEntropy: CrossEntropyKernels;
  readonly adamw: AdamWKernels;
  readonly gradNorm: GradNormKernels;

  constructor(readonly device: GPUDevice) {
    this.matmul = new MatmulKernels(device);
    this.dequantMatmul = new DequantMatmulKernels(device);
    this.elementwise = new ElementwiseKernels(device);
    this.rmsNorm = new RmsNormKernels(device);
    this.rope = new RopeKernels(device);
    this.attention = new AttentionKernels(device);
    this.crossEntropy = new CrossEntropyKernels(device);
    this.adamw = new AdamWKernels(device);
    this.gradNorm = new GradNormKernels(device);
  }
}
