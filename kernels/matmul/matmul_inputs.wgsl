// The inputs as scalar f32 arrays, for the variants that index them element by element.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
