// @fedllm/kernels: the WGSL training engine (kernels, their dispatch, the GPU memory ledger).
// The CPU reference every kernel is tested against is in @fedllm/core.
export * from './gpuDevice';
export * from './memoryLedger';
export * from './dispatch';
export * from './matmul';
export * from './dequantMatmul';
export * from './elementwise';
export * from './rmsNorm';
export * from './rope';
export * from './attention';
export * from './crossEntropy';
export * from './adamw';
export * from './gradNorm';
export * from './kernelSet';
export * from './loraTrainingSession';
