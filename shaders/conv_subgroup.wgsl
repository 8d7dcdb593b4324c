// 2-D convolution, NCHW, any kernel size, stride and zero padding, as implicit GEMMs: the
// im2col matrix is never materialised, each load gathers from the image.
//
//   MODE 0, forward:          y[n, co, q]  = bias[co] + sum_{tap, ci} w[co, ci, tap] x[n, ci, in(q, tap)]
//   MODE 1, backward input:   dx[n, ci, q] = sum_{tap, co} w[co, ci, tap] dy[n, co, out(q, tap)]
//   `conv_dw`, backward weight: dw[co, ci, tap] = sum_{n, q} dy[n, co, q] x[n, ci, in(q, tap)]
// where tap = (ky, kx), in(q, tap) is the input pixel that output pixel q reads through that
// tap (iy = oy*stride - pad + ky; none in the padding) and out(q, tap) its inverse (none where
// no output pixel reads q through the tap, as with odd q under stride 2).
//
// Each invocation holds an 8x8 register block of C (rows WG_Y apart, columns WG_X apart, so
// that neighbouring lanes touch neighbouring pixels or channels); a workgroup covers
// (8 WG_Y) x (8 WG_X). The subgroup entries (conv_subgroup.wgsl) hold 8, 16 or 32 rows and
// take the rows' A values from lanes 0-7 by broadcast, as the GEMM subgroup kernels do.
// The loops put the tap outside the channel sum: for a fixed tap the pixel offsets and their
// padding masks are the same for every channel, so they are computed once per tap and the
// inner loop is a plain GEMM step, 16 loads for 64 FMAs. In `conv_dw` every invocation walks
// the same pixels, so the padding shows as loop bounds and the inner loop has no masks at all.
// (The previous kernel recomputed coordinates and bounds for every load and ran at 2.8
// GFLOP/s on lavapipe.) Accumulators are named scalars: as arrays, llvmpipe keeps them
// in memory. Written by tools/gen_conv_wgsl.py: edit that, not this file.
//
// Specialisation: MODE (u32: 0 or 1, for `conv`), HAS_BIAS (bool), WG_X, WG_Y (u32).
// `beta` != 0 accumulates into C: the launcher splits channels and images into chunks that fit
// a storage binding, and sums the chunks of a summed dimension.

