// RMSNorm over the rows of x[M, D] as in HF Llama (core's rmsNorm.ts):
//   forward     y = w · x · r,  r = 1/sqrt(mean(x²) + eps), r stored per row in invRms[M]
//   backward    dx (+)= r · (g − x̂ · mean(g · x̂)),  g = dy · w,  x̂ = x · r
//   weightGrad  dw[d] += Σ_m dy[m, d] · x̂[m, d]
// forward and backward run one workgroup of WG invocations per row (2-D grid of rows: row =
// wid.y · nwg.x + wid.x), each invocation striding over the row, then a tree reduction in
// workgroup memory; any D works. WG is a power of two up to 256 chosen on the host to fit D,
// so narrow rows do not leave most of a workgroup idle. weightGrad runs one invocation per column, summing over rows in
// row order as the CPU does.
// Binding numbers are roles (layout 'auto' keeps those an entry point uses): invRms is written by
// forward (binding 6) and read by the backward kernels (binding 4).

override ACCUMULATE: bool = false;
// Invocations per row (a power of two, at most 256, chosen on the host to fit the row).
override WG: u32 = 256u;

struct Dims {
  M: u32,
  D: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> dY: array<f32>;
@group(0) @binding(4) var<storage, read> invRmsIn: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;
@group(0) @binding(6) var<storage, read_write> invRmsOut: array<f32>;
@group(0) @binding(7) var<storage, read_write> dX: array<f32>;
@group(0) @binding(8) var<storage, read_write> dW: array<f32>;

var<workgroup> red: array<f32, WG>;

// Sum of v over the workgroup; every invocation gets the total. Call from uniform control flow.
fn workgroupSum(i: u32, v: f32) -> f32 {
  red[i] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (i < s) { red[i] = red[i] + red[i + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier(); // red may be reused right after
  return total;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= dims.M) { return; }
  let o = row * dims.D;
  var ss = 0.0;
  for (var d = lid.x; d < dims.D; d += WG) {
    let v = X[o + d];
    ss += v * v;
  }
  let r = 1.0 / sqrt(workgroupSum(lid.x, ss) / f32(dims.D) + dims.eps);
  if (lid.x == 0u) { invRmsOut[row] = r; }
  for (var d = lid.x; d < dims.D; d += WG) {
    Y[o + d] = W[d] * (X[o + d] * r);
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= dims.M) { return; }
  let o = row * dims.D;
  let r = invRmsIn[row];
  var dot = 0.0;
  for (var d = lid.x; d < dims.D; d += WG) {
    dot += dY[o + d] * W[d] * (X[o + d] * r);
  }
  let mean = workgroupSum(lid.x, dot) / f32(dims.D);
  for (var d = lid.x; d < dims.D; d += WG) {
    let xh = X[o + d] * r;
    let v = r * (dY[o + d] * W[d] - xh * mean);
    if (ACCUMULATE) { dX[o + d] = dX[o + d] + v; } else { dX[o + d] = v; }
  }
}

@compute @workgroup_size(64)
fn weightGrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let d = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (d >= dims.D) { return; }
  var acc = dW[d];
  for (var m = 0u; m < dims.M; m++) {
    let i = m * dims.D + d;
    acc += dY[i] * (X[i] * invRmsIn[m]);
  }
  dW[d] = acc;
}
