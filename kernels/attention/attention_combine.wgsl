// Merges the split-KV partial records of attention.wgsl (SPLIT): for each (batch, head, row),
// out = Σ_s o_s·2^(m_s − M) / Σ_s l_s·2^(m_s − M) with M = max_s m_s (scores are in the log2
// domain), and the natural-log log-sum-exp when asked for. One invocation per output row.
struct Params {
  sq: u32, heads: u32, nsplit: u32, d4: u32,
  d: u32, o_row: u32, o_head: u32, rows: u32,
}

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.rows) { return; }
  let row = i % p.sq;
  let bh = i / p.sq;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let stride = 4u * p.d4 + 2u;
  let first = (bh * p.nsplit * p.sq + row) * stride;
  let step = p.sq * stride;
  var mx = -3.0e38;
  for (var s = 0u; s < p.nsplit; s++) { mx = max(mx, part[first + s * step + 4u * p.d4]); }
  var total = 0.0;
  for (var s = 0u; s < p.nsplit; s++) {
    let r = first + s * step + 4u * p.d4;
    total += part[r + 1u] * exp2(part[r] - mx);
  }
  let inv = select(0.0, 1.0 / total, total > 0.0);
  let obase = (b * p.sq + row) * p.o_row + h * p.o_head;
  for (var c = 0u; c < p.d; c++) {
    var acc = 0.0;
    for (var s = 0u; s < p.nsplit; s++) {
      let r = first + s * step;
      acc += part[r + c] * exp2(part[r + 4u * p.d4] - mx);
    }
    out[obase + c] = acc * inv;
  }
  if (HAS_LSE) { lse[bh * p.sq + row] = (mx + log2(total)) * 0.6931471805599453; }
}