struct Params {
    m: u32, n: u32, chans: u32, beta: f32,
    a_shift: u32, b_shift: u32, c_shift: u32, bias_shift: u32,
    h: u32, w: u32, oh: u32, ow: u32,
    kh: u32, kw: u32, stride: u32, pad: u32,
    // A (the weights in `conv`, dy in `conv_dw`): row stride, channel stride, image stride.
    a_rs: u32, a_cs: u32, a_img: u32, b_plane: u32,
    b_img: u32, c_row: u32, c_img: u32, imgs: u32,
    // Width of C's pixel plane in `conv` (OW forward, W backward-input); in `conv_dw`, the
    // pixel strides of A and B (1 for NCHW; the channel count for channels-last copies).
    cw: u32, a_px: u32, b_px: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Where pixel q of C reads B through tap (ky, kx): the offset in B's channel plane, and
// whether it reads anything (0 in the padding, or no output pixel under stride > 1).
struct Tap { off: u32, ok: bool }

fn tap_of(q: u32, ky: u32, kx: u32) -> Tap {
    let y = i32(q / p.cw);
    let x = i32(q % p.cw);
    let s = i32(p.stride);
    if (MODE == 0u) {
        let iy = y * s - i32(p.pad) + i32(ky);
        let ix = x * s - i32(p.pad) + i32(kx);
        let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
        return Tap(select(0u, u32(iy) * p.w + u32(ix), ok), ok);
    }
    let ty = y + i32(p.pad) - i32(ky);
    let tx = x + i32(p.pad) - i32(kx);
    let oy = ty / s;
    let ox = tx / s;
    let ok = ty >= 0 && tx >= 0 && ty % s == 0 && tx % s == 0 && oy < i32(p.oh) && ox < i32(p.ow);
    return Tap(select(0u, u32(oy) * p.ow + u32(ox), ok), ok);
}

// First and one-past-last output coordinate whose input coordinate o*stride - pad + k lies
// in [0, size).
fn valid_range(k: u32, size: u32, out: u32) -> vec2<u32> {
    let s = i32(p.stride);
    let lo_num = i32(p.pad) - i32(k);
    let lo = select(0, (lo_num + s - 1) / s, lo_num > 0);
    let hi_num = i32(size) - 1 + i32(p.pad) - i32(k);
    let hi = select(0, min(hi_num / s + 1, i32(out)), hi_num >= 0);
    return vec2<u32>(u32(lo), u32(max(hi, lo)));
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn conv_subgroup8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let img = wg.z;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let rmine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let q0 = min(col0 + 0u * WG_X, p.n - 1u);
    let q1 = min(col0 + 1u * WG_X, p.n - 1u);
    let q2 = min(col0 + 2u * WG_X, p.n - 1u);
    let q3 = min(col0 + 3u * WG_X, p.n - 1u);
    let q4 = min(col0 + 4u * WG_X, p.n - 1u);
    let q5 = min(col0 + 5u * WG_X, p.n - 1u);
    let q6 = min(col0 + 6u * WG_X, p.n - 1u);
    let q7 = min(col0 + 7u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    let b_base = p.b_shift + img * p.b_img;
    for (var ky = 0u; ky < p.kh; ky++) {
        for (var kx = 0u; kx < p.kw; kx++) {
            let tap = ky * p.kw + kx;
            let t0 = tap_of(q0, ky, kx);
            let t1 = tap_of(q1, ky, kx);
            let t2 = tap_of(q2, ky, kx);
            let t3 = tap_of(q3, ky, kx);
            let t4 = tap_of(q4, ky, kx);
            let t5 = tap_of(q5, ky, kx);
            let t6 = tap_of(q6, ky, kx);
            let t7 = tap_of(q7, ky, kx);
            let ramine0 = p.a_shift + rmine0 * p.a_rs + tap;
            for (var ch = 0u; ch < p.chans; ch++) {
                let ac = ch * p.a_cs;
                let bc = b_base + ch * p.b_plane;
                let a_mine0 = a[ramine0 + ac];
                let a0 = subgroupBroadcast(a_mine0, 0u);
                let a1 = subgroupBroadcast(a_mine0, 1u);
                let a2 = subgroupBroadcast(a_mine0, 2u);
                let a3 = subgroupBroadcast(a_mine0, 3u);
                let a4 = subgroupBroadcast(a_mine0, 4u);
                let a5 = subgroupBroadcast(a_mine0, 5u);
                let a6 = subgroupBroadcast(a_mine0, 6u);
                let a7 = subgroupBroadcast(a_mine0, 7u);
                let b0 = select(0.0, b[bc + t0.off], t0.ok);
                let b1 = select(0.0, b[bc + t1.off], t1.ok);
                let b2 = select(0.0, b[bc + t2.off], t2.ok);
                let b3 = select(0.0, b[bc + t3.off], t3.ok);
                let b4 = select(0.0, b[bc + t4.off], t4.ok);
                let b5 = select(0.0, b[bc + t5.off], t5.ok);
                let b6 = select(0.0, b[bc + t6.off], t6.ok);
                let b7 = select(0.0, b[bc + t7.off], t7.ok);
                acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
                acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
                acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
                acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
                acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
                acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
                acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
                acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
            }
        }
    }
    var acc = array<array<f32, 8>, 8>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
    );
    let c_base = p.c_shift + img * p.c_img;
    for (var i = 0u; i < 8u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            var v = acc[i][j];
            if (HAS_BIAS) {
                v += bias[p.bias_shift + r];
            }
            let ci = c_base + r * p.c_row + col;
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn conv_subgroup16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let img = wg.z;
    let row0 = wg.y * 16u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let rmine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let rmine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u);
    let q0 = min(col0 + 0u * WG_X, p.n - 1u);
    let q1 = min(col0 + 1u * WG_X, p.n - 1u);
    let q2 = min(col0 + 2u * WG_X, p.n - 1u);
    let q3 = min(col0 + 3u * WG_X, p.n - 1u);
    let q4 = min(col0 + 4u * WG_X, p.n - 1u);
    let q5 = min(col0 + 5u * WG_X, p.n - 1u);
    let q6 = min(col0 + 6u * WG_X, p.n - 1u);
    let q7 = min(col0 + 7u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0; var acc8_5 = 0.0; var acc8_6 = 0.0; var acc8_7 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0; var acc9_5 = 0.0; var acc9_6 = 0.0; var acc9_7 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0; var acc10_5 = 0.0; var acc10_6 = 0.0; var acc10_7 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0; var acc11_5 = 0.0; var acc11_6 = 0.0; var acc11_7 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0; var acc12_5 = 0.0; var acc12_6 = 0.0; var acc12_7 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0; var acc13_5 = 0.0; var acc13_6 = 0.0; var acc13_7 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0; var acc14_5 = 0.0; var acc14_6 = 0.0; var acc14_7 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0; var acc15_5 = 0.0; var acc15_6 = 0.0; var acc15_7 = 0.0;
    let b_base = p.b_shift + img * p.b_img;
    for (var ky = 0u; ky < p.kh; ky++) {
        for (var kx = 0u; kx < p.kw; kx++) {
            let tap = ky * p.kw + kx;
            let t0 = tap_of(q0, ky, kx);
            let t1 = tap_of(q1, ky, kx);
            let t2 = tap_of(q2, ky, kx);
            let t3 = tap_of(q3, ky, kx);
            let t4 = tap_of(q4, ky, kx);
            let t5 = tap_of(q5, ky, kx);
            let t6 = tap_of(q6, ky, kx);
            let t7 = tap_of(q7, ky, kx);
            let ramine0 = p.a_shift + rmine0 * p.a_rs + tap;
            let ramine1 = p.a_shift + rmine1 * p.a_rs + tap;
            for (var ch = 0u; ch < p.chans; ch++) {
                let ac = ch * p.a_cs;
                let bc = b_base + ch * p.b_plane;
                let a_mine0 = a[ramine0 + ac];
                let a_mine1 = a[ramine1 + ac];
                let a0 = subgroupBroadcast(a_mine0, 0u);
                let a1 = subgroupBroadcast(a_mine0, 1u);
                let a2 = subgroupBroadcast(a_mine0, 2u);
                let a3 = subgroupBroadcast(a_mine0, 3u);
                let a4 = subgroupBroadcast(a_mine0, 4u);
                let a5 = subgroupBroadcast(a_mine0, 5u);
                let a6 = subgroupBroadcast(a_mine0, 6u);
                let a7 = subgroupBroadcast(a_mine0, 7u);
                let a8 = subgroupBroadcast(a_mine1, 0u);
                let a9 = subgroupBroadcast(a_mine1, 1u);
                let a10 = subgroupBroadcast(a_mine1, 2u);
                let a11 = subgroupBroadcast(a_mine1, 3u);
                let a12 = subgroupBroadcast(a_mine1, 4u);
                let a13 = subgroupBroadcast(a_mine1, 5u);
                let a14 = subgroupBroadcast(a_mine1, 6u);
                let a15 = subgroupBroadcast(a_mine1, 7u);
                let b0 = select(0.0, b[bc + t0.off], t0.ok);
                let b1 = select(0.0, b[bc + t1.off], t1.ok);
                let b2 = select(0.0, b[bc + t2.off], t2.ok);
                let b3 = select(0.0, b[bc + t3.off], t3.ok);
                let b4 = select(0.0, b[bc + t4.off], t4.ok);
                let b5 = select(0.0, b[bc + t5.off], t5.ok);
                let b6 = select(0.0, b[bc + t6.off], t6.ok);
                let b7 = select(0.0, b[bc + t7.off], t7.ok);
                acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
                acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
                acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
                acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
                acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
                acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
                acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
                acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
                acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4); acc8_5 = fma(a8, b5, acc8_5); acc8_6 = fma(a8, b6, acc8_6); acc8_7 = fma(a8, b7, acc8_7);
                acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4); acc9_5 = fma(a9, b5, acc9_5); acc9_6 = fma(a9, b6, acc9_6); acc9_7 = fma(a9, b7, acc9_7);
                acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4); acc10_5 = fma(a10, b5, acc10_5); acc10_6 = fma(a10, b6, acc10_6); acc10_7 = fma(a10, b7, acc10_7);
                acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4); acc11_5 = fma(a11, b5, acc11_5); acc11_6 = fma(a11, b6, acc11_6); acc11_7 = fma(a11, b7, acc11_7);
                acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4); acc12_5 = fma(a12, b5, acc12_5); acc12_6 = fma(a12, b6, acc12_6); acc12_7 = fma(a12, b7, acc12_7);
                acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4); acc13_5 = fma(a13, b5, acc13_5); acc13_6 = fma(a13, b6, acc13_6); acc13_7 = fma(a13, b7, acc13_7);
                acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4); acc14_5 = fma(a14, b5, acc14_5); acc14_6 = fma(a14, b6, acc14_6); acc14_7 = fma(a14, b7, acc14_7);
                acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4); acc15_5 = fma(a15, b5, acc15_5); acc15_6 = fma(a15, b6, acc15_6); acc15_7 = fma(a15, b7, acc15_7);
            }
        }
    }
    var acc = array<array<f32, 8>, 16>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
        array<f32, 8>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4, acc8_5, acc8_6, acc8_7),
        array<f32, 8>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4, acc9_5, acc9_6, acc9_7),
        array<f32, 8>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4, acc10_5, acc10_6, acc10_7),
        array<f32, 8>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4, acc11_5, acc11_6, acc11_7),
        array<f32, 8>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4, acc12_5, acc12_6, acc12_7),
        array<f32, 8>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4, acc13_5, acc13_6, acc13_7),
        array<f32, 8>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4, acc14_5, acc14_6, acc14_7),
        array<f32, 8>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4, acc15_5, acc15_6, acc15_7),
    );
    let c_base = p.c_shift + img * p.c_img;
    for (var i = 0u; i < 16u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            var v = acc[i][j];
            if (HAS_BIAS) {
                v += bias[p.bias_shift + r];
            }
            let ci = c_base + r * p.c_row + col;
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn conv_subgroup32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let img = wg.z;
    let row0 = wg.y * 32u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let rmine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let rmine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u);
    let rmine2 = min(row0 + (lane % 8u + 16u) * WG_Y, p.m - 1u);
    let rmine3 = min(row0 + (lane % 8u + 24u) * WG_Y, p.m - 1u);
    let q0 = min(col0 + 0u * WG_X, p.n - 1u);
    let q1 = min(col0 + 1u * WG_X, p.n - 1u);
    let q2 = min(col0 + 2u * WG_X, p.n - 1u);
    let q3 = min(col0 + 3u * WG_X, p.n - 1u);
    let q4 = min(col0 + 4u * WG_X, p.n - 1u);
    let q5 = min(col0 + 5u * WG_X, p.n - 1u);
    let q6 = min(col0 + 6u * WG_X, p.n - 1u);
    let q7 = min(col0 + 7u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0; var acc8_5 = 0.0; var acc8_6 = 0.0; var acc8_7 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0; var acc9_5 = 0.0; var acc9_6 = 0.0; var acc9_7 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0; var acc10_5 = 0.0; var acc10_6 = 0.0; var acc10_7 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0; var acc11_5 = 0.0; var acc11_6 = 0.0; var acc11_7 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0; var acc12_5 = 0.0; var acc12_6 = 0.0; var acc12_7 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0; var acc13_5 = 0.0; var acc13_6 = 0.0; var acc13_7 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0; var acc14_5 = 0.0; var acc14_6 = 0.0; var acc14_7 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0; var acc15_5 = 0.0; var acc15_6 = 0.0; var acc15_7 = 0.0;
    var acc16_0 = 0.0; var acc16_1 = 0.0; var acc16_2 = 0.0; var acc16_3 = 0.0; var acc16_4 = 0.0; var acc16_5 = 0.0; var acc16_6 = 0.0; var acc16_7 = 0.0;
    var acc17_0 = 0.0; var acc17_1 = 0.0; var acc17_2 = 0.0; var acc17_3 = 0.0; var acc17_4 = 0.0; var acc17_5 = 0.0; var acc17_6 = 0.0; var acc17_7 = 0.0;
    var acc18_0 = 0.0; var acc18_1 = 0.0; var acc18_2 = 0.0; var acc18_3 = 0.0; var acc18_4 = 0.0; var acc18_5 = 0.0; var acc18_6 = 0.0; var acc18_7 = 0.0;
    var acc19_0 = 0.0; var acc19_1 = 0.0; var acc19_2 = 0.0; var acc19_3 = 0.0; var acc19_4 = 0.0; var acc19_5 = 0.0; var acc19_6 = 0.0; var acc19_7 = 0.0;
    var acc20_0 = 0.0; var acc20_1 = 0.0; var acc20_2 = 0.0; var acc20_3 = 0.0; var acc20_4 = 0.0; var acc20_5 = 0.0; var acc20_6 = 0.0; var acc20_7 = 0.0;
    var acc21_0 = 0.0; var acc21_1 = 0.0; var acc21_2 = 0.0; var acc21_3 = 0.0; var acc21_4 = 0.0; var acc21_5 = 0.0; var acc21_6 = 0.0; var acc21_7 = 0.0;
    var acc22_0 = 0.0; var acc22_1 = 0.0; var acc22_2 = 0.0; var acc22_3 = 0.0; var acc22_4 = 0.0; var acc22_5 = 0.0; var acc22_6 = 0.0; var acc22_7 = 0.0;
    var acc23_0 = 0.0; var acc23_1 = 0.0; var acc23_2 = 0.0; var acc23_3 = 0.0; var acc23_4 = 0.0; var acc23_5 = 0.0; var acc23_6 = 0.0; var acc23_7 = 0.0;
    var acc24_0 = 0.0; var acc24_1 = 0.0; var acc24_2 = 0.0; var acc24_3 = 0.0; var acc24_4 = 0.0; var acc24_5 = 0.0; var acc24_6 = 0.0; var acc24_7 = 0.0;
    var acc25_0 = 0.0; var acc25_1 = 0.0; var acc25_2 = 0.0; var acc25_3 = 0.0; var acc25_4 = 0.0; var acc25_5 = 0.0; var acc25_6 = 0.0; var acc25_7 = 0.0;
    var acc26_0 = 0.0; var acc26_1 = 0.0; var acc26_2 = 0.0; var acc26_3 = 0.0; var acc26_4 = 0.0; var acc26_5 = 0.0; var acc26_6 = 0.0; var acc26_7 = 0.0;
    var acc27_0 = 0.0; var acc27_1 = 0.0; var acc27_2 = 0.0; var acc27_3 = 0.0; var acc27_4 = 0.0; var acc27_5 = 0.0; var acc27_6 = 0.0; var acc27_7 = 0.0;
    var acc28_0 = 0.0; var acc28_1 = 0.0; var acc28_2 = 0.0; var acc28_3 = 0.0; var acc28_4 = 0.0; var acc28_5 = 0.0; var acc28_6 = 0.0; var acc28_7 = 0.0;
    var acc29_0 = 0.0; var acc29_1 = 0.0; var acc29_2 = 0.0; var acc29_3 = 0.0; var acc29_4 = 0.0; var acc29_5 = 0.0; var acc29_6 = 0.0; var acc29_7 = 0.0;
    var acc30_0 = 0.0; var acc30_1 = 0.0; var acc30_2 = 0.0; var acc30_3 = 0.0; var acc30_4 = 0.0; var acc30_5 = 0.0; var acc30_6 = 0.0; var acc30_7 = 0.0;
    var acc31_0 = 0.0; var acc31_1 = 0.0; var acc31_2 = 0.0; var acc31_3 = 0.0; var acc31_4 = 0.0; var acc31_5 = 0.0; var acc31_6 = 0.0; var acc31_7 = 0.0;
    let b_base = p.b_shift + img * p.b_img;
    for (var ky = 0u; ky < p.kh; ky++) {
        for (var kx = 0u; kx < p.kw; kx++) {
            let tap = ky * p.kw + kx;
            let t0 = tap_of(q0, ky, kx);
            let t1 = tap_of(q1, ky, kx);
            let t2 = tap_of(q2, ky, kx);
            let t3 = tap_of(q3, ky, kx);
            let t4 = tap_of(q4, ky, kx);
            let t5 = tap_of(q5, ky, kx);
            let t6 = tap_of(q6, ky, kx);
            let t7 = tap_of(q7, ky, kx);
            let ramine0 = p.a_shift + rmine0 * p.a_rs + tap;
            let ramine1 = p.a_shift + rmine1 * p.a_rs + tap;
            let ramine2 = p.a_shift + rmine2 * p.a_rs + tap;
            let ramine3 = p.a_shift + rmine3 * p.a_rs + tap;
            for (var ch = 0u; ch < p.chans; ch++) {
                let ac = ch * p.a_cs;
                let bc = b_base + ch * p.b_plane;
                let a_mine0 = a[ramine0 + ac];
                let a_mine1 = a[ramine1 + ac];
                let a_mine2 = a[ramine2 + ac];
                let a_mine3 = a[ramine3 + ac];
                let a0 = subgroupBroadcast(a_mine0, 0u);
                let a1 = subgroupBroadcast(a_mine0, 1u);
                let a2 = subgroupBroadcast(a_mine0, 2u);
                let a3 = subgroupBroadcast(a_mine0, 3u);
                let a4 = subgroupBroadcast(a_mine0, 4u);
                let a5 = subgroupBroadcast(a_mine0, 5u);
                let a6 = subgroupBroadcast(a_mine0, 6u);
                let a7 = subgroupBroadcast(a_mine0, 7u);
                let a8 = subgroupBroadcast(a_mine1, 0u);
                let a9 = subgroupBroadcast(a_mine1, 1u);
                let a10 = subgroupBroadcast(a_mine1, 2u);
                let a11 = subgroupBroadcast(a_mine1, 3u);
                let a12 = subgroupBroadcast(a_mine1, 4u);
                let a13 = subgroupBroadcast(a_mine1, 5u);
                let a14 = subgroupBroadcast(a_mine1, 6u);
                let a15 = subgroupBroadcast(a_mine1, 7u);
                let a16 = subgroupBroadcast(a_mine2, 0u);
                let a17 = subgroupBroadcast(a_mine2, 1u);
                let a18 = subgroupBroadcast(a_mine2, 2u);
                let a19 = subgroupBroadcast(a_mine2, 3u);
                let a20 = subgroupBroadcast(a_mine2, 4u);
                let a21 = subgroupBroadcast(a_mine2, 5u);
                let a22 = subgroupBroadcast(a_mine2, 6u);
                let a23 = subgroupBroadcast(a_mine2, 7u);
                let a24 = subgroupBroadcast(a_mine3, 0u);
                let a25 = subgroupBroadcast(a_mine3, 1u);
                let a26 = subgroupBroadcast(a_mine3, 2u);
                let a27 = subgroupBroadcast(a_mine3, 3u);
                let a28 = subgroupBroadcast(a_mine3, 4u);
                let a29 = subgroupBroadcast(a_mine3, 5u);
                let a30 = subgroupBroadcast(a_mine3, 6u);
                let a31 = subgroupBroadcast(a_mine3, 7u);
                let b0 = select(0.0, b[bc + t0.off], t0.ok);
                let b1 = select(0.0, b[bc + t1.off], t1.ok);
                let b2 = select(0.0, b[bc + t2.off], t2.ok);
                let b3 = select(0.0, b[bc + t3.off], t3.ok);
                let b4 = select(0.0, b[bc + t4.off], t4.ok);
                let b5 = select(0.0, b[bc + t5.off], t5.ok);
                let b6 = select(0.0, b[bc + t6.off], t6.ok);
                let b7 = select(0.0, b[bc + t7.off], t7.ok);
                acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
                acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
                acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
                acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
                acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
                acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
                acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
                acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
                acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4); acc8_5 = fma(a8, b5, acc8_5); acc8_6 = fma(a8, b6, acc8_6); acc8_7 = fma(a8, b7, acc8_7);
                acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4); acc9_5 = fma(a9, b5, acc9_5); acc9_6 = fma(a9, b6, acc9_6); acc9_7 = fma(a9, b7, acc9_7);
                acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4); acc10_5 = fma(a10, b5, acc10_5); acc10_6 = fma(a10, b6, acc10_6); acc10_7 = fma(a10, b7, acc10_7);
                acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4); acc11_5 = fma(a11, b5, acc11_5); acc11_6 = fma(a11, b6, acc11_6); acc11_7 = fma(a11, b7, acc11_7);
                acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4); acc12_5 = fma(a12, b5, acc12_5); acc12_6 = fma(a12, b6, acc12_6); acc12_7 = fma(a12, b7, acc12_7);
                acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4); acc13_5 = fma(a13, b5, acc13_5); acc13_6 = fma(a13, b6, acc13_6); acc13_7 = fma(a13, b7, acc13_7);
                acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4); acc14_5 = fma(a14, b5, acc14_5); acc14_6 = fma(a14, b6, acc14_6); acc14_7 = fma(a14, b7, acc14_7);
                acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4); acc15_5 = fma(a15, b5, acc15_5); acc15_6 = fma(a15, b6, acc15_6); acc15_7 = fma(a15, b7, acc15_7);
                acc16_0 = fma(a16, b0, acc16_0); acc16_1 = fma(a16, b1, acc16_1); acc16_2 = fma(a16, b2, acc16_2); acc16_3 = fma(a16, b3, acc16_3); acc16_4 = fma(a16, b4, acc16_4); acc16_5 = fma(a16, b5, acc16_5); acc16_6 = fma(a16, b6, acc16_6); acc16_7 = fma(a16, b7, acc16_7);
                acc17_0 = fma(a17, b0, acc17_0); acc17_1 = fma(a17, b1, acc17_1); acc17_2 = fma(a17, b2, acc17_2); acc17_3 = fma(a17, b3, acc17_3); acc17_4 = fma(a17, b4, acc17_4); acc17_5 = fma(a17, b5, acc17_5); acc17_6 = fma(a17, b6, acc17_6); acc17_7 = fma(a17, b7, acc17_7);
                acc18_0 = fma(a18, b0, acc18_0); acc18_1 = fma(a18, b1, acc18_1); acc18_2 = fma(a18, b2, acc18_2); acc18_3 = fma(a18, b3, acc18_3); acc18_4 = fma(a18, b4, acc18_4); acc18_5 = fma(a18, b5, acc18_5); acc18_6 = fma(a18, b6, acc18_6); acc18_7 = fma(a18, b7, acc18_7);
                acc19_0 = fma(a19, b0, acc19_0); acc19_1 = fma(a19, b1, acc19_1); acc19_2 = fma(a19, b2, acc19_2); acc19_3 = fma(a19, b3, acc19_3); acc19_4 = fma(a19, b4, acc19_4); acc19_5 = fma(a19, b5, acc19_5); acc19_6 = fma(a19, b6, acc19_6); acc19_7 = fma(a19, b7, acc19_7);
                acc20_0 = fma(a20, b0, acc20_0); acc20_1 = fma(a20, b1, acc20_1); acc20_2 = fma(a20, b2, acc20_2); acc20_3 = fma(a20, b3, acc20_3); acc20_4 = fma(a20, b4, acc20_4); acc20_5 = fma(a20, b5, acc20_5); acc20_6 = fma(a20, b6, acc20_6); acc20_7 = fma(a20, b7, acc20_7);
                acc21_0 = fma(a21, b0, acc21_0); acc21_1 = fma(a21, b1, acc21_1); acc21_2 = fma(a21, b2, acc21_2); acc21_3 = fma(a21, b3, acc21_3); acc21_4 = fma(a21, b4, acc21_4); acc21_5 = fma(a21, b5, acc21_5); acc21_6 = fma(a21, b6, acc21_6); acc21_7 = fma(a21, b7, acc21_7);
                acc22_0 = fma(a22, b0, acc22_0); acc22_1 = fma(a22, b1, acc22_1); acc22_2 = fma(a22, b2, acc22_2); acc22_3 = fma(a22, b3, acc22_3); acc22_4 = fma(a22, b4, acc22_4); acc22_5 = fma(a22, b5, acc22_5); acc22_6 = fma(a22, b6, acc22_6); acc22_7 = fma(a22, b7, acc22_7);
                acc23_0 = fma(a23, b0, acc23_0); acc23_1 = fma(a23, b1, acc23_1); acc23_2 = fma(a23, b2, acc23_2); acc23_3 = fma(a23, b3, acc23_3); acc23_4 = fma(a23, b4, acc23_4); acc23_5 = fma(a23, b5, acc23_5); acc23_6 = fma(a23, b6, acc23_6); acc23_7 = fma(a23, b7, acc23_7);
                acc24_0 = fma(a24, b0, acc24_0); acc24_1 = fma(a24, b1, acc24_1); acc24_2 = fma(a24, b2, acc24_2); acc24_3 = fma(a24, b3, acc24_3); acc24_4 = fma(a24, b4, acc24_4); acc24_5 = fma(a24, b5, acc24_5); acc24_6 = fma(a24, b6, acc24_6); acc24_7 = fma(a24, b7, acc24_7);
                acc25_0 = fma(a25, b0, acc25_0); acc25_1 = fma(a25, b1, acc25_1); acc25_2 = fma(a25, b2, acc25_2); acc25_3 = fma(a25, b3, acc25_3); acc25_4 = fma(a25, b4, acc25_4); acc25_5 = fma(a25, b5, acc25_5); acc25_6 = fma(a25, b6, acc25_6); acc25_7 = fma(a25, b7, acc25_7);
                acc26_0 = fma(a26, b0, acc26_0); acc26_1 = fma(a26, b1, acc26_1); acc26_2 = fma(a26, b2, acc26_2); acc26_3 = fma(a26, b3, acc26_3); acc26_4 = fma(a26, b4, acc26_4); acc26_5 = fma(a26, b5, acc26_5); acc26_6 = fma(a26, b6, acc26_6); acc26_7 = fma(a26, b7, acc26_7);
                acc27_0 = fma(a27, b0, acc27_0); acc27_1 = fma(a27, b1, acc27_1); acc27_2 = fma(a27, b2, acc27_2); acc27_3 = fma(a27, b3, acc27_3); acc27_4 = fma(a27, b4, acc27_4); acc27_5 = fma(a27, b5, acc27_5); acc27_6 = fma(a27, b6, acc27_6); acc27_7 = fma(a27, b7, acc27_7);
                acc28_0 = fma(a28, b0, acc28_0); acc28_1 = fma(a28, b1, acc28_1); acc28_2 = fma(a28, b2, acc28_2); acc28_3 = fma(a28, b3, acc28_3); acc28_4 = fma(a28, b4, acc28_4); acc28_5 = fma(a28, b5, acc28_5); acc28_6 = fma(a28, b6, acc28_6); acc28_7 = fma(a28, b7, acc28_7);
                acc29_0 = fma(a29, b0, acc29_0); acc29_1 = fma(a29, b1, acc29_1); acc29_2 = fma(a29, b2, acc29_2); acc29_3 = fma(a29, b3, acc29_3); acc29_4 = fma(a29, b4, acc29_4); acc29_5 = fma(a29, b5, acc29_5); acc29_6 = fma(a29, b6, acc29_6); acc29_7 = fma(a29, b7, acc29_7);
                acc30_0 = fma(a30, b0, acc30_0); acc30_1 = fma(a30, b1, acc30_1); acc30_2 = fma(a30, b2, acc30_2); acc30_3 = fma(a30, b3, acc30_3); acc30_4 = fma(a30, b4, acc30_4); acc30_5 = fma(a30, b5, acc30_5); acc30_6 = fma(a30, b6, acc30_6); acc30_7 = fma(a30, b7, acc30_7);
                acc31_0 = fma(a31, b0, acc31_0); acc31_1 = fma(a31, b1, acc31_1); acc31_2 = fma(a31, b2, acc31_2); acc31_3 = fma(a31, b3, acc31_3); acc31_4 = fma(a31, b4, acc31_4); acc31_5 = fma(a31, b5, acc31_5); acc31_6 = fma(a31, b6, acc31_6); acc31_7 = fma(a31, b7, acc31_7);
            }
        }
    }
    var acc = array<array<f32, 8>, 32>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
        array<f32, 8>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4, acc8_5, acc8_6, acc8_7),
        array<f32, 8>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4, acc9_5, acc9_6, acc9_7),
        array<f32, 8>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4, acc10_5, acc10_6, acc10_7),
        array<f32, 8>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4, acc11_5, acc11_6, acc11_7),
        array<f32, 8>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4, acc12_5, acc12_6, acc12_7),
        array<f32, 8>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4, acc13_5, acc13_6, acc13_7),
        array<f32, 8>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4, acc14_5, acc14_6, acc14_7),
        array<f32, 8>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4, acc15_5, acc15_6, acc15_7),
        array<f32, 8>(acc16_0, acc16_1, acc16_2, acc16_3, acc16_4, acc16_5, acc16_6, acc16_7),
        array<f32, 8>(acc17_0, acc17_1, acc17_2, acc17_3, acc17_4, acc17_5, acc17_6, acc17_7),
        array<f32, 8>(acc18_0, acc18_1, acc18_2, acc18_3, acc18_4, acc18_5, acc18_6, acc18_7),
        array<f32, 8>(acc19_0, acc19_1, acc19_2, acc19_3, acc19_4, acc19_5, acc19_6, acc19_7),
        array<f32, 8>(acc20_0, acc20_1, acc20_2, acc20_3, acc20_4, acc20_5, acc20_6, acc20_7),
        array<f32, 8>(acc21_0, acc21_1, acc21_2, acc21_3, acc21_4, acc21_5, acc21_6, acc21_7),
        array<f32, 8>(acc22_0, acc22_1, acc22_2, acc22_3, acc22_4, acc22_5, acc22_6, acc22_7),
        array<f32, 8>(acc23_0, acc23_1, acc23_2, acc23_3, acc23_4, acc23_5, acc23_6, acc23_7),
        array<f32, 8>(acc24_0, acc24_1, acc24_2, acc24_3, acc24_4, acc24_5, acc24_6, acc24_7),
        array<f32, 8>(acc25_0, acc25_1, acc25_2, acc25_3, acc25_4, acc25_5, acc25_6, acc25_7),
        array<f32, 8>(acc26_0, acc26_1, acc26_2, acc26_3, acc26_4, acc26_5, acc26_6, acc26_7),
        array<f32, 8>(acc27_0, acc27_1, acc27_2, acc27_3, acc27_4, acc27_5, acc27_6, acc27_7),
        array<f32, 8>(acc28_0, acc28_1, acc28_2, acc28_3, acc28_4, acc28_5, acc28_6, acc28_7),
        array<f32, 8>(acc29_0, acc29_1, acc29_2, acc29_3, acc29_4, acc29_5, acc29_6, acc29_7),
        array<f32, 8>(acc30_0, acc30_1, acc30_2, acc30_3, acc30_4, acc30_5, acc30_6, acc30_7),
        array<f32, 8>(acc31_0, acc31_1, acc31_2, acc31_3, acc31_4, acc31_5, acc31_6, acc31_7),
    );
    let c_base = p.c_shift + img * p.c_img;
    for (var i = 0u; i < 32u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            var v = acc[i][j];
            if (HAS_BIAS) {
                v += bias[p.bias_shift + r];
            }
            let ci = c_base + r * p.c_row + col;
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
        }
    }
}

