//! Optimisation: AdamW as torch.optim.AdamW, and gradient-norm clipping as
//! torch.nn.utils.clip_grad_norm_, both on the GPU without reading anything back.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec, Uniforms};
use crate::ops::launch::{chunks, grid, u, win};
use crate::ops::reduce::reduce_into;
use crate::tensor::Tensor;

pub static SHADER: Shader = Shader::file("adamw", include_str!("../shaders/adamw.wgsl"), &[&[]], &[&Params::LAYOUT]);
static ADAMW: Kernel = Kernel {
    shader: &SHADER,
    entry: "adamw_step",
    bindings: &[Access::ReadWrite, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite],
};
static CLIP: Kernel = Kernel { shader: &SHADER, entry: "clip_scale", bindings: &[Access::Read, Access::ReadWrite] };

crate::uniforms! {
    /// The uniform block of `adamw.wgsl`.
    struct Params {
        n: u32,
        p_shift: u32,
        g_shift: u32,
        m_shift: u32,
        v_shift: u32,
        norm_shift: u32,
        /// Index into the non-finite flags of the tensor being updated (1 + its position).
        flag: u32,
        /// Index of the "any" flag (the window's shift).
        flag_any: u32,
        decay: f32,
        one_minus_beta1: f32,
        one_minus_beta2: f32,
        eps: f32,
        step_size: f32,
        bc2_sqrt: f32,
        max_norm: f32,
        _p2: f32,
    }
}

/// Per-parameter state: first and second moments and the parameter's own step count (torch
/// counts steps per parameter; a parameter without a gradient is skipped and not counted).
pub struct AdamState {
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
    pub step: u64,
}

/// torch.optim.AdamW with `amsgrad=False, maximize=False`. Hyperparameters are f64, as
/// torch's are Python floats: 1 - beta2 computed from an f32 0.999 is off by 1.3e-5 relative.
pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    state: HashMap<u64, AdamState>,
    /// [1 + params]: element 0 is 1 once any update produced a NaN or Inf, element 1 + i once
    /// the update of `params[i]` (as passed to `step`) did. Sticky: never reset.
    nonfinite: Option<Tensor>,
}

impl AdamW {
    /// torch's defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
    pub fn new(lr: f64) -> Self {
        AdamW { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-2, state: HashMap::new(), nonfinite: None }
    }

    /// The state of `param`, once it has taken a step.
    pub fn state(&self, param: &Tensor) -> Option<&AdamState> {
        param.leaf_id().and_then(|id| self.state.get(&id))
    }

    /// Sets the state of `param` (resuming from a checkpoint).
    pub fn set_state(&mut self, param: &Tensor, state: AdamState) -> Result<()> {
        let id = param.leaf_id().ok_or_else(|| {
            Error::invalid("AdamW", format!("a tensor of shape {:?} is not a parameter", param.shape()))
        })?;
        if state.exp_avg.shape() != param.shape() || state.exp_avg_sq.shape() != param.shape() {
            return Err(Error::shape("AdamW state", param.shape(), state.exp_avg.shape()));
        }
        self.state.insert(id, state);
        Ok(())
    }

    /// The flags that `step` sets (see the field), [1 + params], on the GPU; None before the first step.
    pub fn nonfinite_flags(&self) -> Option<&Tensor> {
        self.nonfinite.as_ref()
    }

