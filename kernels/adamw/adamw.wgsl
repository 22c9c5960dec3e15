// One fused AdamW step (PyTorch's torch.optim.AdamW, single-tensor path) over a flat parameter:
//   g ← grad · clip[1]                (the clip factor from grad_norm's finalize; 1 in `noclip`)
//   p ← p · (1 − lr·wd)               (decoupled weight decay)
//   m ← m + (1 − β1)·(g − m)          (torch lerp)
//   v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / bc1) · m / (√v / √bc2 + eps),   bc_k = 1 − β_k^step
// The host computes lr·wd, lr/bc1 and √bc2 in float64 (they are per-step scalars). One
// invocation per element; the grid may spread over y (see grid1d).
struct Params {
  total: u32, decay: f32, one_minus_b1: f32, b2: f32,
  one_minus_b2: f32, step_size: f32, bc2_sqrt: f32, eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;
@group(0) @binding(5) var<storage, read> clip: array<f32>;

fn update(i: u32, g: f32) {
  let m = m1[i] + p.one_minus_b1 * (g - m1[i]);
  let v = p.b2 * m2[i] + p.one_minus_b2 * (g * g);
  m1[i] = m;
  m2[i] = v;
  let w = param[i] * p.decay;
  param[i] = w - p.step_size * (m / (sqrt(v) / p.bc2_sqrt + p.eps));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  update(i, grad[i] * clip[1]);
}

@compute @workgroup_size(WG)
fn noclip(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  update(i, grad[i]);
}
