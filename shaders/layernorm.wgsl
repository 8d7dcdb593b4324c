// Layer norm over the last axis with affine parameters (Ba et al. 2016), [rows, n].
//   forward:  mean, rstd = 1/sqrt(var + eps) per row (saved for backward);
//             y = (x - mean) * rstd * gamma + beta
//   backward_input:  xhat = (x - mean) * rstd, g = dy * gamma,
//                    dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   backward_params: dgamma = sum_rows dy * xhat, dbeta = sum_rows dy
// The variance is computed in a second pass over (x - mean), not as E[x^2] - E[x]^2.

struct Params {
    rows: u32, n: u32, eps: f32, accumulate: u32,
    x_shift: u32, g_shift: u32, b_shift: u32, y_shift: u32,
    stat_shift: u32, dy_shift: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> red: array<f32, 256>;

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

// forward bindings: x, gamma, beta, y, mean, rstd
@group(0) @binding(1) var<storage, read> f_x: array<f32>;
@group(0) @binding(2) var<storage, read> f_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> f_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_y: array<f32>;
@group(0) @binding(5) var<storage, read_write> f_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> f_rstd: array<f32>;

@compute @workgroup_size(256)
fn layernorm_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    let valid = row < p.rows;
    let xb = p.x_shift + row * p.n;
    var s = 0.0;
    if (valid) {
        for (var i = lid; i < p.n; i += 256u) { s += f_x[xb + i]; }
    }
    let mean = reduce_sum(lid, s) / f32(p.n);
    var v = 0.0;
    if (valid) {
        for (var i = lid; i < p.n; i += 256u) { let d = f_x[xb + i] - mean; v += d * d; }
    }
    let rstd = inverseSqrt(reduce_sum(lid, v) / f32(p.n) + p.eps);
    if (valid) {
        let yb = p.y_shift + row * p.n;
        for (var i = lid; i < p.n; i += 256u) {
            f_y[yb + i] = (f_x[xb + i] - mean) * rstd * f_gamma[p.g_shift + i] + f_beta[p.b_shift + i];
        }
        if (lid == 0u) {
            f_mean[p.stat_shift + row] = mean;
            f_rstd[p.stat_shift + row] = rstd;
        }
    }
}

// backward_input bindings: x, gamma, mean, rstd, dy, dx
@group(0) @binding(1) var<storage, read> bi_x: array<f32>;
@group(0) @binding(2) var<storage, read> bi_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> bi_mean: array<f32>;
@group(0) @binding(4) var<storage, read> bi_rstd: array<f32>;
@group(0) @binding(5) var<storage, read> bi_dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> bi_dx: array<f32>;

@compute @workgroup_size(256)
fn layernorm_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    let valid = row < p.rows;
    let xb = p.x_shift + row * p.n;
    let gb = p.dy_shift + row * p.n;
    var mean = 0.0;
    var rstd = 0.0;
    if (valid) {
        mean = bi_mean[p.stat_shift + row];
        rstd = bi_rstd[p.stat_shift + row];
    }
    var sg = 0.0;
    var sgx = 0.0;
    if (valid) {
        for (var i = lid; i < p.n; i += 256u) {
            let g = bi_dy[gb + i] * bi_gamma[p.g_shift + i];
            let xhat = (bi_x[xb + i] - mean) * rstd;
            sg += g;
            sgx += g * xhat;
        }
    }
    let mg = reduce_sum(lid, sg) / f32(p.n);
    let mgx = reduce_sum(lid, sgx) / f32(p.n);
    if (valid) {
        let db = p.y_shift + row * p.n;
        for (var i = lid; i < p.n; i += 256u) {
            let g = bi_dy[gb + i] * bi_gamma[p.g_shift + i];
            let xhat = (bi_x[xb + i] - mean) * rstd;
            bi_dx[db + i] = rstd * (g - mg - xhat * mgx);
        }
    }
}

// backward_params bindings: x, mean, rstd, dy, dgamma, dbeta. One invocation per column;
// `accumulate` adds to the existing values (for row chunks of very large inputs).
@group(0) @binding(1) var<storage, read> bp_x: array<f32>;
@group(0) @binding(2) var<storage, read> bp_mean: array<f32>;
@group(0) @binding(3) var<storage, read> bp_rstd: array<f32>;
@group(0) @binding(4) var<storage, read> bp_dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> bp_dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> bp_dbeta: array<f32>;

@compute @workgroup_size(256)
fn layernorm_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
    let j = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (j >= p.n) { return; }
    var dg = 0.0;
    var db = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        let xhat = (bp_x[p.x_shift + r * p.n + j] - bp_mean[p.stat_shift + r]) * bp_rstd[p.stat_shift + r];
        let d = bp_dy[p.dy_shift + r * p.n + j];
        dg += d * xhat;
        db += d;
    }
    if (p.accumulate != 0u) {
        dg += bp_dgamma[p.g_shift + j];
        db += bp_dbeta[p.b_shift + j];
    }
    bp_dgamma[p.g_shift + j] = dg;
    bp_dbeta[p.b_shift + j] = db;
}
