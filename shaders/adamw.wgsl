// The optimizer step, fused and in place, as torch.optim.AdamW (Loshchilov & Hutter 2019)
// computes it for one tensor:
//   p *= 1 - lr * weight_decay                      (decoupled weight decay)
//   m  = lerp(m, g, 1 - beta1)
//   v  = beta2 * v + (1 - beta2) * g^2
//   p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// A parameter that the update leaves NaN or Inf sets nonfinite[flag_any] and nonfinite[flag]
// (this tensor) to 1: the trainer reads element 0 with the next step's loss, no extra sync.
// adamw8_step is the same update with bitsandbytes' blockwise 8-bit moments (Dettmers et al.
// 2022, AdamW8bit): per block of 256 elements, 16 invocations dequantise m and v (code[q] x the
// block's absmax), update them and the parameter in f32, then requantise them against the
// block's new absmax (max |m|, max v) to the nearest entry of the dynamic maps (signed for m,
// unsigned for v). Four 8-bit codes per 32-bit word, low byte first.
// And the scaling step of torch.nn.utils.clip_grad_norm_, after GradScaler's unscale_ when
// fp16 loss scaling multiplied the gradients by 1 / inv_scale (1 otherwise):
//   total_norm = sqrt(total_sq) * inv_scale     (the norm of the unscaled gradients)
//   g *= inv_scale * min(max_norm / (total_norm + 1e-6), 1), read on the GPU (no readback).
// The scale is a power of two, so this equals unscaling first and clipping after, bit for bit.
// clip_scale writes the scaled gradients back (torch's clip_grad_norm_); with p.clip set, both
// AdamW kernels apply the same factor to each gradient as they read it instead, which saves a
// read and a write of every gradient per step and gives the same bits.

struct Params {
    n: u32, p_shift: u32, g_shift: u32, m_shift: u32,
    v_shift: u32, norm_shift: u32, flag: u32, flag_any: u32,
    decay: f32, one_minus_beta1: f32, one_minus_beta2: f32, eps: f32,
    step_size: f32, bc2_sqrt: f32, max_norm: f32, inv_scale: f32,
    q1_shift: u32, q2_shift: u32, absmax_shift: u32, clip: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read_write> nonfinite: array<f32>;

// The squared global norm of a clip folded into the update (read only when p.clip is set;
// otherwise something read-only is bound and never read).
@group(0) @binding(6) var<storage, read> step_sq: array<f32>;

// clip_grad_norm_'s factor (times GradScaler's unscale) from the squared global norm: one value
// for the whole dispatch, so the folded clip gives clip_scale's bits.
fn clip_coef(total_sq: f32) -> f32 {
    return p.inv_scale * min(p.max_norm / (sqrt(total_sq) * p.inv_scale + 1e-6), 1.0);
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// The update, written once over four elements (adamw_step4's vec4s; the scalar kernels pass
// splats and keep .x, which compilers reduce back to scalar code). torch's moments:
fn adam_moments(g: vec4<f32>, m: vec4<f32>, v: vec4<f32>) -> array<vec4<f32>, 2> {
    return array(m + p.one_minus_beta1 * (g - m), (1.0 - p.one_minus_beta2) * v + p.one_minus_beta2 * g * g);
}

// The parameter's update from its new moments (every kernel): decoupled weight decay, then the
// bias-corrected step.
fn adam_param(old: vec4<f32>, m2: vec4<f32>, v2: vec4<f32>) -> vec4<f32> {
    let denom = sqrt(v2) / p.bc2_sqrt + p.eps;
    return old * p.decay - p.step_size * m2 / denom;
}

fn flag_nonfinite() {
    // Every writer stores the same value: the race is benign.
    nonfinite[p.flag_any] = 1.0;
    nonfinite[p.flag] = 1.0;
}

@compute @workgroup_size(256)
fn adamw_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    var g = grad[p.g_shift + i];
    if (p.clip != 0u) { g = g * clip_coef(step_sq[p.norm_shift]); }
    let mv = adam_moments(vec4(g), vec4(exp_avg[p.m_shift + i]), vec4(exp_avg_sq[p.v_shift + i]));
    exp_avg[p.m_shift + i] = mv[0].x;
    exp_avg_sq[p.v_shift + i] = mv[1].x;
    let updated = adam_param(vec4(param[p.p_shift + i]), mv[0], mv[1]).x;
    param[p.p_shift + i] = updated;
    if (!is_finite(updated)) { flag_nonfinite(); }
}

// adamw_step four elements to an invocation, through vec4 loads and stores: a quarter of the
// load and store instructions, which are what this memory-bound kernel costs on lavapipe, and
// 16-byte transactions on GPUs. Used when every window's shift is a multiple of 4; p.n and the
// shifts count vec4s, and the last n % 4 elements go through adamw_step. Bindings 5 and 6 are
// adamw_step's.
@group(0) @binding(1) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> exp_avg4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn adamw_step4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    var g = grad4[p.g_shift + i];
    if (p.clip != 0u) { g = g * clip_coef(step_sq[p.norm_shift]); }
    let mv = adam_moments(g, exp_avg4[p.m_shift + i], exp_avg_sq4[p.v_shift + i]);
    exp_avg4[p.m_shift + i] = mv[0];
    exp_avg_sq4[p.v_shift + i] = mv[1];
    let updated = adam_param(param4[p.p_shift + i], mv[0], mv[1]);
    param4[p.p_shift + i] = updated;
    let finite = (bitcast<vec4<u32>>(updated) & vec4(0x7f800000u)) != vec4(0x7f800000u);
    if (!all(finite)) { flag_nonfinite(); }
}

