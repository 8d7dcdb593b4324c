// Normalisation over contiguous rows with affine parameters: layer norm (Ba et al. 2016) and
// group norm (Wu & He 2018) are the same kernels.
//   The input is viewed as [rows, n]. Row r belongs to group g = (r + group0) % groups; element i of the
//   row has affine (channel) index a = g * (n / hw) + i / hw.
//     layer norm [.., n]:            groups = 1, hw = 1        -> a = i
//     group norm [N, C, HW], G:      rows = N*G, n = (C/G)*HW, groups = G, hw = HW
//   forward:  mean, rstd = 1/sqrt(var + eps) per row (saved for backward);
//             y = (x - mean) * rstd * gamma[a] + beta[a]
//             (group norm with hw >= 256: y = x * scale + shift, scale = rstd * gamma[a],
//             shift = beta[a] - mean * scale, per channel, as torch computes it)
//   backward_input:  xhat = (x - mean) * rstd, g = dy * gamma[a],
//                    dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   backward_params: dgamma[a] = sum dy * xhat, dbeta[a] = sum dy over every element with index a
// The variance is computed in a second pass over (x - mean), not as E[x^2] - E[x]^2.

struct Params {
    rows: u32, n: u32, eps: f32, accumulate: u32,
    x_shift: u32, g_shift: u32, b_shift: u32, y_shift: u32,
    stat_shift: u32, dy_shift: u32, groups: u32, hw: u32,
    // The group of row 0 of this dispatch: a chunk of a very large input may start mid-sample.
    group0: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> red: array<f32, 256>;

fn affine_index(row: u32, i: u32) -> u32 {
    return ((row + p.group0) % p.groups) * (p.n / p.hw) + i / p.hw;
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

// forward bindings: x, gamma, beta, y, mean, rstd
@group(0) @binding(1) var<storage, read> f_x: array<f32>;
@group(0) @binding(2) var<storage, read> f_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> f_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_y: array<f32>;
@group(0) @binding(5) var<storage, read_write> f_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> f_rstd: array<f32>;

@compute @workgroup_size(256)
fn norm_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
        if (p.hw >= 256u) {
            // Group norm over planes of at least a workgroup: a channel at a time, its gamma
            // and beta folded into one scale and shift (torch's own form, `x * scale + shift`),
            // so each element is one load and one store, with no division for its channel.
            let a0 = affine_index(row, 0u);
            for (var ch = 0u; ch < p.n / p.hw; ch++) {
                let scale = rstd * f_gamma[p.g_shift + a0 + ch];
                let shift = f_beta[p.b_shift + a0 + ch] - mean * scale;
                let cb = ch * p.hw;
                for (var s = lid; s < p.hw; s += 256u) {
                    f_y[yb + cb + s] = fma(f_x[xb + cb + s], scale, shift);
                }
            }
        } else {
            for (var i = lid; i < p.n; i += 256u) {
                let a = affine_index(row, i);
                f_y[yb + i] = (f_x[xb + i] - mean) * rstd * f_gamma[p.g_shift + a] + f_beta[p.b_shift + a];
            }
        }
        if (lid == 0u) {
            f_mean[p.stat_shift + row] = mean;
            f_rstd[p.stat_shift + row] = rstd;
        }
    }
}

