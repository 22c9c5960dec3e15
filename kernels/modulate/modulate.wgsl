// adaLN modulate, broadcast over the sequence (docs/design.md, "adaLN conditioning"):
//   out[b, s, j] = x[b, s, j] * (1 + scale[b, j]) + shift[b, j]
// shift and scale are d-wide chunks of modulation rows ([B, n·d]): element j of batch b sits at
// b * stride + off + j. One invocation per element; the grid may spread over y (see grid1d).
//
// `main` writes a separate output; `main_inplace` overwrites x. WebGPU rejects a buffer bound
// both read-only and writable (or writable twice) in one dispatch, so the in-place entry reads
// and writes one read_write binding. `x` and `io` share binding 3: each entry point uses only
// one of them, which WGSL allows (bindings must be unique per entry point, not per module).
struct Params {
  total: u32,
  width: u32,
  rows_per_batch: u32,
  shift_stride: u32,
  shift_off: u32,
  scale_stride: u32,
  scale_off: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> shift: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> io: array<f32>;

fn modulated(i: u32, v: f32) -> f32 {
  let j = i % p.width;
  let b = i / (p.rows_per_batch * p.width);
  let sc = scale[b * p.scale_stride + p.scale_off + j];
  let sh = shift[b * p.shift_stride + p.shift_off + j];
  return v * (1.0 + sc) + sh;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  out[i] = modulated(i, x[i]);
}

@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  io[i] = modulated(i, io[i]);
}
