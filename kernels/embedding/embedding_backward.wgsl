// Token-embedding backward: dE[v, :] (+)= Σ_{n : ids[n] = v} dH[n, :], deterministically. The
// host groups the positions by id (a CSR index, see embedding_backward.ts) and one workgroup owns
// one distinct id: its lanes own columns j, j + WG, … and add that id's rows of dH in the
// index's (ascending position) order. No float atomics and no cross-workgroup sums, so the
// result is bit-identical on every run and on resume. The grid may spread over y (grid1d).
//
// csr (i32), packed by the host: [ rows (distinct ids, ascending) : distinct
//                                 | starts : distinct + 1 (into positions)
//                                 | positions (grouped by id, ascending within a group) : count ]
// Rows of dE whose id does not occur are not touched: with ACCUMULATE false the launcher clears
// dE first, and each listed row is then stored, not added.
// A dE too large for one storage binding is bound in blocks of rows [row0, …): one dispatch
// per block takes the groups [g0, g1) whose ids fall in it (the ids are ascending).
struct Params { distinct: u32, width: u32, g0: u32, g1: u32, row0: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> csr: array<i32>;
@group(0) @binding(2) var<storage, read> dh: array<f32>;
@group(0) @binding(3) var<storage, read_write> de: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = p.g0 + wid.x + wid.y * nwg.x;
  if (g >= p.g1) { return; }
  let id = u32(csr[g]);
  let first = u32(csr[p.distinct + g]);
  let last = u32(csr[p.distinct + g + 1u]);
  let pos_base = 2u * p.distinct + 1u;
  for (var j = lid; j < p.width; j += WG) {
    var acc = 0.0;
    for (var k = first; k < last; k++) {
      acc += dh[u32(csr[pos_base + k]) * p.width + j];
    }
    let at = (id - p.row0) * p.width + j;
    if (ACCUMULATE) {
      de[at] += acc;
    } else {
      de[at] = acc;
    }
  }
}
