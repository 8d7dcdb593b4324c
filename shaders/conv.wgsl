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
// (8 WG_Y) x (8 WG_X). The subgroup entries hold 8, 16 or 32 rows and
// take the rows' A values from lanes 0-7 by broadcast, as the GEMM subgroup kernels do.
// The loops put the tap outside the channel sum: for a fixed tap the pixel offsets and their
// padding masks are the same for every channel, so they are computed once per tap and the
// inner loop is a plain GEMM step, 16 loads for 64 FMAs. In `conv_dw` every invocation walks
// the same pixels, so the padding shows as loop bounds and the inner loop has no masks at all.
// (The previous kernel recomputed coordinates and bounds for every load and ran at 2.8
// GFLOP/s on lavapipe.) Accumulators are named scalars: as arrays, llvmpipe keeps them
// in memory. The entry points are therefore not in this file: Rust writes them after it from
// the kernel table `ops::conv::KERNELS` (`ops::blocked::conv_entry`, `conv_dw_entry`), the
// subgroup entries into a module of their own.
//
// Specialisation: MODE (u32: 0 or 1, for `conv`), HAS_BIAS (bool), WG_X, WG_Y (u32), A_DTYPE,
// B_DTYPE (u32): A's and B's storage, 0 f32, 1 f16, 2 bf16: A half for frozen half weights
// (always f32 in `conv_dw`, whose A is dy), B half for the image autocast keeps for backward
// (forward and `conv_dw`; dy in MODE 1 is f32). Both are bound as words and unpacked by
// `elem_a` / `elem_b`, as in gemm.wgsl.
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
    // split_chans: in `conv`, the summed channels of one split-K slice (wg.z / imgs; all of
    // them, one slice, unless the launcher splits); in `conv_dw`, the output rows (images x
    // OH) one slice sums (wg.z / taps), its copy of dw `c_img` after the previous one.
    cw: u32, a_px: u32, b_px: u32, split_chans: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Element i of A as f32, whatever its storage dtype (`half_at` is appended from Rust).
fn elem_a(i: u32) -> f32 {
    if (A_DTYPE == 0u) {
        return bitcast<f32>(a[i]);
    }
    return half_at(a[i >> 1u], i, A_DTYPE);
}

// Element i of B as f32, whatever its storage dtype.
fn elem_b(i: u32) -> f32 {
    if (B_DTYPE == 0u) {
        return bitcast<f32>(b[i]);
    }
    return half_at(b[i >> 1u], i, B_DTYPE);
}

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
