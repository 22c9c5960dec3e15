// Exponential moving average of the parameters, in place on the shadow copy:
//   ema ← ema − (1 − decay)·(ema − p)
// which is decay·ema + (1 − decay)·p written as the reference writes it
// (`s_param.sub_(one_minus_decay * (s_param - param))`), so the f32 rounding matches: with decay
// near 1 the update is a small correction of ema, not a sum of two large products. One
// invocation per element; the grid may spread over y (see grid1d).
struct Params { total: u32, one_minus_decay: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> ema: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  let e = ema[i];
  ema[i] = e - p.one_minus_decay * (e - param[i]);
}
