// tfjs's WebGPU backend: selection and a full GPU sync.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export async function tfjsBackend(): Promise<WebGPUBackend> {
  if (tf.getBackend() !== 'webgpu') {
    const ok = await tf.setBackend('webgpu');
    if (!ok) throw new Error('tfjs: the webgpu backend failed to initialise');
  }
  await tf.ready();
  return tf.backend() as WebGPUBackend;
}

/** Flushes tfjs's deferred command encoder and waits until the GPU has finished everything. */
export async function tfjsSync(backend: WebGPUBackend): Promise<void> {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}
