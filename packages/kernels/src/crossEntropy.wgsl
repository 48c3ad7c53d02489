// Masked softmax cross-entropy over logits[N, V] (core's crossEntropy), one workgroup per row
// (2-D grid of rows: row = wid.y · nwg.x + wid.x):
//   lossRows[row] = logZ − logits[row, t],  logZ = max + log Σ exp(logits − max),  t = targets[row]
//   GRAD: logits[row, :] = softmax · gradScale, then logits[row, t] −= gradScale (in place)
// A row with target −1 (IGNORE_INDEX) gets loss 0 and, with GRAD, a zero gradient row. Targets
// other than −1 must lie in [0, V): the host validates them (validateTargets), as the CPU throws.
// Each invocation strides over the row; max and sum are tree reductions in workgroup memory.
// Every read of the row happens before the barriers that end the sum reduction, and every
// invocation writes back only the elements it read itself, so the in-place gradient is race-free.

override GRAD: bool = false;
// Invocations per row (a power of two, at most 256, chosen on the host to fit the row).
override WG: u32 = 256u;

struct Dims {
  N: u32,
  V: u32,
  gradScale: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> lossRows: array<f32>;

var<workgroup> red: array<f32, WG>;
var<workgroup> rowTarget: i32;

// Lowest finite float32 (WGSL has no -inf literal).
const LOWEST: f32 = -0x1.fffffep+127f;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= dims.N) { return; }
  let i = lid.x;
  let o = row * dims.V;
  if (i == 0u) { rowTarget = targets[row]; }
  // Uniform across the workgroup, so the ignored-row branch may skip the barriers below.
  let t = workgroupUniformLoad(&rowTarget);
  if (t == -1) {
    if (i == 0u) { lossRows[row] = 0.0; }
    if (GRAD) {
      for (var v = i; v < dims.V; v += WG) { logits[o + v] = 0.0; }
    }
    return;
  }
  let tu = u32(t);
  let targetLogit = logits[o + tu];

  var m = LOWEST;
  for (var v = i; v < dims.V; v += WG) { m = max(m, logits[o + v]); }
  red[i] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (i < s) { red[i] = max(red[i], red[i + s]); }
    workgroupBarrier();
  }
  let rowMax = red[0];
  workgroupBarrier();

  var sum = 0.0;
  for (var v = i; v < dims.V; v += WG) { sum += exp(logits[o + v] - rowMax); }
  red[i] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (i < s) { red[i] = red[i] + red[i + s]; }
    workgroupBarrier();
  }
  let logZ = rowMax + log(red[0]);
  if (i == 0u) { lossRows[row] = logZ - targetLogit; }
  if (GRAD) {
    // Orders every invocation's reads of the row (targetLogit included) before any write.
    storageBarrier();
    let gs = dims.gradScale;
    for (var v = i; v < dims.V; v += WG) {
      let p = exp(logits[o + v] - logZ) * gs;
      logits[o + v] = select(p, p - gs, v == tu);
    }
  }
}
