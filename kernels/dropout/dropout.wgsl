// Inverted dropout: y[i] = keep_i ? x[i] / (1 − p) : 0 with keep_i = (u_i ≥ p), u_i the Philox
// uniform of element i of the stream (seed, offset), i.e. philoxUniform(gpu, shape, {seed,
// offset}). The mask is a pure function of (seed, offset, i), so the backward is this same kernel
// applied to dy: no mask buffer is stored. One invocation per Philox block of 4 elements
// (philox_lib.wgsl is prepended by the launcher); the grid may spread over y (see grid1d).
// `main_inplace` binds x once as read_write (`xio`, sharing binding 0 with `x`): WebGPU refuses
// one buffer bound both read-only and writable in a dispatch.
struct Params {
  total: u32, p: f32, scale: f32, seed_lo: u32, seed_hi: u32, off_lo: u32, off_hi: u32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(0) var<storage, read_write> xio: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// The block index of this invocation and its 4 uniforms.
fn draws(j: u32) -> vec4u {
  return philox_block(j, vec2u(p.seed_lo, p.seed_hi), vec2u(p.off_lo, p.off_hi));
}

// A select, not x·0: a dropped inf or NaN input still gives 0, as a mask multiply by 0 would not.
fn drop(v: f32, bits: u32) -> f32 {
  return select(0.0, v * p.scale, philox_unit(bits) >= p.p);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + lid;
  if (j * 4u >= p.total) { return; }
  let r = draws(j);
  for (var q = 0u; q < 4u; q++) {
    let i = j * 4u + q;
    if (i < p.total) { y[i] = drop(x[i], r[q]); }
  }
}

@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + lid;
  if (j * 4u >= p.total) { return; }
  let r = draws(j);
  for (var q = 0u; q < 4u; q++) {
    let i = j * 4u + q;
    if (i < p.total) { xio[i] = drop(xio[i], r[q]); }
  }
}
