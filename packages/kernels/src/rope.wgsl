// Rotary position embedding in place on x[B·T, nHeads·headDim], HF "rotate half" convention
// (core's applyRope): dimension i < half pairs with i + half, and for position t
//   x[i]        = a·cos − b·sgn·sin
//   x[i + half] = b·cos + a·sgn·sin         a = x[i], b = x[i + half]
// with sgn = +1 forward and −1 for the inverse rotation (the backward). Positions are t = row mod T
// (every sequence of the batch starts at 0). cos/sin are float32 tables [maxPos, half].
// One invocation per (row, head, i) pair, 64 per workgroup, workgroups on a 2-D grid.

struct Dims {
  // Pairs in x: B·T·nHeads·half.
  n: u32,
  half: u32,
  nHeads: u32,
  T: u32,
  sgn: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (p >= dims.n) { return; }
  let i = p % dims.half;
  let rowHead = p / dims.half;          // row · nHeads + head
  let t = (rowHead / dims.nHeads) % dims.T;
  let o = rowHead * 2u * dims.half + i; // (row · nHeads + head) · headDim + i
  let c = cosT[t * dims.half + i];
  let s = dims.sgn * sinT[t * dims.half + i];
  let a = X[o];
  let b = X[o + dims.half];
  X[o] = a * c - b * s;
  X[o + dims.half] = b * c + a * s;
}
