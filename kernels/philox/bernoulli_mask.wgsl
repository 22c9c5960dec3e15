// Forward masking (docs/design.md, "Forward masking"): x_t[b, l] = mask_id where
// u[b, l] ≤ t[b, l / block] (or < when STRICT), else x0[b, l], with u the Philox uniform of
// element b·L + l of the stream (seed, offset): the same u that philoxUniform(gpu, [B, L], {seed, offset}) returns. One
// invocation per Philox block of 4 elements (philox_lib.wgsl is prepended by the launcher).
struct Params {
  total: u32, len: u32, k: u32, block: u32, mask_id: i32,
  seed_lo: u32, seed_hi: u32, off_lo: u32, off_hi: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> x0: array<i32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> xt: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + lid;
  let first = j * 4u;
  if (first >= p.total) { return; }
  let r = philox_block(j, vec2u(p.seed_lo, p.seed_hi), vec2u(p.off_lo, p.off_hi));
  for (var q = 0u; q < 4u; q++) {
    let i = first + q;
    if (i < p.total) {
      let b = i / p.len;
      let l = i % p.len;
      let prob = t[b * p.k + l / p.block];
      let u = philox_unit(r[q]);
      let moved = select(u <= prob, u < prob, STRICT);
      xt[i] = select(x0[i], p.mask_id, moved);
    }
  }
}
