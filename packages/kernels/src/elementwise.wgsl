// Elementwise kernels over flat float32 buffers of n values, one invocation per element
// (inA/inB/inC are read-only inputs, outA/outB the outputs):
//   add             outA = inA + inB                  (residual add keeping both inputs)
//   copy            outA = inA
//   fill            outA = value
//   axpy            outA += alpha * inA               (scale-accumulate; in-place residual add: alpha = 1)
//   gather          outA[i, :] = inA[ids[i], :]       (embedding lookup; rows of D values)
//   gatherSlice     the same from one row slice of a table split across bindings (rows first..)
//   swigluForward   outA = silu(gate) * up            (inA = gate, inB = up)
//   swigluBackward  outA = dGate, outB = dUp          (inA = gate, inB = up, inC = dAct)
// Grids: 64 invocations per workgroup, workgroups laid out 2-D (x up to 65535, then rows of y) so
// counts beyond maxComputeWorkgroupsPerDimension·64 work; the flat element index is
// (wid.y · nwg.x + wid.x) · 64 + lid.x and the tail past n returns.
// Each entry point uses only the bindings it needs (layout 'auto'), so the binding numbers below
// are roles, not positions: see elementwise.ts for which buffer goes where.

struct Params {
  n: u32,
  // gather: the row width D.
  D: u32,
  // fill: the value; axpy: alpha.
  scalar: f32,
  // gatherSlice: the table row the bound slice starts at.
  first: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inA: array<f32>;
@group(0) @binding(2) var<storage, read> inB: array<f32>;
@group(0) @binding(3) var<storage, read> inC: array<f32>;
@group(0) @binding(4) var<storage, read_write> outA: array<f32>;
@group(0) @binding(5) var<storage, read_write> outB: array<f32>;
@group(0) @binding(6) var<storage, read> ids: array<u32>;

const WG: u32 = 64u;

fn flatIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// σ(g) without overflow: exp only ever sees -|g| (WGSL lets implementations assume no infinities).
fn sigmoid(g: f32) -> f32 {
  let e = exp(-abs(g));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, g >= 0.0);
}

@compute @workgroup_size(64)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  outA[i] = inA[i] + inB[i];
}

@compute @workgroup_size(64)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  outA[i] = inA[i];
}

@compute @workgroup_size(64)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  outA[i] = params.scalar;
}

@compute @workgroup_size(64)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  outA[i] = outA[i] + params.scalar * inA[i];
}

// n = rows · D. ids must lie in [0, vocab): the host validates them before upload (an id out of
// range reads whatever robust buffer access yields, never out of bounds, but never an error).
@compute @workgroup_size(64)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  let row = i / params.D;
  let d = i - row * params.D;
  outA[i] = inA[ids[row] * params.D + d];
}

// A table larger than one storage binding is bound as row slices, one dispatch each: a row is
// written by the slice holding its id and left alone by the others. The slice's row count is
// its bound length / D.
@compute @workgroup_size(64)
fn gatherSlice(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  let row = i / params.D;
  let d = i - row * params.D;
  let id = ids[row];
  if (id < params.first || id - params.first >= arrayLength(&inA) / params.D) { return; }
  outA[i] = inA[(id - params.first) * params.D + d];
}

@compute @workgroup_size(64)
fn swigluForward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  let g = inA[i];
  outA[i] = (g * sigmoid(g)) * inB[i];
}

// dGate = dAct·up·σ(g)(1 + g(1 − σ(g))), dUp = dAct·silu(g).
@compute @workgroup_size(64)
fn swigluBackward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  let g = inA[i];
  let dAct = inC[i];
  let sig = sigmoid(g);
  outB[i] = dAct * (g * sig);
  outA[i] = dAct * inB[i] * sig * (1.0 + g * (1.0 - sig));
}
