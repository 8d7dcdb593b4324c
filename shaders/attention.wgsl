// Fused scaled-dot-product attention, flash-style (Dao et al. 2022, FlashAttention-2's
// backward): O = softmax(scale * Q Kᵀ [+ causal mask]) V without ever materialising the
// [N, N] score matrix. Q [B, Nq, D], K and V [B, Nk, D], B = batch x heads.
//
// Specialisation: D (u32), the head dimension; CAUSAL (bool), key j visible to query i only
// if j <= i (CLIP's text encoder).
//
//   attention_forward:      one invocation per query; K/V tiles of 16 keys staged in
//                           workgroup memory; online softmax. Saves the row logsumexp L.
//   attention_backward_dq:  one invocation per query: Drow_i = dO_i · O_i (saved for the
//                           next kernel), dQ_i = scale Σ_j P_ij (dO_i · V_j - Drow_i) K_j,
//                           P_ij = exp(scale q_i·k_j - L_i).
//   attention_backward_dkv: one invocation per key, over Q/dO tiles:
//                           dV_j = Σ_i P_ij dO_i,  dK_j = scale Σ_i P_ij (dO_i · V_j - Drow_i) Q_i.
// No atomics: every output row is owned by one invocation, so results are deterministic.

const TILE: u32 = 16u;
const WG: u32 = 64u;

struct Params {
    nq: u32, nk: u32, scale: f32, _p0: u32,
    q_shift: u32, k_shift: u32, v_shift: u32, o_shift: u32,
    lse_shift: u32, do_shift: u32, g1_shift: u32, g2_shift: u32,
    drow_shift: u32, _p1: u32, _p2: u32, _p3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> tile_a: array<f32, TILE * D>;
var<workgroup> tile_b: array<f32, TILE * D>;
var<workgroup> tile_s1: array<f32, TILE>;
var<workgroup> tile_s2: array<f32, TILE>;

fn visible(i: u32, j: u32) -> bool {
    return !CAUSAL || j <= i;
}

// ---------------------------------------------------------------- forward
// bindings: q, k, v, o, lse
@group(0) @binding(1) var<storage, read> f_q: array<f32>;
@group(0) @binding(2) var<storage, read> f_k: array<f32>;
@group(0) @binding(3) var<storage, read> f_v: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_o: array<f32>;
@group(0) @binding(5) var<storage, read_write> f_lse: array<f32>;

@compute @workgroup_size(64)
fn attention_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wg.z;
    let i = wg.x * WG + lid;
    let valid = i < p.nq;
    let qi = min(i, p.nq - 1u);
    var q: array<f32, D>;
    var acc: array<f32, D>;
    for (var d = 0u; d < D; d++) {
        q[d] = f_q[p.q_shift + (b * p.nq + qi) * D + d] * p.scale;
        acc[d] = 0.0;
    }
    var m = -3.4028235e38;
    var l = 0.0;
    let kbase = p.k_shift + b * p.nk * D;
    let vbase = p.v_shift + b * p.nk * D;
    for (var j0 = 0u; j0 < p.nk; j0 += TILE) {
        let n = min(TILE, p.nk - j0);
        for (var t = lid; t < n * D; t += WG) {
            tile_a[t] = f_k[kbase + j0 * D + t];
            tile_b[t] = f_v[vbase + j0 * D + t];
        }
        workgroupBarrier();
        for (var jj = 0u; jj < n; jj++) {
            if (visible(qi, j0 + jj)) {
                var s = 0.0;
                for (var d = 0u; d < D; d++) { s = fma(q[d], tile_a[jj * D + d], s); }
                let m_new = max(m, s);
                let c = exp(m - m_new);
                let e = exp(s - m_new);
                l = l * c + e;
                for (var d = 0u; d < D; d++) { acc[d] = fma(e, tile_b[jj * D + d], acc[d] * c); }
                m = m_new;
            }
        }
        workgroupBarrier();
    }
    if (valid) {
        let inv = 1.0 / l;
        for (var d = 0u; d < D; d++) {
            f_o[p.o_shift + (b * p.nq + i) * D + d] = acc[d] * inv;
        }
        f_lse[p.lse_shift + b * p.nq + i] = m + log(l);
    }
}

// ---------------------------------------------------------------- backward, dQ
// bindings: q, k, v, o, do, lse, dq, drow
@group(0) @binding(1) var<storage, read> b_q: array<f32>;
@group(0) @binding(2) var<storage, read> b_k: array<f32>;
@group(0) @binding(3) var<storage, read> b_v: array<f32>;
@group(0) @binding(4) var<storage, read> b_o: array<f32>;
@group(0) @binding(5) var<storage, read> b_do: array<f32>;
@group(0) @binding(6) var<storage, read> b_lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_dq: array<f32>;
@group(0) @binding(8) var<storage, read_write> b_drow: array<f32>;

