// Column sums per row group: for a row-major a [G · R, n] (G groups of R rows each),
//   dst[g, j] (+)= Σ_{r < R} a[g·R + r, j]                  (PRODUCT = false)
//   dst[g, j] (+)= Σ_{r < R} a[g·R + r, j] · b[g·R + r, j]  (PRODUCT = true)
// G = 1 sums over all rows (bias gradients), G = B sums over the sequence (adaLN gradients).
//
// No atomics, so the summation order is fixed and results are bit-reproducible:
// `partial` — one workgroup per (column tile of TC, chunk of chunk_rows rows, group). Lane
//   (x, y) sums column x of the tile over rows y, y + TR, … of the chunk (TC consecutive
//   columns per row, so a row's loads are contiguous), then the TR lane totals of each column
//   are merged by a fixed tree. With one chunk per group this writes the final sums; with more
//   it writes partials [G, chunks, n].
// `finish` — one invocation per (g, j): adds that column's chunk partials in chunk order.
// Splitting the rows into chunks keeps the machine busy when R ≫ n (few column tiles), and
// narrow TC (down to 1) keeps every lane busy when n is small.
struct Params {
  n: u32,
  rows_per_group: u32,
  groups: u32,
  tiles: u32,
  chunks: u32,
  chunk_rows: u32,
  total_wg: u32,
  dst_gstride: u32,
  dst_cstride: u32,
  dst_off: u32,
  accumulate: u32,
  _pad: u32,
}

const TR = WG / TC;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

var<workgroup> red: array<f32, WG>;

fn term(i: u32) -> f32 {
  if (PRODUCT) { return a[i] * b[i]; }
  return a[i];
}

fn store(o: u32, v: f32) {
  if (p.accumulate != 0u) {
    dst[o] = dst[o] + v;
  } else {
    dst[o] = v;
  }
}

@compute @workgroup_size(TC, TR)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  // Uniform per workgroup, so the early return keeps the barriers in uniform control flow.
  let idx = wid.x + wid.y * nwg.x;
  if (idx >= p.total_wg) { return; }
  let tile = idx % p.tiles;
  let rest = idx / p.tiles;
  let chunk = rest % p.chunks;
  let g = rest / p.chunks;
  let j = tile * TC + lid.x;
  let r0 = chunk * p.chunk_rows;
  let r1 = min(r0 + p.chunk_rows, p.rows_per_group);

  var s = 0.0;
  if (j < p.n) {
    for (var r = r0 + lid.y; r < r1; r += TR) {
      s += term((g * p.rows_per_group + r) * p.n + j);
    }
  }
  let at = lid.y * TC + lid.x;
  red[at] = s;
  workgroupBarrier();
  for (var h = TR / 2u; h > 0u; h >>= 1u) {
    if (lid.y < h) { red[at] += red[at + h * TC]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && j < p.n) {
    store(g * p.dst_gstride + chunk * p.dst_cstride + p.dst_off + j, red[lid.x]);
  }
}

// Here `a` holds the partials [G, chunks, n] and dst is the final output.
@compute @workgroup_size(WG)
fn finish(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.groups * p.n) { return; }
  let g = i / p.n;
  let j = i % p.n;
  var s = 0.0;
  for (var c = 0u; c < p.chunks; c++) { s += a[(g * p.chunks + c) * p.n + j]; }
  store(g * p.dst_gstride + p.dst_off + j, s);
}
