// 2-D convolution, NCHW, any kernel size, stride and zero padding, as implicit GEMMs: the
// im2col matrix is never materialised, each load gathers from the image.
//
// Specialisation: MODE (u32), HAS_BIAS (bool).
//   MODE 0, forward:          y[n, co, p]     = bias[co] + sum_{ci,ky,kx} w[co, ci, ky, kx] x[n, ci, iy, ix]
//                             M = Co, N = OH*OW, K = Ci*KH*KW;  A = w, B = x (gathered), C = y
//   MODE 1, backward input:   dx[n, ci, q]    = sum_{co,ky,kx} w[co, ci, ky, kx] dy[n, co, oy, ox]
//                             M = Ci, N = H*W, K = Co*KH*KW;    A = w (gathered), B = dy (gathered), C = dx
//   MODE 2, backward weight:  dw[co, ci, ky, kx] = sum_{n,p} dy[n, co, p] x[n, ci, iy, ix]
//                             M = Co, N = Ci*KH*KW, K = imgs*OH*OW; A = dy, B = x (gathered), C = dw
// with iy = oy*stride - pad + ky (zero outside the image). Modes 0 and 1 put images on the
// workgroup z axis; mode 2 sums them in K. `beta` != 0 accumulates into C (the launcher splits
// channels and images into chunks that fit a storage binding).
// Tiling as gemm.wgsl: 16x16 invocations, 4x4 outputs each, columns 16 apart.

struct Params {
    m: u32, n: u32, k: u32, beta: f32,
    a_shift: u32, b_shift: u32, c_shift: u32, bias_shift: u32,
    h: u32, w: u32, oh: u32, ow: u32,
    kh: u32, kw: u32, stride: u32, pad: u32,
    a_row: u32, x_img: u32, y_img: u32, c_row: u32,
    c_img: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// x[img, ci, oy*stride - pad + ky, ox*stride - pad + kx], or 0 in the padding.
fn gather_x(img: u32, ci: u32, oy: u32, ox: u32, ky: u32, kx: u32) -> f32 {
    let iy = i32(oy * p.stride + ky) - i32(p.pad);
    let ix = i32(ox * p.stride + kx) - i32(p.pad);
    let inside = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
    let idx = select(0u, img * p.x_img + ci * p.h * p.w + u32(iy) * p.w + u32(ix), inside);
    return select(0.0, b[p.b_shift + idx], inside);
}

fn load_a(img: u32, row: u32, kk: u32) -> f32 {
    let kernel = p.kh * p.kw;
    switch MODE {
        case 0u: { return a[p.a_shift + row * p.a_row + kk]; }
        case 1u: { return a[p.a_shift + (kk / kernel) * p.a_row + row * kernel + kk % kernel]; }
        default: {
            let pix = p.oh * p.ow;
            return a[p.a_shift + (kk / pix) * p.y_img + row * pix + kk % pix];
        }
    }
}

fn load_b(img: u32, kk: u32, col: u32) -> f32 {
    let kernel = p.kh * p.kw;
    switch MODE {
        case 0u: {
            let r = kk % kernel;
            return gather_x(img, kk / kernel, col / p.ow, col % p.ow, r / p.kw, r % p.kw);
        }
        case 1u: {
            // dy[img, co, oy, ox] where oy*stride - pad + ky = iy, if such an output exists.
            let co = kk / kernel;
            let r = kk % kernel;
            let ty = i32(col / p.w) + i32(p.pad) - i32(r / p.kw);
            let tx = i32(col % p.w) + i32(p.pad) - i32(r % p.kw);
            let s = i32(p.stride);
            let oy = ty / s;
            let ox = tx / s;
            let valid = ty >= 0 && tx >= 0 && ty % s == 0 && tx % s == 0 && oy < i32(p.oh) && ox < i32(p.ow);
            let idx = select(0u, img * p.y_img + co * p.oh * p.ow + u32(oy) * p.ow + u32(ox), valid);
            return select(0.0, b[p.b_shift + idx], valid);
        }
        default: {
            let pix = p.oh * p.ow;
            let q = kk % pix;
            let r = col % kernel;
            return gather_x(kk / pix, col / kernel, q / p.ow, q % p.ow, r / p.kw, r % p.kw);
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let img = wg.z;
    let row0 = wg.y * 64u + lid.y;
    let col0 = wg.x * 64u + lid.x;
    var rows: array<u32, 4>;
    var cols: array<u32, 4>;
    for (var i = 0u; i < 4u; i++) {
        rows[i] = min(row0 + 16u * i, p.m - 1u);
        cols[i] = min(col0 + 16u * i, p.n - 1u);
    }
    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            acc[i][j] = 0.0;
        }
    }
    for (var kk = 0u; kk < p.k; kk++) {
        var av: array<f32, 4>;
        var bv: array<f32, 4>;
        for (var i = 0u; i < 4u; i++) {
            av[i] = load_a(img, rows[i], kk);
            bv[i] = load_b(img, kk, cols[i]);
        }
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    let c_base = p.c_shift + img * p.c_img;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + 16u * i;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + 16u * j;
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