@compute @workgroup_size(64)
fn attention_backward_dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wg.z;
    let i = wg.x * WG + lid;
    let valid = i < p.nq;
    let qi = min(i, p.nq - 1u);
    let row = (b * p.nq + qi) * D;
    var q: array<f32, D>;
    var dout: array<f32, D>;
    var dq: array<f32, D>;
    var drow = 0.0;
    for (var d = 0u; d < D; d++) {
        q[d] = b_q[p.q_shift + row + d] * p.scale;
        dout[d] = b_do[p.do_shift + row + d];
        drow = fma(dout[d], b_o[p.o_shift + row + d], drow);
        dq[d] = 0.0;
    }
    let lse = b_lse[p.lse_shift + b * p.nq + qi];
    let kbase = p.k_shift + b * p.nk * D;
    let vbase = p.v_shift + b * p.nk * D;
    for (var j0 = 0u; j0 < p.nk; j0 += TILE) {
        let n = min(TILE, p.nk - j0);
        for (var t = lid; t < n * D; t += WG) {
            tile_a[t] = b_k[kbase + j0 * D + t];
            tile_b[t] = b_v[vbase + j0 * D + t];
        }
        workgroupBarrier();
        for (var jj = 0u; jj < n; jj++) {
            if (visible(qi, j0 + jj)) {
                var s = 0.0;
                var dp = 0.0;
                for (var d = 0u; d < D; d++) {
                    s = fma(q[d], tile_a[jj * D + d], s);
                    dp = fma(dout[d], tile_b[jj * D + d], dp);
                }
                let ds = exp(s - lse) * (dp - drow);
                for (var d = 0u; d < D; d++) { dq[d] = fma(ds, tile_a[jj * D + d], dq[d]); }
            }
        }
        workgroupBarrier();
    }
    if (valid) {
        for (var d = 0u; d < D; d++) {
            b_dq[p.g1_shift + row + d] = dq[d] * p.scale;
        }
        b_drow[p.drow_shift + b * p.nq + i] = drow;
    }
}

// ---------------------------------------------------------------- backward, dK and dV
// bindings: q, k, v, do, lse, drow, dk, dv
@group(0) @binding(1) var<storage, read> c_q: array<f32>;
@group(0) @binding(2) var<storage, read> c_k: array<f32>;
@group(0) @binding(3) var<storage, read> c_v: array<f32>;
@group(0) @binding(4) var<storage, read> c_do: array<f32>;
@group(0) @binding(5) var<storage, read> c_lse: array<f32>;
@group(0) @binding(6) var<storage, read> c_drow: array<f32>;
@group(0) @binding(7) var<storage, read_write> c_dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> c_dv: array<f32>;

@compute @workgroup_size(64)
fn attention_backward_dkv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wg.z;
    let j = wg.x * WG + lid;
    let valid = j < p.nk;
    let kj = min(j, p.nk - 1u);
    let row = (b * p.nk + kj) * D;
    var k: array<f32, D>;
    var v: array<f32, D>;
    var dk: array<f32, D>;
    var dv: array<f32, D>;
    for (var d = 0u; d < D; d++) {
        k[d] = c_k[p.k_shift + row + d];
        v[d] = c_v[p.v_shift + row + d];
        dk[d] = 0.0;
        dv[d] = 0.0;
    }
    let qbase = p.q_shift + b * p.nq * D;
    let obase = p.do_shift + b * p.nq * D;
    for (var i0 = 0u; i0 < p.nq; i0 += TILE) {
        let n = min(TILE, p.nq - i0);
        for (var t = lid; t < n * D; t += WG) {
            tile_a[t] = c_q[qbase + i0 * D + t];
            tile_b[t] = c_do[obase + i0 * D + t];
        }
        if (lid < n) {
            tile_s1[lid] = c_lse[p.lse_shift + b * p.nq + i0 + lid];
            tile_s2[lid] = c_drow[p.drow_shift + b * p.nq + i0 + lid];
        }
        workgroupBarrier();
        for (var ii = 0u; ii < n; ii++) {
            if (visible(i0 + ii, kj)) {
                var s = 0.0;
                var dp = 0.0;
                for (var d = 0u; d < D; d++) {
                    s = fma(tile_a[ii * D + d], k[d], s);
                    dp = fma(tile_b[ii * D + d], v[d], dp);
                }
                let pij = exp(s * p.scale - tile_s1[ii]);
                let ds = pij * (dp - tile_s2[ii]);
                for (var d = 0u; d < D; d++) {
                    dv[d] = fma(pij, tile_b[ii * D + d], dv[d]);
                    dk[d] = fma(ds, tile_a[ii * D + d], dk[d]);
                }
            }
        }
        workgroupBarrier();
    }
    if (valid) {
        for (var d = 0u; d < D; d++) {
            c_dk[p.g1_shift + row + d] = dk[d] * p.scale;
            c_dv[p.g2_shift + row + d] = dv[d];
        }
    }
}