// bindings: total squared norm (one element), gradient (scaled in place)
@group(0) @binding(1) var<storage, read> total_sq: array<f32>;
@group(0) @binding(2) var<storage, read_write> cgrad: array<f32>;

@compute @workgroup_size(256)
fn clip_scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    cgrad[p.g_shift + i] = cgrad[p.g_shift + i] * clip_coef(total_sq[p.norm_shift]);
}

// bindings of adamw8_step: the parameter and its gradient (as adamw_step's), the codes of m
// and of v (4 per word), the blocks' absmax (m's at 2b, v's at 2b + 1), the two maps (signed
// then unsigned, 256 each), the non-finite flags, the squared norm of a folded clip (as
// adamw_step's binding 6). A binding window starts on a block boundary: word and block 0 of
// the window belong to the window's first element.
// (bindings 1 and 2 are adamw_step's `param` and `grad`)
@group(0) @binding(3) var<storage, read_write> q_m: array<u32>;
@group(0) @binding(4) var<storage, read_write> q_v: array<u32>;
@group(0) @binding(5) var<storage, read_write> q_absmax: array<f32>;
@group(0) @binding(6) var<storage, read> q_code: array<f32>;
@group(0) @binding(7) var<storage, read_write> q_nonfinite: array<f32>;
@group(0) @binding(8) var<storage, read> step_sq8: array<f32>;

// Each invocation's largest |m| and v, for its block's absmax.
var<workgroup> red_m: array<f32, 64>;
var<workgroup> red_v: array<f32, 64>;
// The two maps, copied once per workgroup: the dequantisation and the code checks below read
// them 6 times per element (22 where a check fails), and workgroup memory is cheaper to read
// than a bounds-checked storage buffer.
var<workgroup> wcode: array<f32, 512>;

fn code_byte(word: u32, i: u32) -> u32 {
    return (word >> (8u * (i & 3u))) & 0xffu;
}

// Where x falls in bitsandbytes' dynamic map (`create_dynamic_map`, max_exponent_bits 7), worked
// out from its layout: after the zero entry (index 127 of the signed map at `base` 0, index 0 of
// the unsigned one at 256), decade i = 0..6 holds n = 2^i (signed) or 2^(i+1) (unsigned) entries,
// the midpoints of an even split of [0.1, 1) times 10^(i - 6); 1.0 is last, and the signed map's
// negatives mirror its positives below the zero. A guess in [0, 255], which `nearest_code` checks.
const DECADE_FLOOR = array<f32, 7>(1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1);
const DECADE_SCALE = array<f32, 7>(1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1.0);
fn code_guess(base: u32, x: f32) -> u32 {
    let signed = base == 0u;
    let ax = abs(x);
    // The decade (floor(log10 |x|) + 7, within 0..6) and 10^(6 - decade), by comparisons: no
    // log10, whose rounding at a decade's edge would cost a search.
    var decade = 0u;
    var scale = 1e6;
    for (var d = 1u; d < 7u; d++) {
        let up = ax >= DECADE_FLOOR[d];
        decade = select(decade, d, up);
        scale = select(scale, DECADE_SCALE[d], up);
    }
    let n = f32(1u << (decade + select(1u, 0u, signed)));
    // Entry k of the decade is 0.1 + (k + 0.5) 0.9 / n times 10^(decade - 6): the last one at or
    // below |x| (-1: the entry before the decade).
    let k = clamp(floor((ax * scale - 0.1) * n / 0.9 - 0.5), -1.0, n - 1.0);
    // The decade's first entry is at zero + 1 + n - n(decade 0); |x| >= 1 is the last entry, 1.0.
    let p = select(select(1.0, 128.0, signed) + n - select(2.0, 1.0, signed) + k, 255.0, ax >= 1.0);
    if (signed && x < 0.0) {
        // The first positive entry >= |x| is p + 1 (p's mirror would be at 254 - p).
        return min(u32(max(253.0 - p, 0.0)), 255u);
    }
    return min(u32(max(p, 0.0)), 255u);
}

