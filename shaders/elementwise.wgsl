// Element-wise kernels: unary ops with their backward, broadcasting binary ops, fill, and
// dropout masks.
//
// Specialisation: OP (u32), the op code; BROADCAST (bool) for `binary`.
// Unary op codes (forward y = f(x); backward dx = dy * f'(x), from the saved input x):
//   0 affine     y = alpha * x + beta
//   1 exp        2 log        3 sqrt        4 tanh        5 sigmoid      6 relu
//   7 silu       x * sigmoid(x)
//   8 gelu       0.5 x (1 + erf(x / sqrt 2))                       (PyTorch approximate='none')
//   9 gelu_tanh  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))    (approximate='tanh')
//  10 quick_gelu x * sigmoid(1.702 x)                               (CLIP)
//  11 square
// Binary op codes: 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min.
//
// Work is 1-D; the grid is 2-D to stay under 65535 workgroups per dimension.

struct UnaryParams {
    n: u32, x_shift: u32, y_shift: u32, dy_shift: u32,
    alpha: f32, beta: f32, seed_lo: u32, seed_hi: u32,   // seeds: `dropout_mask` only
}

struct BinaryParams {
    n: u32, a_shift: u32, b_shift: u32, out_shift: u32,
    // Index of the first output element of this chunk in the whole output; for broadcast
    // inputs, the element offset their window starts at (subtracted after striding).
    base: u32, a_base: u32, b_base: u32, _p0: u32,
    dims_lo: vec4<u32>, dims_hi: vec4<u32>,         // output shape, 8 dims, right-aligned
    a_str_lo: vec4<u32>, a_str_hi: vec4<u32>,       // a's strides over the output's dims (0 = broadcast)
    b_str_lo: vec4<u32>, b_str_hi: vec4<u32>,
}

@group(0) @binding(0) var<uniform> up: UnaryParams;
@group(0) @binding(1) var<storage, read> ux: array<f32>;
@group(0) @binding(2) var<storage, read_write> uy: array<f32>;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * 256u + lid;
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), good to f32 rounding.
fn erf_f32(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return select(r - 1.0, 1.0 - r, x >= 0.0);
}

fn tanh_safe(x: f32) -> f32 {
    // tanh() of large |x| can produce NaN on some drivers (exp overflow): clamp first.
    return tanh(clamp(x, -15.0, 15.0));
}

fn unary_f(x: f32) -> f32 {
    switch OP {
        case 0u: { return up.alpha * x + up.beta; }
        case 1u: { return exp(x); }
        case 2u: { return log(x); }
        case 3u: { return sqrt(x); }
        case 4u: { return tanh_safe(x); }
        case 5u: { return sigmoid(x); }
        case 6u: { return max(x, 0.0); }
        case 7u: { return x * sigmoid(x); }
        case 8u: { return 0.5 * x * (1.0 + erf_f32(x * INV_SQRT_2)); }
        case 9u: { return 0.5 * x * (1.0 + tanh_safe(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))); }
        case 10u: { return x * sigmoid(1.702 * x); }
        case 11u: { return x * x; }
        default: { return x; }
    }
}

// f'(x)
fn unary_df(x: f32) -> f32 {
    switch OP {
        case 0u: { return up.alpha; }
        case 1u: { return exp(x); }
        case 2u: { return 1.0 / x; }
        case 3u: { return 0.5 / sqrt(x); }
        case 4u: { let t = tanh_safe(x); return 1.0 - t * t; }
        case 5u: { let s = sigmoid(x); return s * (1.0 - s); }
        case 6u: { return select(0.0, 1.0, x > 0.0); }
        case 7u: { let s = sigmoid(x); return s * (1.0 + x * (1.0 - s)); }
        case 8u: { return 0.5 * (1.0 + erf_f32(x * INV_SQRT_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x); }
        case 9u: {
            let u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
            let t = tanh_safe(u);
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
        }
        case 10u: { let s = sigmoid(1.702 * x); return s + 1.702 * x * s * (1.0 - s); }
        case 11u: { return 2.0 * x; }
        default: { return 1.0; }
    }
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid);
    if (i >= up.n) { return; }
    uy[up.y_shift + i] = unary_f(ux[up.x_shift + i]);
}

// dx = dy * f'(x). Bindings: x (saved input), dy, dx.
@group(0) @binding(2) var<storage, read> ub_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> ub_dx: array<f32>;

@compute @workgroup_size(256)
fn unary_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid);
    if (i >= up.n) { return; }
    ub_dx[up.y_shift + i] = ub_dy[up.dy_shift + i] * unary_df(ux[up.x_shift + i]);
}

// Fill: y = alpha.
@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid);
    if (i >= up.n) { return; }
    uy[up.y_shift + i] = up.alpha;
}

// lowbias32 (Chris Wellons' integer hash): full avalanche, two multiplies.
fn hash32(x: u32) -> u32 {
    var h = x;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

// Inverted-dropout mask: y[i] = 0 with probability p (beta), else 1 / (1 - p) (alpha), drawn
// from the element's index in the whole tensor (dy_shift: this chunk's first) and the 64-bit
// seed (seed_lo, seed_hi): u = hash(hash(index ^ lo) + hi), dropped when its top 24 bits / 2^24
// fall below p. The same seed gives the same mask (a recomputed checkpointed block's); no
// host draw, no upload.
@compute @workgroup_size(256)
fn dropout_mask(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid);
    if (i >= up.n) { return; }
    let u = hash32(hash32((up.dy_shift + i) ^ up.seed_lo) + up.seed_hi);
    let r = f32(u >> 8u) / 16777216.0;
    uy[up.y_shift + i] = select(up.alpha, 0.0, r < up.beta);
}

@group(0) @binding(0) var<uniform> bp: BinaryParams;
@group(0) @binding(1) var<storage, read> ba: array<f32>;
@group(0) @binding(2) var<storage, read> bb: array<f32>;
@group(0) @binding(3) var<storage, read_write> bout: array<f32>;

fn binary_f(x: f32, y: f32) -> f32 {
    switch OP {
        case 0u: { return x + y; }
        case 1u: { return x - y; }
        case 2u: { return x * y; }
        case 3u: { return x / y; }
        case 4u: { return max(x, y); }
        case 5u: { return min(x, y); }
        default: { return x; }
    }
}

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid);
    if (i >= bp.n) { return; }
    var ia = i;
    var ib = i;
    if (BROADCAST) {
        // Decompose the global output index into coordinates, innermost first.
        var rem = bp.base + i;
        var sa = 0u;
        var sb = 0u;
        for (var d = 0u; d < 8u; d++) {
            let k = 7u - d;
            var dim: u32; var stra: u32; var strb: u32;
            if (k >= 4u) {
                dim = bp.dims_hi[k - 4u]; stra = bp.a_str_hi[k - 4u]; strb = bp.b_str_hi[k - 4u];
            } else {
                dim = bp.dims_lo[k]; stra = bp.a_str_lo[k]; strb = bp.b_str_lo[k];
            }
            let c = rem % dim;
            rem = rem / dim;
            sa += c * stra;
            sb += c * strb;
        }
        ia = sa - bp.a_base;
        ib = sb - bp.b_base;
    }
    bout[bp.out_shift + i] = binary_f(ba[bp.a_shift + ia], bb[bp.b_shift + ib]);
}
