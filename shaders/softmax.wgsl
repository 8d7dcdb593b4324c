// Softmax over the last axis, [rows, n] -> [rows, n], one workgroup per row.
//   forward:  y = exp(x - max) / sum(exp(x - max))
//   backward: dx = y * (dy - sum(dy * y))            (saves y, not x)

struct Params {
    rows: u32, n: u32, x_shift: u32, y_shift: u32,
    dy_shift: u32, dx_shift: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 256>;

fn row_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.y * nwg.x + wg.x;
}

fn reduce_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256)
fn softmax_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wg, nwg);
    let valid = row < p.rows;
    let xb = p.x_shift + row * p.n;
    let yb = p.y_shift + row * p.n;
    var m = -3.4028235e38;
    if (valid) {
        for (var i = lid; i < p.n; i += 256u) { m = max(m, x[xb + i]); }
    }
    m = reduce_max(lid, m);
    var s = 0.0;
    if (valid) {
        for (var i = lid; i < p.n; i += 256u) { s += exp(x[xb + i] - m); }
    }
    s = reduce_sum(lid, s);
    if (valid) {
        let inv = 1.0 / s;
        for (var i = lid; i < p.n; i += 256u) { y[yb + i] = exp(x[xb + i] - m) * inv; }
    }
}

// Bindings: y (saved output), dy, dx.
@group(0) @binding(2) var<storage, read> bdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bdx: array<f32>;

@compute @workgroup_size(256)
fn softmax_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wg, nwg);
    let valid = row < p.rows;
    let yb = p.x_shift + row * p.n;
    let gb = p.dy_shift + row * p.n;
    let db = p.dx_shift + row * p.n;
    var d = 0.0;
    if (valid) {
        for (var i = lid; i < p.n; i += 256u) { d += x[yb + i] * bdy[gb + i]; }
    }
    d = reduce_sum(lid, d);
    if (valid) {
        for (var i = lid; i < p.n; i += 256u) { bdx[db + i] = x[yb + i] * (bdy[gb + i] - d); }
    }
}
