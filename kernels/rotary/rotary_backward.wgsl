// Backward of rotary position embedding (spec 1.5), in place on the q and k slots of a
// gradient tensor dqkv [B, S, 3d]; the v slot is untouched (v is not rotated, so its gradient
// passes through). The forward is an orthogonal map y = R(θ)·x per pair, so
// dx = R(θ)ᵀ·dy = R(−θ)·dy: for lane j < D/2 of a head at position p,
//   dx_j       = dy_j · cos θ + dy_{j+D/2} · sin θ
//   dx_{j+D/2} = dy_{j+D/2} · cos θ − dy_j · sin θ,        θ = θ[p, j]
// Positions, pairing and the (cos, sin) table are exactly the forward's (see rotary.wgsl):
// p = offset + (s mod period), and a negative p reads θ[−p] with sin negated.
// One invocation per rotated pair: rows · d pairs (d/2 in q, d/2 in k).
struct Params {
  pairs: u32,
  seq: u32,
  width: u32,
  half_dim: u32,
  period: u32,
  offset: i32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> dqkv: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.pairs) { return; }
  let row = i / p.width;
  let r = i % p.width;               // pair index within the row: q pairs, then k pairs
  let slot_pairs = p.width / 2u;     // = heads · D/2
  let slot = r / slot_pairs;         // 0 = q, 1 = k
  let w = r % slot_pairs;
  let head = w / p.half_dim;
  let j = w % p.half_dim;
  let lo = row * 3u * p.width + slot * p.width + head * 2u * p.half_dim + j;
  let hi = lo + p.half_dim;

  let pos = p.offset + i32((row % p.seq) % p.period);
  let cs = table[u32(abs(pos)) * p.half_dim + j];
  let c = cs.x;
  let s = select(cs.y, -cs.y, pos < 0);

  let a = dqkv[lo];
  let b = dqkv[hi];
  dqkv[lo] = a * c + b * s;
  dqkv[hi] = b * c - a * s;
}
