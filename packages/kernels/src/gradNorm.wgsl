// Global gradient-norm clipping, as core's clipGradNorm: with n = ‖all gradients‖₂,
// every gradient is scaled by maxNorm / n when n > maxNorm (else left as is).
//   sumSquares:   parts[slot] = Σ g² over one gradient buffer (one workgroup, tree reduction)
//   clipScale:    scale[0] = n > maxNorm ? maxNorm / n : 1, with n = sqrt(Σ parts)
//   scaleInPlace: g *= scale[0]
// Three entry points so the whole clip runs on the GPU inside the step's compute pass.

struct Params {
  n: u32,
  slot: u32,
  maxNorm: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> gradIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> parts: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn sumSquares(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < prm.n; i += 256u) {
    let g = gradIn[i];
    s = fma(g, g, s);
  }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { parts[prm.slot] = partial[0]; }
}

@group(0) @binding(3) var<storage, read> partsIn: array<f32>;
@group(0) @binding(4) var<storage, read_write> scaleOut: array<f32>;

@compute @workgroup_size(1)
fn clipScale() {
  var s = 0.0;
  for (var i = 0u; i < prm.n; i++) { s += partsIn[i]; }
  let norm = sqrt(s);
  scaleOut[0] = select(1.0, prm.maxNorm / norm, norm > prm.maxNorm);
}

@group(0) @binding(5) var<storage, read_write> gradInOut: array<f32>;
@group(0) @binding(6) var<storage, read> scaleIn: array<f32>;

@compute @workgroup_size(64)
fn scaleInPlace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (i >= prm.n) { return; }
  gradInOut[i] = gradInOut[i] * scaleIn[0];
}