// The index of the entry of map `base` (0: signed, 256: unsigned) nearest to x; on a tie the
// lower one, as torch.argmin picks the first minimum.
fn nearest_code(base: u32, x: f32) -> u32 {
    // Largest i with code[i] <= x (0 when x is below every entry): the guess where its two
    // neighbours bracket x (for every probe of tests/optim.rs and every moment of four steps
    // over 2 M random gradients), else the branch-free binary search (a map laid out otherwise,
    // NaN). The same codes either way.
    var lo = code_guess(base, x);
    var below = wcode[base + lo];
    var above = wcode[base + min(lo + 1u, 255u)];
    if (!((below <= x || lo == 0u) && (above > x || lo == 255u))) {
        lo = 0u;
        for (var step = 128u; step > 0u; step = step / 2u) {
            lo = select(lo, lo + step, wcode[base + lo + step] <= x);
        }
        below = wcode[base + lo];
        above = wcode[base + min(lo + 1u, 255u)];
    }
    if (lo < 255u && abs(above - x) < abs(x - below)) {
        return lo + 1u;
    }
    return lo;
}

// Four blocks to a workgroup of 64, 16 invocations to a block, each invocation four words of
// codes per moment (words r, r + 16, r + 32, r + 48 of its block for the block's r-th
// invocation: neighbouring invocations read neighbouring words, and a word's four elements lie
// side by side). The maps are copied to workgroup memory first (one barrier, for four blocks);
// the blocks' new absmax take one more, after which each invocation reads its block's 16 partial
// maxima (max is exact, so any order gives the same bits). On lavapipe, per 100 M parameters
// with random gradients (`engine bench adamw`; the f32 step 0.19 s): a workgroup per block, 64
// invocations each reading all 64 partials, 3.6 s; the same with a tree of six barriers, 2.6 s;
// this layout 1.6 s with the binary search alone, 1.1 s with the worked-out code (no search
// at all, wrong codes: 0.63 s).
const BLOCKS_PER_GROUP = 4u;
@compute @workgroup_size(64)
fn adamw8_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let block = (wg.y * nwg.x + wg.x) * BLOCKS_PER_GROUP + lid / 16u;
    let r = lid % 16u;
    for (var k = lid; k < 512u; k += 64u) {
        wcode[k] = q_code[k];
    }
    workgroupBarrier();
    let live = block * 256u < p.n;
    var am = 0.0;
    var av = 0.0;
    if (live) {
        am = q_absmax[p.absmax_shift + 2u * block];
        av = q_absmax[p.absmax_shift + 2u * block + 1u];
    }
    var m2: array<vec4<f32>, 4>;
    var v2: array<vec4<f32>, 4>;
    var top_m = 0.0;
    var top_v = 0.0;
    for (var w = 0u; w < 4u; w++) {
        let word = block * 64u + r + 16u * w;
        let first = word * 4u;
        if (first >= p.n) { continue; }
        let wm = q_m[p.q1_shift + word];
        let wv = q_v[p.q2_shift + word];
        for (var j = 0u; j < 4u; j++) {
            let i = first + j;
            if (i < p.n) {
                var g = grad[p.g_shift + i];
                if (p.clip != 0u) { g = g * clip_coef(step_sq8[p.norm_shift]); }
                let m = wcode[code_byte(wm, j)] * am;
                let v = wcode[256u + code_byte(wv, j)] * av;
                let nm = m * (1.0 - p.one_minus_beta1) + p.one_minus_beta1 * g;
                let nv = v * (1.0 - p.one_minus_beta2) + p.one_minus_beta2 * g * g;
                m2[w][j] = nm;
                v2[w][j] = nv;
                let updated = adam_param(vec4(param[p.p_shift + i]), vec4(nm), vec4(nv)).x;
                param[p.p_shift + i] = updated;
                if (!is_finite(updated)) {
                    q_nonfinite[p.flag_any] = 1.0;
                    q_nonfinite[p.flag] = 1.0;
                }
                top_m = max(top_m, abs(nm));
                top_v = max(top_v, nv);
            }
        }
    }
    red_m[lid] = top_m;
    red_v[lid] = top_v;
    workgroupBarrier();
    let group = lid - r;
    var new_am = 0.0;
    var new_av = 0.0;
    for (var k = 0u; k < 16u; k++) {
        new_am = max(new_am, red_m[group + k]);
        new_av = max(new_av, red_v[group + k]);
    }
    // An all-zero block keeps absmax 1 (bitsandbytes' reference does the same).
    if (new_am == 0.0) { new_am = 1.0; }
    if (new_av == 0.0) { new_av = 1.0; }
    for (var w = 0u; w < 4u; w++) {
        let word = block * 64u + r + 16u * w;
        let first = word * 4u;
        if (first >= p.n) { continue; }
        var cm = 0u;
        var cv = 0u;
        for (var j = 0u; j < 4u; j++) {
            if (first + j < p.n) {
                cm |= nearest_code(0u, m2[w][j] / new_am) << (8u * j);
                cv |= nearest_code(256u, v2[w][j] / new_av) << (8u * j);
            }
        }
        q_m[p.q1_shift + word] = cm;
        q_v[p.q2_shift + word] = cv;
    }
    if (r == 0u && live) {
        q_absmax[p.absmax_shift + 2u * block] = new_am;
        q_absmax[p.absmax_shift + 2u * block + 1u] = new_av;
    }
}