// norm_forward for group norm with planes of a multiple of 4 (every SD shape) and windows that
// start on a vec4: x and y as vec4s (p.x_shift and p.y_shift count vec4s; n and hw still count
// elements), a quarter of the loads and stores of the three passes; each vec4 lies in one
// channel, whose scale and shift (torch's form, as above) it takes. Planes of a workgroup of
// vec4s or more go a channel at a time; smaller ones look their channel up once per vec4.
@group(0) @binding(1) var<storage, read> f_x4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> f_y4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn norm_forward4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    let valid = row < p.rows;
    let n4 = p.n / 4u;
    let xb = p.x_shift + row * n4;
    var s = 0.0;
    if (valid) {
        for (var i = lid; i < n4; i += 256u) { let x = f_x4[xb + i]; s += (x.x + x.y) + (x.z + x.w); }
    }
    let mean = reduce_sum(lid, s) / f32(p.n);
    var v = 0.0;
    if (valid) {
        for (var i = lid; i < n4; i += 256u) { let d = f_x4[xb + i] - mean; v += dot(d, d); }
    }
    let rstd = inverseSqrt(reduce_sum(lid, v) / f32(p.n) + p.eps);
    if (valid) {
        let yb = p.y_shift + row * n4;
        let a0 = affine_index(row, 0u);
        let hw4 = p.hw / 4u;
        if (hw4 >= 256u) {
            for (var ch = 0u; ch < p.n / p.hw; ch++) {
                let scale = rstd * f_gamma[p.g_shift + a0 + ch];
                let shift = f_beta[p.b_shift + a0 + ch] - mean * scale;
                let cb = ch * hw4;
                for (var s = lid; s < hw4; s += 256u) {
                    f_y4[yb + cb + s] = fma(f_x4[xb + cb + s], vec4(scale), vec4(shift));
                }
            }
        } else {
            for (var i = lid; i < n4; i += 256u) {
                let ch = a0 + i / hw4;
                let scale = rstd * f_gamma[p.g_shift + ch];
                let shift = f_beta[p.b_shift + ch] - mean * scale;
                f_y4[yb + i] = fma(f_x4[xb + i], vec4(scale), vec4(shift));
            }
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

// Element i of a row (x and dy at offsets xb and gb) with its gamma: (dy·gamma, x̂), what both
// passes of norm_backward_input use.
fn g_and_xhat(xb: u32, gb: u32, i: u32, gamma: f32, mean: f32, rstd: f32) -> vec2<f32> {
    return vec2(bi_dy[gb + i] * gamma, (bi_x[xb + i] - mean) * rstd);
}

@compute @workgroup_size(256)
fn norm_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
    // As in forward: planes of at least a workgroup go a channel at a time (gamma loaded once
    // per channel, no division per element). Where the plane is a multiple of 256 each
    // invocation sums the same elements in the same order as the flat loop: the same bits.
    let by_channel = p.hw >= 256u;
    let a0 = affine_index(row, 0u);
    var sg = 0.0;
    var sgx = 0.0;
    if (valid && by_channel) {
        for (var ch = 0u; ch < p.n / p.hw; ch++) {
            let gamma = bi_gamma[p.g_shift + a0 + ch];
            let cb = ch * p.hw;
            for (var s = lid; s < p.hw; s += 256u) {
                let e = g_and_xhat(xb, gb, cb + s, gamma, mean, rstd);
                sg += e.x;
                sgx += e.x * e.y;
            }
        }
    } else if (valid) {
        for (var i = lid; i < p.n; i += 256u) {
            let e = g_and_xhat(xb, gb, i, bi_gamma[p.g_shift + affine_index(row, i)], mean, rstd);
            sg += e.x;
            sgx += e.x * e.y;
        }
    }
    let mg = reduce_sum(lid, sg) / f32(p.n);
    let mgx = reduce_sum(lid, sgx) / f32(p.n);
    let db = p.y_shift + row * p.n;
    if (valid && by_channel) {
        for (var ch = 0u; ch < p.n / p.hw; ch++) {
            let gamma = bi_gamma[p.g_shift + a0 + ch];
            let cb = ch * p.hw;
            for (var s = lid; s < p.hw; s += 256u) {
                let e = g_and_xhat(xb, gb, cb + s, gamma, mean, rstd);
                bi_dx[db + cb + s] = rstd * (e.x - mg - e.y * mgx);
            }
        }
    } else if (valid) {
        for (var i = lid; i < p.n; i += 256u) {
            let e = g_and_xhat(xb, gb, i, bi_gamma[p.g_shift + affine_index(row, i)], mean, rstd);
            bi_dx[db + i] = rstd * (e.x - mg - e.y * mgx);
        }
    }
}

// norm_backward_input for group norm four elements at a time, as norm_forward4: x, dy and dx
// as vec4s (p.x_shift, p.dy_shift and p.y_shift, dx's, count vec4s), each vec4 in one channel.
@group(0) @binding(1) var<storage, read> bi_x4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bi_dy4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> bi_dx4: array<vec4<f32>>;

// g_and_xhat over vec4 i of a row: [dy·gamma, x̂].
fn g_and_xhat4(xb: u32, gb: u32, i: u32, gamma: f32, mean: f32, rstd: f32) -> array<vec4<f32>, 2> {
    return array(bi_dy4[gb + i] * gamma, (bi_x4[xb + i] - mean) * rstd);
}

@compute @workgroup_size(256)
fn norm_backward_input4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    let valid = row < p.rows;
    let n4 = p.n / 4u;
    let hw4 = p.hw / 4u;
    let xb = p.x_shift + row * n4;
    let gb = p.dy_shift + row * n4;
    var mean = 0.0;
    var rstd = 0.0;
    if (valid) {
        mean = bi_mean[p.stat_shift + row];
        rstd = bi_rstd[p.stat_shift + row];
    }
    let a0 = affine_index(row, 0u);
    let by_channel = hw4 >= 256u;
    var sg = 0.0;
    var sgx = 0.0;
    if (valid && by_channel) {
        for (var ch = 0u; ch < p.n / p.hw; ch++) {
            let gamma = bi_gamma[p.g_shift + a0 + ch];
            let cb = ch * hw4;
            for (var s = lid; s < hw4; s += 256u) {
                let e = g_and_xhat4(xb, gb, cb + s, gamma, mean, rstd);
                sg += dot(e[0], vec4(1.0));
                sgx += dot(e[0], e[1]);
            }
        }
    } else if (valid) {
        for (var i = lid; i < n4; i += 256u) {
            let e = g_and_xhat4(xb, gb, i, bi_gamma[p.g_shift + a0 + i / hw4], mean, rstd);
            sg += dot(e[0], vec4(1.0));
            sgx += dot(e[0], e[1]);
        }
    }
    let mg = reduce_sum(lid, sg) / f32(p.n);
    let mgx = reduce_sum(lid, sgx) / f32(p.n);
    let db = p.y_shift + row * n4;
    if (valid && by_channel) {
        for (var ch = 0u; ch < p.n / p.hw; ch++) {
            let gamma = bi_gamma[p.g_shift + a0 + ch];
            let cb = ch * hw4;
            for (var s = lid; s < hw4; s += 256u) {
                let e = g_and_xhat4(xb, gb, cb + s, gamma, mean, rstd);
                bi_dx4[db + cb + s] = rstd * (e[0] - mg - e[1] * mgx);
            }
        }
    } else if (valid) {
        for (var i = lid; i < n4; i += 256u) {
            let e = g_and_xhat4(xb, gb, i, bi_gamma[p.g_shift + a0 + i / hw4], mean, rstd);
            bi_dx4[db + i] = rstd * (e[0] - mg - e[1] * mgx);
        }
    }
}

