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

@compute @workgroup_size(WG_X, WG_Y, 1)
fn conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let img = wg.z;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let r0 = min(row0 + 0u * WG_Y, p.m - 1u);
    let r1 = min(row0 + 1u * WG_Y, p.m - 1u);
    let r2 = min(row0 + 2u * WG_Y, p.m - 1u);
    let r3 = min(row0 + 3u * WG_Y, p.m - 1u);
    let r4 = min(row0 + 4u * WG_Y, p.m - 1u);
    let r5 = min(row0 + 5u * WG_Y, p.m - 1u);
    let r6 = min(row0 + 6u * WG_Y, p.m - 1u);
    let r7 = min(row0 + 7u * WG_Y, p.m - 1u);
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
            let ra0 = p.a_shift + r0 * p.a_rs + tap;
            let ra1 = p.a_shift + r1 * p.a_rs + tap;
            let ra2 = p.a_shift + r2 * p.a_rs + tap;
            let ra3 = p.a_shift + r3 * p.a_rs + tap;
            let ra4 = p.a_shift + r4 * p.a_rs + tap;
            let ra5 = p.a_shift + r5 * p.a_rs + tap;
            let ra6 = p.a_shift + r6 * p.a_rs + tap;
            let ra7 = p.a_shift + r7 * p.a_rs + tap;
            for (var ch = 0u; ch < p.chans; ch++) {
                let ac = ch * p.a_cs;
                let bc = b_base + ch * p.b_plane;
                let a0 = a[ra0 + ac];
                let a1 = a[ra1 + ac];
                let a2 = a[ra2 + ac];
                let a3 = a[ra3 + ac];
                let a4 = a[ra4 + ac];
                let a5 = a[ra5 + ac];
                let a6 = a[ra6 + ac];
                let a7 = a[ra7 + ac];
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

// dw for one tap (wg.z): rows are output channels (A = dy), columns input channels (B = x).
@compute @workgroup_size(WG_X, WG_Y, 1)
fn conv_dw(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tap = wg.z;
    let ky = tap / p.kw;
    let kx = tap % p.kw;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let ra0 = min(row0 + 0u * WG_Y, p.m - 1u) * p.a_rs;
    let ra1 = min(row0 + 1u * WG_Y, p.m - 1u) * p.a_rs;
    let ra2 = min(row0 + 2u * WG_Y, p.m - 1u) * p.a_rs;
    let ra3 = min(row0 + 3u * WG_Y, p.m - 1u) * p.a_rs;
    let ra4 = min(row0 + 4u * WG_Y, p.m - 1u) * p.a_rs;
    let ra5 = min(row0 + 5u * WG_Y, p.m - 1u) * p.a_rs;
    let ra6 = min(row0 + 6u * WG_Y, p.m - 1u) * p.a_rs;
    let ra7 = min(row0 + 7u * WG_Y, p.m - 1u) * p.a_rs;
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
                let a0 = a[ao + ra0];
                let a1 = a[ao + ra1];
                let a2 = a[ao + ra2];
                let a3 = a[ao + ra3];
                let a4 = a[ao + ra4];
                let a5 = a[ao + ra5];
                let a6 = a[ao + ra6];
                let a7 = a[ao + ra7];
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