// dw for one tap (wg.z): rows are output channels (A = dy), columns input channels (B = x).
@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn conv_dw_subgroup8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let tap = wg.z;
    let ky = tap / p.kw;
    let kx = tap % p.kw;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let ramine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u) * p.a_rs;
    let cb0 = min(col0 + 0u * WG_X, p.n - 1u) * p.b_plane;
    let cb1 = min(col0 + 1u * WG_X, p.n - 1u) * p.b_plane;
    let cb2 = min(col0 + 2u * WG_X, p.n - 1u) * p.b_plane;
    let cb3 = min(col0 + 3u * WG_X, p.n - 1u) * p.b_plane;
    let cb4 = min(col0 + 4u * WG_X, p.n - 1u) * p.b_plane;
    let cb5 = min(col0 + 5u * WG_X, p.n - 1u) * p.b_plane;
    let cb6 = min(col0 + 6u * WG_X, p.n - 1u) * p.b_plane;
    let cb7 = min(col0 + 7u * WG_X, p.n - 1u) * p.b_plane;
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    let ys = valid_range(ky, p.h, p.oh);
    let xs = valid_range(kx, p.w, p.ow);
    for (var img = 0u; img < p.imgs; img++) {
        for (var oy = ys.x; oy < ys.y; oy++) {
            let iy = oy * p.stride + ky - p.pad;
            let a_row = p.a_shift + img * p.a_img + oy * p.ow * p.a_px;
            let b_row = p.b_shift + img * p.b_img + iy * p.w * p.b_px;
            for (var ox = xs.x; ox < xs.y; ox++) {
                let ao = a_row + ox * p.a_px;
                let bo = b_row + (ox * p.stride + kx - p.pad) * p.b_px;
                let a_mine0 = a[ao + ramine0];
                let a0 = subgroupBroadcast(a_mine0, 0u);
                let a1 = subgroupBroadcast(a_mine0, 1u);
                let a2 = subgroupBroadcast(a_mine0, 2u);
                let a3 = subgroupBroadcast(a_mine0, 3u);
                let a4 = subgroupBroadcast(a_mine0, 4u);
                let a5 = subgroupBroadcast(a_mine0, 5u);
                let a6 = subgroupBroadcast(a_mine0, 6u);
                let a7 = subgroupBroadcast(a_mine0, 7u);
                let b0 = b[bo + cb0];
                let b1 = b[bo + cb1];
                let b2 = b[bo + cb2];
                let b3 = b[bo + cb3];
                let b4 = b[bo + cb4];
                let b5 = b[bo + cb5];
                let b6 = b[bo + cb6];
                let b7 = b[bo + cb7];
                acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
                acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
                acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
                acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
                acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
                acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
                acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
                acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
            }
        }
    }
    var acc = array<array<f32, 8>, 8>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
    );
    let kk = p.kh * p.kw;
    for (var i = 0u; i < 8u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            let ci = p.c_shift + r * p.c_row + col * kk + tap;
            var v = acc[i][j];
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
        }
    }
}

