// The optimizer step, fused and in place, as torch.optim.AdamW (Loshchilov & Hutter 2019)
// computes it for one tensor:
//   p *= 1 - lr * weight_decay                      (decoupled weight decay)
//   m  = lerp(m, g, 1 - beta1)
//   v  = beta2 * v + (1 - beta2) * g^2
//   p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// A parameter that the update leaves NaN or Inf sets nonfinite[flag_any] and nonfinite[flag]
// (this tensor) to 1: the trainer reads element 0 with the next step's loss, no extra sync.
// And the scaling step of torch.nn.utils.clip_grad_norm_:
//   g *= min(max_norm / (total_norm + 1e-6), 1), total_norm read on the GPU (no readback).

struct Params {
    n: u32, p_shift: u32, g_shift: u32, m_shift: u32,
    v_shift: u32, norm_shift: u32, flag: u32, flag_any: u32,
    decay: f32, one_minus_beta1: f32, one_minus_beta2: f32, eps: f32,
    step_size: f32, bc2_sqrt: f32, max_norm: f32, _p2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read_write> nonfinite: array<f32>;

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn adamw_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    let g = grad[p.g_shift + i];
    let m = exp_avg[p.m_shift + i];
    let m2 = m + p.one_minus_beta1 * (g - m);
    let v2 = (1.0 - p.one_minus_beta2) * exp_avg_sq[p.v_shift + i] + p.one_minus_beta2 * g * g;
    exp_avg[p.m_shift + i] = m2;
    exp_avg_sq[p.v_shift + i] = v2;
    let denom = sqrt(v2) / p.bc2_sqrt + p.eps;
    let updated = param[p.p_shift + i] * p.decay - p.step_size * m2 / denom;
    param[p.p_shift + i] = updated;
    if (!is_finite(updated)) {
        // Every writer stores the same value: the race is benign.
        nonfinite[p.flag_any] = 1.0;
        nonfinite[p.flag] = 1.0;
    }
}

// bindings: total squared norm (one element), gradient (scaled in place)
@group(0) @binding(1) var<storage, read> total_sq: array<f32>;
@group(0) @binding(2) var<storage, read_write> cgrad: array<f32>;

@compute @workgroup_size(256)
fn clip_scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    let coef = min(p.max_norm / (sqrt(total_sq[p.norm_shift]) + 1e-6), 1.0);
    cgrad[p.g_shift + i] = cgrad[p.g_shift + i] * coef;
}
