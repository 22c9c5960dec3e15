// Input gradient of adaLN modulate y = x ⊙ (1 + scale[b]) + shift[b]:
//   dx[b, s, j] = dy[b, s, j] · (1 + scale[b, j])
// (the shift/scale gradients are column sums, done by col_sum). scale is a d-wide chunk of
// modulation rows: element j of batch b sits at b * stride + off + j. One invocation per
// element; the grid may spread over y (see grid1d).
//
// `main_inplace` overwrites dy with dx through one read_write binding (`io`, sharing binding 2
// with `dy`, which it never uses): WebGPU rejects a buffer bound read-only and writable at once.
struct Params {
  total: u32,
  width: u32,
  rows_per_batch: u32,
  scale_stride: u32,
  scale_off: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> io: array<f32>;

fn factor(i: u32) -> f32 {
  let j = i % p.width;
  let b = i / (p.rows_per_batch * p.width);
  return 1.0 + scale[b * p.scale_stride + p.scale_off + j];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  dx[i] = dy[i] * factor(i);
}

@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  io[i] = io[i] * factor(i);
}
