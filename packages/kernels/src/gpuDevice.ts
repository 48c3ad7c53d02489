/**
 * Creating the GPUDevice the training engine runs on. Adapters offer far larger limits than
 * WebGPU's defaults (128 MiB per storage binding), but a device gets them only when it asks, so we
 * request the adapter's real limits for everything the kernels touch.
 */
export class WebGpuUnavailableError extends Error {
  override name = 'WebGpuUnavailableError';
}

/** The device was lost (driver reset, tab backgrounded on some OSes, device.destroy()). */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(readonly reason: string, message: string) {
    super(`GPU device lost (${reason}): ${message || 'no message'}`);
  }
}

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxStorageBuffersPerShaderStage: number;
    maxComputeWorkgroupsPerDimension: number;
  };
  /** Resolves (never rejects) when the device is lost, with the typed error to surface. */
  lost: Promise<DeviceLostError>;
  /** Set once the device is lost; every engine entry point checks it. */
  lostError?: DeviceLostError;
}

export async function createGpuContext(gpu: GPU | undefined = self.navigator?.gpu): Promise<GpuContext> {
  if (!gpu) throw new WebGpuUnavailableError('WebGPU is not available: navigator.gpu is missing (a secure context and a WebGPU-capable browser are needed)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new WebGpuUnavailableError('WebGPU is present but requestAdapter() found no adapter');
  const a = adapter.limits;
  const requiredLimits = {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupsPerDimension: a.maxComputeWorkgroupsPerDimension,
  };
  const device = await adapter.requestDevice({ requiredLimits });
  const ctx: GpuContext = {
    device,
    adapterInfo: {
      vendor: adapter.info.vendor, architecture: adapter.info.architecture, device: adapter.info.device, description: adapter.info.description,
    },
    limits: { ...requiredLimits },
    lost: device.lost.then((info) => {
      const err = new DeviceLostError(info.reason, info.message);
      ctx.lostError = err;
      return err;
    }),
  };
  return ctx;
}

/**
 * Waits for GPU work (a buffer map), failing with the DeviceLostError if the device is lost
 * meanwhile. A lost device aborts pending maps (AbortError) before device.lost settles, so a
 * failed wait gives device.lost a moment to say whether that is why.
 */
export async function whileDeviceLives<T>(ctx: GpuContext, work: Promise<T>): Promise<T> {
  try {
    return await Promise.race([work, ctx.lost.then((e) => Promise.reject(e))]);
  } catch (e) {
    if (e instanceof DeviceLostError) throw e;
    const lost = await Promise.race([ctx.lost, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000))]);
    throw lost ?? e;
  }
}
