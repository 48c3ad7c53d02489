import '@fedllm/kernels/test-harness';