    /// The positions (in `step`'s `params`) of the parameters an update made non-finite, read
    /// back; empty when every update so far was finite.
    pub fn nonfinite_params(&self) -> Result<Vec<usize>> {
        let Some(f) = &self.nonfinite else { return Ok(Vec::new()) };
        let v = f.to_vec()?;
        Ok(v[1..].iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(i, _)| i).collect())
    }

    /// Updates every parameter that has a gradient, in place.
    pub fn step(&mut self, params: &[Tensor]) -> Result<()> {
        let ctx = Tensor::ctx()?;
        if self.nonfinite.as_ref().is_none_or(|f| f.numel() != 1 + params.len()) {
            self.nonfinite = Some(Tensor::zeros(&[1 + params.len()])?);
        }
        let flags = self.nonfinite.as_ref().unwrap();
        let (fv, fs) = win(ctx, flags, 0, flags.numel())?;
        for (index, p) in params.iter().enumerate() {
            let id = p.leaf_id().ok_or_else(|| {
                Error::invalid(
                    "AdamW",
                    format!("a tensor of shape {:?} is not a parameter (requires_grad_)", p.shape()),
                )
            })?;
            let Some(g) = p.grad() else { continue };
            if g.shape() != p.shape() {
                return Err(Error::shape("AdamW gradient", p.shape(), g.shape()));
            }
            let st = match self.state.entry(id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(AdamState {
                    exp_avg: Tensor::zeros(p.shape())?,
                    exp_avg_sq: Tensor::zeros(p.shape())?,
                    step: 0,
                }),
            };
            st.step += 1;
            let t = st.step as i32;
            let bc1 = 1.0 - self.beta1.powi(t);
            let bc2 = 1.0 - self.beta2.powi(t);
            let base = Params {
                decay: (1.0 - self.lr * self.weight_decay) as f32,
                one_minus_beta1: (1.0 - self.beta1) as f32,
                one_minus_beta2: (1.0 - self.beta2) as f32,
                eps: self.eps as f32,
                step_size: (self.lr / bc1) as f32,
                bc2_sqrt: bc2.sqrt() as f32,
                ..Default::default()
            };
            for (s, n) in chunks(p.numel(), ctx.max_binding_elems()) {
                let (pv, ps) = win(ctx, p, s, n)?;
                let (gv, gs) = win(ctx, &g, s, n)?;
                let (mv, ms) = win(ctx, &st.exp_avg, s, n)?;
                let (vv, vs) = win(ctx, &st.exp_avg_sq, s, n)?;
                let flag = fs + u(1 + index);
                let prm =
                    Params { n: u(n), p_shift: ps, g_shift: gs, m_shift: ms, v_shift: vs, flag, flag_any: fs, ..base };
                ctx.dispatch(&ADAMW, &Spec::new(), &prm, &[pv, gv, mv, vv, fv], grid(n.div_ceil(256)))?;
            }
        }
        Ok(())
    }
}

/// Scales the gradients of `params` in place so that their global L2 norm is at most
/// `max_norm` (torch.nn.utils.clip_grad_norm_ with norm_type 2). Returns the norm before
/// clipping as a one-element tensor, left on the GPU.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f32) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let all: Vec<Tensor> = params.iter().filter_map(|p| p.grad()).collect();
    let sq = Tensor::zeros(&[all.len().max(1)])?;
    for (i, g) in all.iter().enumerate() {
        reduce_into(&g.reshape(&[g.numel()])?, 1, g.numel(), 1, 1.0, true, &sq, i)?;
    }
    let total_sq = Tensor::empty(&[1])?;
    reduce_into(&sq, 1, all.len().max(1), 1, 1.0, false, &total_sq, 0)?;
    // Gradients may share storage (an add's backward hands the same tensor to both inputs):
    // every parameter counts in the norm, but each distinct window is scaled once.
    let mut grads: Vec<&Tensor> = Vec::new();
    for g in &all {
        if !grads.iter().any(|h| h.buffer() == g.buffer() && h.offset() == g.offset()) {
            grads.push(g);
        }
    }
    let (tv, ts) = win(ctx, &total_sq, 0, 1)?;
    for g in grads {
        for (s, n) in chunks(g.numel(), ctx.max_binding_elems()) {
            let (gv, gs) = win(ctx, g, s, n)?;
            let prm = Params { n: u(n), g_shift: gs, norm_shift: ts, max_norm, ..Default::default() };
            ctx.dispatch(&CLIP, &Spec::new(), &prm, &[tv, gv], grid(n.div_ceil(256)))?;
        }
    }
    total_sq.sqrt()
}
