// Smallest real workload: out[i] = in[i] * 2 + 1. Proves the adapter compiles WGSL and computes,
// which `requestAdapter()` succeeding alone does not (broken drivers return adapters too).
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i < arrayLength(&input)) {
    output[i] = input[i] * 2.0 + 1.0;
  }
}
