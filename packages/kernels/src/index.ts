// @fedllm/kernels: the WGSL training engine (kernels, their dispatch, the GPU memory ledger).
// Empty until the WGSL engine lands; the CPU reference it is tested against is in @fedllm/core.
export {};