// dw for one tap (wg.z): rows are output channels (A = dy), columns input channels (B = x).
@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn conv_dw_subgroup16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let tap = wg.z;
    let ky = tap / p.kw;
    let kx = tap % p.kw;
    let row0 = wg.y * 16u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let ramine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u) * p.a_rs;
    let ramine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u) * p.a_rs;
    let cb0 = min(col0 + 0u * WG_X, p.n - 1u) * p.b_plane;
    let cb1 = min(col0 + 1u * WG_X, p.n - 1u) * p.b_plane;
    let cb2 = min(col0 + 2u * WG_X, p.n - 1u) * p.b_plane;
    let cb3 = min(col0 + 3u * WG_X, p.n - 1u) * p.b_plane;
    let cb4 = min(col0 + 4u * WG_X, p.n - 1u) * p.b_plane;
    let cb5 = min(col0 + 5u * WG_X, p.n - 1u) * p.b_plane;
    let cb6 = min(col0 + 6u * WG_X, p.n - 1u) * p.b_plane;
    let cb7 = min(col0 + 7u * WG_X, p.n - 1u) * p.b_plane;
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0; var acc8_5 = 0.0; var acc8_6 = 0.0; var acc8_7 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0; var acc9_5 = 0.0; var acc9_6 = 0.0; var acc9_7 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0; var acc10_5 = 0.0; var acc10_6 = 0.0; var acc10_7 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0; var acc11_5 = 0.0; var acc11_6 = 0.0; var acc11_7 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0; var acc12_5 = 0.0; var acc12_6 = 0.0; var acc12_7 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0; var acc13_5 = 0.0; var acc13_6 = 0.0; var acc13_7 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0; var acc14_5 = 0.0; var acc14_6 = 0.0; var acc14_7 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0; var acc15_5 = 0.0; var acc15_6 = 0.0; var acc15_7 = 0.0;
    let ys = valid_range(ky, p.h, p.oh);
    let xs = valid_range(kx, p.w, p.ow);
    for (var img = 0u; img < p.imgs; img++) {
        for (var oy = ys.x; oy < ys.y; oy++) {
            let iy = oy * p.stride + ky - p.pad;
            let a_row = p.a_shift + img * p.a_img + oy * p.ow * p.a_px;
            let b_row = p.b_shift + img * p.b_img + iy * p.w * p.b_px;
            for (var ox = xs.x; ox < xs.y; ox++) {
                let ao = a_row + ox * p.a_px;
                let bo = b_row + (ox * p.stride + kx - p.pad) * p.b_px;
                let a_mine0 = a[ao + ramine0];
                let a_mine1 = a[ao + ramine1];
                let a0 = subgroupBroadcast(a_mine0, 0u);
                let a1 = subgroupBroadcast(a_mine0, 1u);
                let a2 = subgroupBroadcast(a_mine0, 2u);
                let a3 = subgroupBroadcast(a_mine0, 3u);
                let a4 = subgroupBroadcast(a_mine0, 4u);
                let a5 = subgroupBroadcast(a_mine0, 5u);
                let a6 = subgroupBroadcast(a_mine0, 6u);
                let a7 = subgroupBroadcast(a_mine0, 7u);
                let a8 = subgroupBroadcast(a_mine1, 0u);
                let a9 = subgroupBroadcast(a_mine1, 1u);
                let a10 = subgroupBroadcast(a_mine1, 2u);
                let a11 = subgroupBroadcast(a_mine1, 3u);
                let a12 = subgroupBroadcast(a_mine1, 4u);
                let a13 = subgroupBroadcast(a_mine1, 5u);
                let a14 = subgroupBroadcast(a_mine1, 6u);
                let a15 = subgroupBroadcast(a_mine1, 7u);
                let b0 = b[bo + cb0];
                let b1 = b[bo + cb1];
                let b2 = b[bo + cb2];
                let b3 = b[bo + cb3];
                let b4 = b[bo + cb4];
                let b5 = b[bo + cb5];
                let b6 = b[bo + cb6];
                let b7 = b[bo + cb7];
                acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
                acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
                acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
                acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
                acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
                acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
                acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
                acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
                acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4); acc8_5 = fma(a8, b5, acc8_5); acc8_6 = fma(a8, b6, acc8_6); acc8_7 = fma(a8, b7, acc8_7);
                acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4); acc9_5 = fma(a9, b5, acc9_5); acc9_6 = fma(a9, b6, acc9_6); acc9_7 = fma(a9, b7, acc9_7);
                acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4); acc10_5 = fma(a10, b5, acc10_5); acc10_6 = fma(a10, b6, acc10_6); acc10_7 = fma(a10, b7, acc10_7);
                acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4); acc11_5 = fma(a11, b5, acc11_5); acc11_6 = fma(a11, b6, acc11_6); acc11_7 = fma(a11, b7, acc11_7);
                acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4); acc12_5 = fma(a12, b5, acc12_5); acc12_6 = fma(a12, b6, acc12_6); acc12_7 = fma(a12, b7, acc12_7);
                acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4); acc13_5 = fma(a13, b5, acc13_5); acc13_6 = fma(a13, b6, acc13_6); acc13_7 = fma(a13, b7, acc13_7);
                acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4); acc14_5 = fma(a14, b5, acc14_5); acc14_6 = fma(a14, b6, acc14_6); acc14_7 = fma(a14, b7, acc14_7);
                acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4); acc15_5 = fma(a15, b5, acc15_5); acc15_6 = fma(a15, b6, acc15_6); acc15_7 = fma(a15, b7, acc15_7);
            }
        }
    }
    var acc = array<array<f32, 8>, 16>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
        array<f32, 8>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4, acc8_5, acc8_6, acc8_7),
        array<f32, 8>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4, acc9_5, acc9_6, acc9_7),
        array<f32, 8>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4, acc10_5, acc10_6, acc10_7),
        array<f32, 8>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4, acc11_5, acc11_6, acc11_7),
        array<f32, 8>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4, acc12_5, acc12_6, acc12_7),
        array<f32, 8>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4, acc13_5, acc13_6, acc13_7),
        array<f32, 8>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4, acc14_5, acc14_6, acc14_7),
        array<f32, 8>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4, acc15_5, acc15_6, acc15_7),
    );
    let kk = p.kh * p.kw;
    for (var i = 0u; i < 16u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            let ci = p.c_shift + r * p.c_row + col * kk + tap;
            var v = acc[i][j];
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
        }
    }
}

