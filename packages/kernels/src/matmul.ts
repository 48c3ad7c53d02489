import matmulWgsl from './matmul.wgsl?raw';

/** Which operand is stored transposed; see matmul.wgsl for how linear layers map to these. */
export interface MatmulVariant {
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
}

export interface MatmulShape {
  M: number;
  N: number;
  /** Reduction length. */
  R: number;
  alpha?: number;
}

const TILE = 4;
const WG = 8;

/**
 * Compiled matmul pipelines of one device, one per variant (override constants select the
 * layout at pipeline creation, so the inner loop carries no layout branches).
 */
export class MatmulKernels {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly module: GPUShaderModule;

  constructor(private readonly device: GPUDevice) {
    this.module = device.createShaderModule({ label: 'matmul', code: matmulWgsl });
  }

  pipeline(v: MatmulVariant): Promise<GPUComputePipeline> {
    const key = `${+v.transA}${+v.transB}${+v.accumulate}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipelineAsync({
        label: `matmul.${key}`,
        layout: 'auto',
        compute: { module: this.module, entryPoint: 'main', constants: { TRANS_A: +v.transA, TRANS_B: +v.transB, ACCUMULATE: +v.accumulate } },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Uniform block contents for a shape (M, N, R as u32, alpha as f32). */
  static uniformData(s: MatmulShape): ArrayBuffer {
    const buf = new ArrayBuffer(16);
    new Uint32Array(buf, 0, 3).set([s.M, s.N, s.R]);
    new Float32Array(buf, 12, 1)[0] = s.alpha ?? 1;
    return buf;
  }

  static workgroups(s: MatmulShape): [number, number] {
    return [Math.ceil(s.N / (TILE * WG)), Math.ceil(s.M / (TILE * WG))];
  }

  static validate(s: MatmulShape, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer): void {
    for (const [k, v] of Object.entries({ M: s.M, N: s.N, R: s.R })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`matmul: ${k} must be a positive integer, got ${v}`);
    }
    const need = (name: string, buf: GPUBuffer, n: number) => {
      if (buf.size < n * 4) throw new RangeError(`matmul: ${name} holds ${buf.size / 4} floats, needs ${n}`);
    };
    need('A', a, s.M * s.R);
    need('B', b, s.R * s.N);
    need('C', c, s.M * s.N);
  }

  /** Records C = alpha·op(A)·op(B) (+ C) into an open compute pass. */
  async encode(
    pass: GPUComputePassEncoder, v: MatmulVariant, s: MatmulShape, uniform: GPUBuffer, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer,
  ): Promise<GPUBindGroup> {
    MatmulKernels.validate(s, a, b, c);
    const pipeline = await this.pipeline(v);
    const bind = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: uniform } },
        { binding: 1, resource: { buffer: a } },
        { binding: 2, resource: { buffer: b } },
        { binding: 3, resource: { buffer: c } },
      ],
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    const [x, y] = MatmulKernels.workgroups(s);
    pass.dispatchWorkgroups(x, y);
    return bind;
  }
}
