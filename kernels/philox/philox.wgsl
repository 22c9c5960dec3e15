// Random words or uniforms: one invocation per Philox block, writing elements 4j .. 4j + 3
// (see philox_lib.wgsl, which the launcher prepends). UNIFORM writes the f32 bit pattern of
// philox_unit into the same u32 buffer.
struct Params { count: u32, seed_lo: u32, seed_hi: u32, off_lo: u32, off_hi: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + lid;
  let first = j * 4u;
  if (first >= p.count) { return; }
  let r = philox_block(j, vec2u(p.seed_lo, p.seed_hi), vec2u(p.off_lo, p.off_hi));
  for (var k = 0u; k < 4u; k++) {
    if (first + k < p.count) {
      out[first + k] = select(r[k], bitcast<u32>(philox_unit(r[k])), UNIFORM);
    }
  }
}
