// Row kernels of the GEMM form of attention (ops/attention.rs, `Strategy::Gemm`): the score
// products run through gemm.wgsl, chunk by chunk of queries, and these kernels turn one
// chunk's scores into probabilities and gradients in place. A chunk holds `per` queries of
// each of its batches; its row r is query q0 + r % per of batch r / per, whose logsumexp
// lives at lse[(r / per) * nq + q0 + r % per].
//
//   softmax_lse: s <- softmax(s) along the row; lse <- max + log(sum exp(s - max))
//   probs:       s <- exp(s - lse)          (the forward's probabilities, recomputed)
//   dscores:     d <- p * (d - drow)        (dS from dP; drow_i = dO_i · O_i)
// One workgroup of 64 per row.

struct RowParams {
    rows: u32, n: u32, per: u32, nq: u32,
    s_shift: u32, lse_shift: u32, d_shift: u32, drow_shift: u32,
    q0: u32, _p0: u32, _p1: u32, _p2: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RowParams;
var<workgroup> red: array<f32, WG>;

fn row_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.y * nwg.x + wg.x;
}

fn stat_index(row: u32) -> u32 {
    return (row / p.per) * p.nq + p.q0 + row % p.per;
}

fn reduce(lid: u32, v: f32, is_max: bool) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = select(red[lid] + red[lid + s], max(red[lid], red[lid + s]), is_max);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

// softmax_lse bindings: s, lse
@group(0) @binding(1) var<storage, read_write> sm_s: array<f32>;
@group(0) @binding(2) var<storage, read_write> sm_lse: array<f32>;

@compute @workgroup_size(64)
fn softmax_lse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wg, nwg);
    let valid = row < p.rows;
    let base = p.s_shift + min(row, p.rows - 1u) * p.n;
    // One pass for the statistics (online softmax: a running max and the sum rescaled to it),
    // then the lanes' (max, sum) pairs combine: reading the row once instead of twice.
    var m = -3.4028235e38;
    var l = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        let x = sm_s[base + i];
        let m2 = max(m, x);
        l = l * exp(m - m2) + exp(x - m2);
        m = m2;
    }
    let mx = reduce(lid, m, true);
    let s = reduce(lid, l * exp(m - mx), false);
    if (valid) {
        let inv = 1.0 / s;
        for (var i = lid; i < p.n; i += WG) { sm_s[base + i] = exp(sm_s[base + i] - mx) * inv; }
        if (lid == 0u) { sm_lse[p.lse_shift + stat_index(row)] = mx + log(s); }
    }
}

// probs bindings: s, lse
@group(0) @binding(1) var<storage, read_write> pr_s: array<f32>;
@group(0) @binding(2) var<storage, read> pr_lse: array<f32>;

@compute @workgroup_size(64)
fn probs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wg, nwg);
    if (row >= p.rows) { return; }
    let base = p.s_shift + row * p.n;
    let lse = pr_lse[p.lse_shift + stat_index(row)];
    for (var i = lid; i < p.n; i += WG) { pr_s[base + i] = exp(pr_s[base + i] - lse); }
}

// dscores bindings: p, d, drow
@group(0) @binding(1) var<storage, read> ds_p: array<f32>;
@group(0) @binding(2) var<storage, read_write> ds_d: array<f32>;
@group(0) @binding(3) var<storage, read> ds_drow: array<f32>;

@compute @workgroup_size(64)
fn dscores(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wg, nwg);
    if (row >= p.rows) { return; }
    let pb = p.s_shift + row * p.n;
    let db = p.d_shift + row * p.n;
    let drow = ds_drow[p.drow_shift + stat_index(row)];
    for (var i = lid; i < p.n; i += WG) { ds_d[db + i] = ds_p[pb + i] * (ds_d[db + i] - drow); }
}