// backward_params bindings: x, mean, rstd, dy, dgamma, dbeta; `accumulate` adds to the
// existing values (for row chunks of very large inputs). Two entries sum over every sample's
// row and, for group norm, its hw positions:
// - `norm_backward_params`: one invocation per affine index (channel) a, its sums serial. On
//   lavapipe, which runs a workgroup per host thread, the fastest.
// - `norm_backward_params_wg` (GPUs): one workgroup per channel, the invocations striding over
//   the (row, position) pairs together (so a layer norm's rows, hw 1, spread as well as a group
//   norm's pixels) and a tree adding their sums. One invocation per channel made 2-5
//   workgroups of SD 1.5's 320-1280 channels: on an H200 it took 4.6% of a training step at
//   14 GB/s. On lavapipe its barriers cost 4-13x.
@group(0) @binding(1) var<storage, read> bp_x: array<f32>;
@group(0) @binding(2) var<storage, read> bp_mean: array<f32>;
@group(0) @binding(3) var<storage, read> bp_rstd: array<f32>;
@group(0) @binding(4) var<storage, read> bp_dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> bp_dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> bp_dbeta: array<f32>;
var<workgroup> bp_red: array<vec2<f32>, 256>;

@compute @workgroup_size(256)
fn norm_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let per_group = p.n / p.hw;
    let a = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (a >= p.groups * per_group) { return; }
    let g = a / per_group;
    let base = (a % per_group) * p.hw;
    var dg = 0.0;
    var db = 0.0;
    for (var r = (g + p.groups - p.group0) % p.groups; r < p.rows; r += p.groups) {
        let m = bp_mean[p.stat_shift + r];
        let rs = bp_rstd[p.stat_shift + r];
        let xb = p.x_shift + r * p.n + base;
        let gb = p.dy_shift + r * p.n + base;
        for (var s = 0u; s < p.hw; s++) {
            let d = bp_dy[gb + s];
            dg += d * (bp_x[xb + s] - m) * rs;
            db += d;
        }
    }
    if (p.accumulate != 0u) {
        dg += bp_dgamma[p.g_shift + a];
        db += bp_dbeta[p.b_shift + a];
    }
    bp_dgamma[p.g_shift + a] = dg;
    bp_dbeta[p.b_shift + a] = db;
}

@compute @workgroup_size(256)
fn norm_backward_params_wg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) lid: u32) {
    let per_group = p.n / p.hw;
    let a = wg.y * nwg.x + wg.x;
    if (a >= p.groups * per_group) { return; }
    let g = a / per_group;
    let base = (a % per_group) * p.hw;
    // This channel's rows: r0, r0 + groups, ... below rows.
    let r0 = (g + p.groups - p.group0) % p.groups;
    var count = 0u;
    if (r0 < p.rows) { count = (p.rows - r0 + p.groups - 1u) / p.groups * p.hw; }
    var sums = vec2<f32>(0.0, 0.0);
    for (var t = lid; t < count; t += 256u) {
        let r = r0 + (t / p.hw) * p.groups;
        let s = t % p.hw;
        let d = bp_dy[p.dy_shift + r * p.n + base + s];
        let xhat = (bp_x[p.x_shift + r * p.n + base + s] - bp_mean[p.stat_shift + r]) * bp_rstd[p.stat_shift + r];
        sums += vec2<f32>(d * xhat, d);
    }
    bp_red[lid] = sums;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w >>= 1u) {
        if (lid < w) { bp_red[lid] += bp_red[lid + w]; }
        workgroupBarrier();
    }
    if (lid == 0u) {
        var dg = bp_red[0].x;
        var db = bp_red[0].y;
        if (p.accumulate != 0u) {
            dg += bp_dgamma[p.g_shift + a];
            db += bp_dbeta[p.b_shift + a];
        }
        bp_dgamma[p.g_shift + a] = dg;
        bp_dbeta[p.b_shift + a] = db;
    }
}