// dw for one tap (wg.z): rows are output channels (A = dy), columns input channels (B = x).
@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn conv_dw_subgroup32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let tap = wg.z;
    let ky = tap / p.kw;
    let kx = tap % p.kw;
    let row0 = wg.y * 32u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let ramine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u) * p.a_rs;
    let ramine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u) * p.a_rs;
    let ramine2 = min(row0 + (lane % 8u + 16u) * WG_Y, p.m - 1u) * p.a_rs;
    let ramine3 = min(row0 + (lane % 8u + 24u) * WG_Y, p.m - 1u) * p.a_rs;
    let cb0 = min(col0 + 0u * WG_X, p.n - 1u) * p.b_plane;
    let cb1 = min(col0 + 1u * WG_X, p.n - 1u) * p.b_plane;
    let cb2 = min(col0 + 2u * WG_X, p.n - 1u) * p.b_plane;
    let cb3 = min(col0 + 3u * WG_X, p.n - 1u) * p.b_plane;
    let cb4 = min(col0 + 4u * WG_X, p.n - 1u) * p.b_plane;
    let cb5 = min(col0 + 5u * WG_X, p.n - 1u) * p.b_plane;
    let cb6 = min(col0 + 6u * WG_X, p.n - 1u) * p.b_plane;
    let cb7 = min(col0 + 7u * WG_X, p.n - 1u) * p.b_plane;
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0; var acc8_5 = 0.0; var acc8_6 = 0.0; var acc8_7 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0; var acc9_5 = 0.0; var acc9_6 = 0.0; var acc9_7 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0; var acc10_5 = 0.0; var acc10_6 = 0.0; var acc10_7 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0; var acc11_5 = 0.0; var acc11_6 = 0.0; var acc11_7 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0; var acc12_5 = 0.0; var acc12_6 = 0.0; var acc12_7 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0; var acc13_5 = 0.0; var acc13_6 = 0.0; var acc13_7 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0; var acc14_5 = 0.0; var acc14_6 = 0.0; var acc14_7 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0; var acc15_5 = 0.0; var acc15_6 = 0.0; var acc15_7 = 0.0;
    var acc16_0 = 0.0; var acc16_1 = 0.0; var acc16_2 = 0.0; var acc16_3 = 0.0; var acc16_4 = 0.0; var acc16_5 = 0.0; var acc16_6 = 0.0; var acc16_7 = 0.0;
    var acc17_0 = 0.0; var acc17_1 = 0.0; var acc17_2 = 0.0; var acc17_3 = 0.0; var acc17_4 = 0.0; var acc17_5 = 0.0; var acc17_6 = 0.0; var acc17_7 = 0.0;
    var acc18_0 = 0.0; var acc18_1 = 0.0; var acc18_2 = 0.0; var acc18_3 = 0.0; var acc18_4 = 0.0; var acc18_5 = 0.0; var acc18_6 = 0.0; var acc18_7 = 0.0;
    var acc19_0 = 0.0; var acc19_1 = 0.0; var acc19_2 = 0.0; var acc19_3 = 0.0; var acc19_4 = 0.0; var acc19_5 = 0.0; var acc19_6 = 0.0; var acc19_7 = 0.0;
    var acc20_0 = 0.0; var acc20_1 = 0.0; var acc20_2 = 0.0; var acc20_3 = 0.0; var acc20_4 = 0.0; var acc20_5 = 0.0; var acc20_6 = 0.0; var acc20_7 = 0.0;
    var acc21_0 = 0.0; var acc21_1 = 0.0; var acc21_2 = 0.0; var acc21_3 = 0.0; var acc21_4 = 0.0; var acc21_5 = 0.0; var acc21_6 = 0.0; var acc21_7 = 0.0;
    var acc22_0 = 0.0; var acc22_1 = 0.0; var acc22_2 = 0.0; var acc22_3 = 0.0; var acc22_4 = 0.0; var acc22_5 = 0.0; var acc22_6 = 0.0; var acc22_7 = 0.0;
    var acc23_0 = 0.0; var acc23_1 = 0.0; var acc23_2 = 0.0; var acc23_3 = 0.0; var acc23_4 = 0.0; var acc23_5 = 0.0; var acc23_6 = 0.0; var acc23_7 = 0.0;
    var acc24_0 = 0.0; var acc24_1 = 0.0; var acc24_2 = 0.0; var acc24_3 = 0.0; var acc24_4 = 0.0; var acc24_5 = 0.0; var acc24_6 = 0.0; var acc24_7 = 0.0;
    var acc25_0 = 0.0; var acc25_1 = 0.0; var acc25_2 = 0.0; var acc25_3 = 0.0; var acc25_4 = 0.0; var acc25_5 = 0.0; var acc25_6 = 0.0; var acc25_7 = 0.0;
    var acc26_0 = 0.0; var acc26_1 = 0.0; var acc26_2 = 0.0; var acc26_3 = 0.0; var acc26_4 = 0.0; var acc26_5 = 0.0; var acc26_6 = 0.0; var acc26_7 = 0.0;
    var acc27_0 = 0.0; var acc27_1 = 0.0; var acc27_2 = 0.0; var acc27_3 = 0.0; var acc27_4 = 0.0; var acc27_5 = 0.0; var acc27_6 = 0.0; var acc27_7 = 0.0;
    var acc28_0 = 0.0; var acc28_1 = 0.0; var acc28_2 = 0.0; var acc28_3 = 0.0; var acc28_4 = 0.0; var acc28_5 = 0.0; var acc28_6 = 0.0; var acc28_7 = 0.0;
    var acc29_0 = 0.0; var acc29_1 = 0.0; var acc29_2 = 0.0; var acc29_3 = 0.0; var acc29_4 = 0.0; var acc29_5 = 0.0; var acc29_6 = 0.0; var acc29_7 = 0.0;
    var acc30_0 = 0.0; var acc30_1 = 0.0; var acc30_2 = 0.0; var acc30_3 = 0.0; var acc30_4 = 0.0; var acc30_5 = 0.0; var acc30_6 = 0.0; var acc30_7 = 0.0;
    var acc31_0 = 0.0; var acc31_1 = 0.0; var acc31_2 = 0.0; var acc31_3 = 0.0; var acc31_4 = 0.0; var acc31_5 = 0.0; var acc31_6 = 0.0; var acc31_7 = 0.0;
    let ys = valid_range(ky, p.h, p.oh);
    let xs = valid_range(kx, p.w, p.ow);
    for (var img = 0u; img < p.imgs; img++) {
        for (var oy = ys.x; oy < ys.y; oy++) {
            let iy = oy * p.stride + ky - p.pad;
            let a_row = p.a_shift + img * p.a_img + oy * p.ow * p.a_px;
            let b_row = p.b_shift + img * p.b_img + iy * p.w * p.b_px;
            for (var ox = xs.x; ox < xs.y; ox++) {
                let ao = a_row + ox * p.a_px;
                let bo = b_row + (ox * p.stride + kx - p.pad) * p.b_px;
                let a_mine0 = a[ao + ramine0];
                let a_mine1 = a[ao + ramine1];
                let a_mine2 = a[ao + ramine2];
                let a_mine3 = a[ao + ramine3];
                let a0 = subgroupBroadcast(a_mine0, 0u);
                let a1 = subgroupBroadcast(a_mine0, 1u);
                let a2 = subgroupBroadcast(a_mine0, 2u);
                let a3 = subgroupBroadcast(a_mine0, 3u);
                let a4 = subgroupBroadcast(a_mine0, 4u);
                let a5 = subgroupBroadcast(a_mine0, 5u);
                let a6 = subgroupBroadcast(a_mine0, 6u);
                let a7 = subgroupBroadcast(a_mine0, 7u);
                let a8 = subgroupBroadcast(a_mine1, 0u);
                let a9 = subgroupBroadcast(a_mine1, 1u);
                let a10 = subgroupBroadcast(a_mine1, 2u);
                let a11 = subgroupBroadcast(a_mine1, 3u);
                let a12 = subgroupBroadcast(a_mine1, 4u);
                let a13 = subgroupBroadcast(a_mine1, 5u);
                let a14 = subgroupBroadcast(a_mine1, 6u);
                let a15 = subgroupBroadcast(a_mine1, 7u);
                let a16 = subgroupBroadcast(a_mine2, 0u);
                let a17 = subgroupBroadcast(a_mine2, 1u);
                let a18 = subgroupBroadcast(a_mine2, 2u);
                let a19 = subgroupBroadcast(a_mine2, 3u);
                let a20 = subgroupBroadcast(a_mine2, 4u);
                let a21 = subgroupBroadcast(a_mine2, 5u);
                let a22 = subgroupBroadcast(a_mine2, 6u);
                let a23 = subgroupBroadcast(a_mine2, 7u);
                let a24 = subgroupBroadcast(a_mine3, 0u);
                let a25 = subgroupBroadcast(a_mine3, 1u);
                let a26 = subgroupBroadcast(a_mine3, 2u);
                let a27 = subgroupBroadcast(a_mine3, 3u);
                let a28 = subgroupBroadcast(a_mine3, 4u);
                let a29 = subgroupBroadcast(a_mine3, 5u);
                let a30 = subgroupBroadcast(a_mine3, 6u);
                let a31 = subgroupBroadcast(a_mine3, 7u);
                let b0 = b[bo + cb0];
                let b1 = b[bo + cb1];
                let b2 = b[bo + cb2];
                let b3 = b[bo + cb3];
                let b4 = b[bo + cb4];
                let b5 = b[bo + cb5];
                let b6 = b[bo + cb6];
                let b7 = b[bo + cb7];
                acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
                acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
                acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
                acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
                acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
                acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
                acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
                acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
                acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4); acc8_5 = fma(a8, b5, acc8_5); acc8_6 = fma(a8, b6, acc8_6); acc8_7 = fma(a8, b7, acc8_7);
                acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4); acc9_5 = fma(a9, b5, acc9_5); acc9_6 = fma(a9, b6, acc9_6); acc9_7 = fma(a9, b7, acc9_7);
                acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4); acc10_5 = fma(a10, b5, acc10_5); acc10_6 = fma(a10, b6, acc10_6); acc10_7 = fma(a10, b7, acc10_7);
                acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4); acc11_5 = fma(a11, b5, acc11_5); acc11_6 = fma(a11, b6, acc11_6); acc11_7 = fma(a11, b7, acc11_7);
                acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4); acc12_5 = fma(a12, b5, acc12_5); acc12_6 = fma(a12, b6, acc12_6); acc12_7 = fma(a12, b7, acc12_7);
                acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4); acc13_5 = fma(a13, b5, acc13_5); acc13_6 = fma(a13, b6, acc13_6); acc13_7 = fma(a13, b7, acc13_7);
                acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4); acc14_5 = fma(a14, b5, acc14_5); acc14_6 = fma(a14, b6, acc14_6); acc14_7 = fma(a14, b7, acc14_7);
                acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4); acc15_5 = fma(a15, b5, acc15_5); acc15_6 = fma(a15, b6, acc15_6); acc15_7 = fma(a15, b7, acc15_7);
                acc16_0 = fma(a16, b0, acc16_0); acc16_1 = fma(a16, b1, acc16_1); acc16_2 = fma(a16, b2, acc16_2); acc16_3 = fma(a16, b3, acc16_3); acc16_4 = fma(a16, b4, acc16_4); acc16_5 = fma(a16, b5, acc16_5); acc16_6 = fma(a16, b6, acc16_6); acc16_7 = fma(a16, b7, acc16_7);
                acc17_0 = fma(a17, b0, acc17_0); acc17_1 = fma(a17, b1, acc17_1); acc17_2 = fma(a17, b2, acc17_2); acc17_3 = fma(a17, b3, acc17_3); acc17_4 = fma(a17, b4, acc17_4); acc17_5 = fma(a17, b5, acc17_5); acc17_6 = fma(a17, b6, acc17_6); acc17_7 = fma(a17, b7, acc17_7);
                acc18_0 = fma(a18, b0, acc18_0); acc18_1 = fma(a18, b1, acc18_1); acc18_2 = fma(a18, b2, acc18_2); acc18_3 = fma(a18, b3, acc18_3); acc18_4 = fma(a18, b4, acc18_4); acc18_5 = fma(a18, b5, acc18_5); acc18_6 = fma(a18, b6, acc18_6); acc18_7 = fma(a18, b7, acc18_7);
                acc19_0 = fma(a19, b0, acc19_0); acc19_1 = fma(a19, b1, acc19_1); acc19_2 = fma(a19, b2, acc19_2); acc19_3 = fma(a19, b3, acc19_3); acc19_4 = fma(a19, b4, acc19_4); acc19_5 = fma(a19, b5, acc19_5); acc19_6 = fma(a19, b6, acc19_6); acc19_7 = fma(a19, b7, acc19_7);
                acc20_0 = fma(a20, b0, acc20_0); acc20_1 = fma(a20, b1, acc20_1); acc20_2 = fma(a20, b2, acc20_2); acc20_3 = fma(a20, b3, acc20_3); acc20_4 = fma(a20, b4, acc20_4); acc20_5 = fma(a20, b5, acc20_5); acc20_6 = fma(a20, b6, acc20_6); acc20_7 = fma(a20, b7, acc20_7);
                acc21_0 = fma(a21, b0, acc21_0); acc21_1 = fma(a21, b1, acc21_1); acc21_2 = fma(a21, b2, acc21_2); acc21_3 = fma(a21, b3, acc21_3); acc21_4 = fma(a21, b4, acc21_4); acc21_5 = fma(a21, b5, acc21_5); acc21_6 = fma(a21, b6, acc21_6); acc21_7 = fma(a21, b7, acc21_7);
                acc22_0 = fma(a22, b0, acc22_0); acc22_1 = fma(a22, b1, acc22_1); acc22_2 = fma(a22, b2, acc22_2); acc22_3 = fma(a22, b3, acc22_3); acc22_4 = fma(a22, b4, acc22_4); acc22_5 = fma(a22, b5, acc22_5); acc22_6 = fma(a22, b6, acc22_6); acc22_7 = fma(a22, b7, acc22_7);
                acc23_0 = fma(a23, b0, acc23_0); acc23_1 = fma(a23, b1, acc23_1); acc23_2 = fma(a23, b2, acc23_2); acc23_3 = fma(a23, b3, acc23_3); acc23_4 = fma(a23, b4, acc23_4); acc23_5 = fma(a23, b5, acc23_5); acc23_6 = fma(a23, b6, acc23_6); acc23_7 = fma(a23, b7, acc23_7);
                acc24_0 = fma(a24, b0, acc24_0); acc24_1 = fma(a24, b1, acc24_1); acc24_2 = fma(a24, b2, acc24_2); acc24_3 = fma(a24, b3, acc24_3); acc24_4 = fma(a24, b4, acc24_4); acc24_5 = fma(a24, b5, acc24_5); acc24_6 = fma(a24, b6, acc24_6); acc24_7 = fma(a24, b7, acc24_7);
                acc25_0 = fma(a25, b0, acc25_0); acc25_1 = fma(a25, b1, acc25_1); acc25_2 = fma(a25, b2, acc25_2); acc25_3 = fma(a25, b3, acc25_3); acc25_4 = fma(a25, b4, acc25_4); acc25_5 = fma(a25, b5, acc25_5); acc25_6 = fma(a25, b6, acc25_6); acc25_7 = fma(a25, b7, acc25_7);
                acc26_0 = fma(a26, b0, acc26_0); acc26_1 = fma(a26, b1, acc26_1); acc26_2 = fma(a26, b2, acc26_2); acc26_3 = fma(a26, b3, acc26_3); acc26_4 = fma(a26, b4, acc26_4); acc26_5 = fma(a26, b5, acc26_5); acc26_6 = fma(a26, b6, acc26_6); acc26_7 = fma(a26, b7, acc26_7);
                acc27_0 = fma(a27, b0, acc27_0); acc27_1 = fma(a27, b1, acc27_1); acc27_2 = fma(a27, b2, acc27_2); acc27_3 = fma(a27, b3, acc27_3); acc27_4 = fma(a27, b4, acc27_4); acc27_5 = fma(a27, b5, acc27_5); acc27_6 = fma(a27, b6, acc27_6); acc27_7 = fma(a27, b7, acc27_7);
                acc28_0 = fma(a28, b0, acc28_0); acc28_1 = fma(a28, b1, acc28_1); acc28_2 = fma(a28, b2, acc28_2); acc28_3 = fma(a28, b3, acc28_3); acc28_4 = fma(a28, b4, acc28_4); acc28_5 = fma(a28, b5, acc28_5); acc28_6 = fma(a28, b6, acc28_6); acc28_7 = fma(a28, b7, acc28_7);
                acc29_0 = fma(a29, b0, acc29_0); acc29_1 = fma(a29, b1, acc29_1); acc29_2 = fma(a29, b2, acc29_2); acc29_3 = fma(a29, b3, acc29_3); acc29_4 = fma(a29, b4, acc29_4); acc29_5 = fma(a29, b5, acc29_5); acc29_6 = fma(a29, b6, acc29_6); acc29_7 = fma(a29, b7, acc29_7);
                acc30_0 = fma(a30, b0, acc30_0); acc30_1 = fma(a30, b1, acc30_1); acc30_2 = fma(a30, b2, acc30_2); acc30_3 = fma(a30, b3, acc30_3); acc30_4 = fma(a30, b4, acc30_4); acc30_5 = fma(a30, b5, acc30_5); acc30_6 = fma(a30, b6, acc30_6); acc30_7 = fma(a30, b7, acc30_7);
                acc31_0 = fma(a31, b0, acc31_0); acc31_1 = fma(a31, b1, acc31_1); acc31_2 = fma(a31, b2, acc31_2); acc31_3 = fma(a31, b3, acc31_3); acc31_4 = fma(a31, b4, acc31_4); acc31_5 = fma(a31, b5, acc31_5); acc31_6 = fma(a31, b6, acc31_6); acc31_7 = fma(a31, b7, acc31_7);
            }
        }
    }
    var acc = array<array<f32, 8>, 32>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
        array<f32, 8>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4, acc8_5, acc8_6, acc8_7),
        array<f32, 8>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4, acc9_5, acc9_6, acc9_7),
        array<f32, 8>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4, acc10_5, acc10_6, acc10_7),
        array<f32, 8>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4, acc11_5, acc11_6, acc11_7),
        array<f32, 8>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4, acc12_5, acc12_6, acc12_7),
        array<f32, 8>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4, acc13_5, acc13_6, acc13_7),
        array<f32, 8>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4, acc14_5, acc14_6, acc14_7),
        array<f32, 8>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4, acc15_5, acc15_6, acc15_7),
        array<f32, 8>(acc16_0, acc16_1, acc16_2, acc16_3, acc16_4, acc16_5, acc16_6, acc16_7),
        array<f32, 8>(acc17_0, acc17_1, acc17_2, acc17_3, acc17_4, acc17_5, acc17_6, acc17_7),
        array<f32, 8>(acc18_0, acc18_1, acc18_2, acc18_3, acc18_4, acc18_5, acc18_6, acc18_7),
        array<f32, 8>(acc19_0, acc19_1, acc19_2, acc19_3, acc19_4, acc19_5, acc19_6, acc19_7),
        array<f32, 8>(acc20_0, acc20_1, acc20_2, acc20_3, acc20_4, acc20_5, acc20_6, acc20_7),
        array<f32, 8>(acc21_0, acc21_1, acc21_2, acc21_3, acc21_4, acc21_5, acc21_6, acc21_7),
        array<f32, 8>(acc22_0, acc22_1, acc22_2, acc22_3, acc22_4, acc22_5, acc22_6, acc22_7),
        array<f32, 8>(acc23_0, acc23_1, acc23_2, acc23_3, acc23_4, acc23_5, acc23_6, acc23_7),
        array<f32, 8>(acc24_0, acc24_1, acc24_2, acc24_3, acc24_4, acc24_5, acc24_6, acc24_7),
        array<f32, 8>(acc25_0, acc25_1, acc25_2, acc25_3, acc25_4, acc25_5, acc25_6, acc25_7),
        array<f32, 8>(acc26_0, acc26_1, acc26_2, acc26_3, acc26_4, acc26_5, acc26_6, acc26_7),
        array<f32, 8>(acc27_0, acc27_1, acc27_2, acc27_3, acc27_4, acc27_5, acc27_6, acc27_7),
        array<f32, 8>(acc28_0, acc28_1, acc28_2, acc28_3, acc28_4, acc28_5, acc28_6, acc28_7),
        array<f32, 8>(acc29_0, acc29_1, acc29_2, acc29_3, acc29_4, acc29_5, acc29_6, acc29_7),
        array<f32, 8>(acc30_0, acc30_1, acc30_2, acc30_3, acc30_4, acc30_5, acc30_6, acc30_7),
        array<f32, 8>(acc31_0, acc31_1, acc31_2, acc31_3, acc31_4, acc31_5, acc31_6, acc31_7),
    );
    let kk = p.kh * p.kw;
    for (var i = 0u; i < 32u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            let ci = p.c_shift + r * p.c_row + col * kk + tap;
            var v = acc[i][j];
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
        }
    }
}
