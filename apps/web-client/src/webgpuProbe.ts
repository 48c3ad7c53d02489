import selfTestWgsl from './gpuSelfTest.wgsl?raw';

/** What the volunteer page learns about this browser's WebGPU before offering to train. */
export type WebGpuProbe =
  | { available: false; reason: string }
  | {
      available: true;
      adapter: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean };
      features: string[];
      limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number; maxStorageBuffersPerShaderStage: number };
      selfTestPassed: boolean;
    };

/** Runs the self-test kernel on 100 values and checks every result on the CPU. */
async function selfTest(device: GPUDevice): Promise<boolean> {
  const n = 100;
  const input = Float32Array.from({ length: n }, (_, i) => i - 50);
  const inBuf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const outBuf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const readBuf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(inBuf, 0, input);
    const pipeline = await device.createComputePipelineAsync({
      layout: 'auto', compute: { module: device.createShaderModule({ code: selfTestWgsl }), entryPoint: 'main' },
    });
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: inBuf } }, { binding: 1, resource: { buffer: outBuf } }],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(Math.ceil(n / 64));
    pass.end();
    enc.copyBufferToBuffer(outBuf, 0, readBuf, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await readBuf.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(readBuf.getMappedRange().slice(0));
    readBuf.unmap();
    return out.every((v, i) => v === input[i] * 2 + 1);
  } finally {
    inBuf.destroy(); outBuf.destroy(); readBuf.destroy();
  }
}

/** Detects WebGPU, reads the adapter's identity and limits, and proves it computes. */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return {
      available: false,
      reason: window.isSecureContext
        ? 'This browser does not expose WebGPU (navigator.gpu is missing). Try a recent Chrome, Edge, or Safari 26+.'
        : 'WebGPU needs a secure context: open this page over https or from localhost.',
    };
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { available: false, reason: 'WebGPU is present but no GPU adapter was found (blocklisted or disabled GPU).' };
  const info = adapter.info;
  const device = await adapter.requestDevice();
  try {
    const l = adapter.limits;
    return {
      available: true,
      adapter: {
        vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
        isFallbackAdapter: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      },
      features: [...adapter.features].sort(),
      limits: {
        maxBufferSize: l.maxBufferSize,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      },
      selfTestPassed: await selfTest(device),
    };
  } finally {
    device.destroy();
  }
}
