//! Optimisation: AdamW as torch.optim.AdamW (f32 moments) or as bitsandbytes' AdamW8bit
//! (blockwise 8-bit moments), and gradient-norm clipping as torch.nn.utils.clip_grad_norm_, all
//! on the GPU without reading anything back.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec, Uniforms};
use crate::ops::launch::{chunks, grid, u, win};
use crate::ops::reduce::sum_of_squares_into;
use crate::tensor::Tensor;

pub static SHADER: Shader = Shader::file("adamw", include_str!("../shaders/adamw.wgsl"), &[&[]], &[&Params::LAYOUT]);
static ADAMW: Kernel = Kernel {
    shader: &SHADER,
    entry: "adamw_step",
    bindings: &[Access::ReadWrite, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite, Access::Read],
};
/// `adamw_step` four elements to an invocation (vec4 loads and stores), where the windows allow.
static ADAMW4: Kernel = Kernel {
    shader: &SHADER,
    entry: "adamw_step4",
    bindings: &[Access::ReadWrite, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite, Access::Read],
};
static ADAMW8: Kernel = Kernel {
    shader: &SHADER,
    entry: "adamw8_step",
    bindings: &[
        Access::ReadWrite,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::Read,
        Access::ReadWrite,
        Access::Read,
    ],
};
/// Blocks of [`BLOCK`] elements per workgroup of `adamw8_step` (its `BLOCKS_PER_GROUP`).
const BLOCKS_PER_GROUP: usize = 4;
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
        /// 1 / the fp16 loss scale in `clip_scale` (1 without loss scaling).
        inv_scale: f32,
        q1_shift: u32,
        q2_shift: u32,
        absmax_shift: u32,
        /// 1: the AdamW kernels scale each gradient by the clip factor as they read it.
        clip: u32,
    }
}

/// Elements per quantisation block of the 8-bit moments (bitsandbytes' blockwise optimizers).
pub const BLOCK: usize = 256;
/// Parameters smaller than this keep f32 moments under 8-bit AdamW (bitsandbytes'
/// `min_8bit_size`): biases and norms are a sliver of the memory and the most sensitive.
pub const MIN_8BIT_SIZE: usize = 4096;

/// bitsandbytes' dynamic quantisation map (`create_dynamic_map(signed, max_exponent_bits=7,
/// total_bits=8)`, Dettmers 2016): 256 sorted values in [-1, 1] (signed) or [0, 1], dense near
/// zero: for each decimal exponent 1e-6 .. 1e0 the midpoints of an even split of [0.1, 1], with
/// 0 and 1 added. Computed in f32 the way torch computes it (linspace, midpoints, scaling).
pub fn dynamic_map(signed: bool) -> [f32; 256] {
    // torch.linspace(start, end, steps) in f32 as its CPU kernel computes it: the first half
    // counts up from start, the second down from end, each element one fused multiply-add
    // (checked bit for bit against torch 2.15 and bitsandbytes 0.50.2's maps).
    let linspace = |start: f32, end: f32, steps: usize| -> Vec<f32> {
        let step = (end - start) / (steps - 1) as f32;
        (0..steps)
            .map(|i| {
                if i < steps / 2 {
                    step.mul_add(i as f32, start)
                } else {
                    (-step).mul_add((steps - i - 1) as f32, end)
                }
            })
            .collect()
    };
    let mut data: Vec<f32> = Vec::with_capacity(256);
    for i in 0..7 {
        let items = if signed { (1 << i) + 1 } else { (1 << (i + 1)) + 1 };
        let b = linspace(0.1, 1.0, items);
        let scale = 10f64.powi(i - 6) as f32;
        for w in b.windows(2) {
            let mean = (w[0] + w[1]) / 2.0;
            data.push(scale * mean);
            if signed {
                data.push(-scale * mean);
            }
        }
    }
    data.push(0.0);
    data.push(1.0);
    debug_assert_eq!(data.len(), 256);
    data.sort_by(f32::total_cmp);
    data.try_into().unwrap()
}

/// The index of the entry of `map` nearest to `x` (the lower one on a tie), as the kernel picks it.
pub fn nearest_code(map: &[f32; 256], x: f32) -> u8 {
    let i = map.partition_point(|&c| c <= x).saturating_sub(1);
    if i < 255 && (map[i + 1] - x).abs() < (x - map[i]).abs() {
        (i + 1) as u8
    } else {
        i as u8
    }
}

/// Per-parameter state: first and second moments and the parameter's own step count (torch
/// counts steps per parameter; a parameter without a gradient is skipped and not counted).
pub struct AdamState {
    pub moments: Moments,
    pub step: u64,
}

/// The moments of one parameter.
pub enum Moments {
    /// f32, the parameter's shape (torch.optim.AdamW).
    F32 { exp_avg: Tensor, exp_avg_sq: Tensor },
    /// bitsandbytes' blockwise 8-bit moments (AdamW8bit).
    Blockwise8(Blockwise8),
}

/// 8-bit moments of a parameter of `numel` elements: per element an 8-bit code into the signed
/// dynamic map (m) and the unsigned one (v), and per block of [`BLOCK`] elements the absmax
/// each code is scaled by. 2 bytes per element instead of 8.
pub struct Blockwise8 {
    pub numel: usize,
    /// Codes of m, four per 32-bit word (low byte first): [ceil(numel / 4)] words. The tensor
    /// layer has f32 storage only, so the words sit in an f32 tensor's buffer; only the kernel
    /// and [`Blockwise8::codes`] read them, as bits.
    pub exp_avg: Tensor,
    /// Codes of v, as `exp_avg`.
    pub exp_avg_sq: Tensor,
    /// [2 * blocks]: m's absmax at 2b, v's at 2b + 1.
    pub absmax: Tensor,
}

impl Blockwise8 {
    /// Zero moments (codes 0 with absmax 0, as bitsandbytes initialises them).
    pub fn zeros(numel: usize) -> Result<Blockwise8> {
        Ok(Blockwise8 {
            numel,
            exp_avg: Tensor::zeros(&[numel.div_ceil(4)])?,
            exp_avg_sq: Tensor::zeros(&[numel.div_ceil(4)])?,
            absmax: Tensor::zeros(&[2 * numel.div_ceil(BLOCK)])?,
        })
    }

    /// From host codes and absmax (a checkpoint).
    pub fn from_host(numel: usize, m: &[u8], v: &[u8], absmax: &[f32]) -> Result<Blockwise8> {
        let b = Blockwise8::zeros(numel)?;
        if m.len() != numel || v.len() != numel || absmax.len() != b.absmax.numel() {
            return Err(Error::invalid(
                "AdamW8bit state",
                format!(
                    "{numel} elements need {numel} codes per moment and {} absmax values, got {}, {} and {}",
                    b.absmax.numel(),
                    m.len(),
                    v.len(),
                    absmax.len()
                ),
            ));
        }
        let words = |c: &[u8]| -> Vec<f32> {
            c.chunks(4)
                .map(|w| {
                    let mut b = [0u8; 4];
                    b[..w.len()].copy_from_slice(w);
                    f32::from_bits(u32::from_le_bytes(b))
                })
                .collect()
        };
        b.exp_avg.write(&words(m))?;
        b.exp_avg_sq.write(&words(v))?;
        b.absmax.write(absmax)?;
        Ok(b)
    }

    /// The codes of m and of v, read back.
    pub fn codes(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let bytes = |t: &Tensor| -> Result<Vec<u8>> {
            let mut b: Vec<u8> = t.to_vec()?.iter().flat_map(|w| w.to_bits().to_le_bytes()).collect();
            b.truncate(self.numel);
            Ok(b)
        };
        Ok((bytes(&self.exp_avg)?, bytes(&self.exp_avg_sq)?))
    }

    /// The moments as f32 (code x absmax), read back.
    pub fn dequantize(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let (qm, qv) = self.codes()?;
        let a = self.absmax.to_vec()?;
        let (sm, um) = (dynamic_map(true), dynamic_map(false));
        let m = qm.iter().enumerate().map(|(i, &q)| sm[q as usize] * a[2 * (i / BLOCK)]).collect();
        let v = qv.iter().enumerate().map(|(i, &q)| um[q as usize] * a[2 * (i / BLOCK) + 1]).collect();
        Ok((m, v))
    }
}

impl Moments {
    fn zeros(shape: &[usize], eight_bit: bool) -> Result<Moments> {
        let n: usize = shape.iter().product();
        Ok(if eight_bit && n >= MIN_8BIT_SIZE {
            Moments::Blockwise8(Blockwise8::zeros(n)?)
        } else {
            Moments::F32 { exp_avg: Tensor::zeros(shape)?, exp_avg_sq: Tensor::zeros(shape)? }
        })
    }

    /// The moments as f32 host vectors (read back; 8-bit ones dequantised).
    pub fn to_f32(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        match self {
            Moments::F32 { exp_avg, exp_avg_sq } => Ok((exp_avg.to_vec()?, exp_avg_sq.to_vec()?)),
            Moments::Blockwise8(b) => b.dequantize(),
        }
    }

    /// Bytes the moments hold on the GPU.
    pub fn bytes(&self) -> usize {
        match self {
            Moments::F32 { exp_avg, exp_avg_sq } => 4 * (exp_avg.numel() + exp_avg_sq.numel()),
            Moments::Blockwise8(b) => 4 * (b.exp_avg.numel() + b.exp_avg_sq.numel() + b.absmax.numel()),
        }
    }
}

/// torch.optim.AdamW with `amsgrad=False, maximize=False`; with `eight_bit`, bitsandbytes'
/// AdamW8bit (blockwise 8-bit moments for parameters of at least [`MIN_8BIT_SIZE`] elements).
/// Hyperparameters are f64, as torch's are Python floats: 1 - beta2 computed from an f32 0.999
/// is off by 1.3e-5 relative.
pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// New moments are 8-bit (set before the first step; moments already made keep their kind).
    pub eight_bit: bool,
    state: HashMap<u64, AdamState>,
    /// [1 + params]: element 0 is 1 once any update produced a NaN or Inf, element 1 + i once
    /// the update of `params[i]` (as passed to `step`) did. Sticky: never reset.
    nonfinite: Option<Tensor>,
    /// The signed then the unsigned dynamic map, [512], once an 8-bit update has run.
    maps: Option<Tensor>,
}

impl AdamW {
    /// torch's defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
    pub fn new(lr: f64) -> Self {
        AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
            eight_bit: false,
            state: HashMap::new(),
            nonfinite: None,
            maps: None,
        }
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
        match &state.moments {
            Moments::F32 { exp_avg, exp_avg_sq } => {
                if exp_avg.shape() != param.shape() || exp_avg_sq.shape() != param.shape() {
                    return Err(Error::shape("AdamW state", param.shape(), exp_avg.shape()));
                }
            }
            Moments::Blockwise8(b) => {
                if b.numel != param.numel() {
                    return Err(Error::shape("AdamW8bit state", param.shape(), &[b.numel]));
                }
            }
        }
        self.state.insert(id, state);
        Ok(())
    }

    /// Bytes all moments hold on the GPU.
    pub fn state_bytes(&self) -> usize {
        self.state.values().map(|s| s.moments.bytes()).sum()
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

    /// Makes the non-finite flags hold `params` parameters (before a step, or before the
    /// updates of a fused backward pass).
    pub fn begin_step(&mut self, params: usize) -> Result<()> {
        if self.nonfinite.as_ref().is_none_or(|f| f.numel() != 1 + params) {
            self.nonfinite = Some(Tensor::zeros(&[1 + params])?);
        }
        if self.eight_bit && self.maps.is_none() {
            let mut maps = dynamic_map(true).to_vec();
            maps.extend(dynamic_map(false));
            self.maps = Some(Tensor::from_slice(&maps, &[512])?);
        }
        Ok(())
    }

    /// Updates every parameter that has a gradient, in place.
    pub fn step(&mut self, params: &[Tensor]) -> Result<()> {
        self.step_clipped(params, None)
    }

    /// [`step`](Self::step) with the gradients clipped (and unscaled) by `clip` as the update
    /// reads them: what [`clip_grad_norm`] + `step` computes, bit for bit, without the pass that
    /// writes every gradient back (the gradients themselves stay as backward left them).
    pub fn step_clipped(&mut self, params: &[Tensor], clip: Option<&GradClip>) -> Result<()> {
        if let Some(p) = params.iter().find(|p| p.leaf_id().is_none()) {
            return Err(Error::invalid(
                "AdamW",
                format!("a tensor of shape {:?} is not a parameter (requires_grad_)", p.shape()),
            ));
        }
        self.begin_step(params.len())?;
        for (index, p) in params.iter().enumerate() {
            if let Some(g) = p.grad() {
                self.update(index, p, &g, clip)?;
            }
        }
        Ok(())
    }

    /// Updates one parameter, `params[index]` of the step (its flag), with gradient `g`, clipped
    /// by `clip` as it is read. [`begin_step`](Self::begin_step) must have run for this step.
    pub fn update(&mut self, index: usize, p: &Tensor, g: &Tensor, clip: Option<&GradClip>) -> Result<()> {
        let ctx = Tensor::ctx()?;
        let id = p.leaf_id().ok_or_else(|| {
            Error::invalid("AdamW", format!("a tensor of shape {:?} is not a parameter (requires_grad_)", p.shape()))
        })?;
        if g.shape() != p.shape() {
            return Err(Error::shape("AdamW gradient", p.shape(), g.shape()));
        }
        let flags = self.nonfinite.as_ref().filter(|f| index + 1 < f.numel()).ok_or_else(|| {
            Error::invalid("AdamW", format!("update of parameter {index} before begin_step made room for it"))
        })?;
        let st = match self.state.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(AdamState { moments: Moments::zeros(p.shape(), self.eight_bit)?, step: 0 })
            }
        };
        st.step += 1;
        let t = st.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let (fv, fs) = win(ctx, flags, 0, flags.numel())?;
        // Without a clip the kernel never reads its norm binding: the gradient's first element
        // fills it (a read-only binding; the flags are written, and may not be bound twice).
        let (nv, ns) = match clip {
            Some(c) => win(ctx, &c.total_sq, 0, 1)?,
            None => win(ctx, g, 0, 1)?,
        };
        let base = Params {
            norm_shift: ns,
            max_norm: clip.map_or(0.0, |c| c.max_norm),
            inv_scale: clip.map_or(1.0, |c| c.inv_scale),
            clip: u32::from(clip.is_some()),
            decay: (1.0 - self.lr * self.weight_decay) as f32,
            one_minus_beta1: (1.0 - self.beta1) as f32,
            one_minus_beta2: (1.0 - self.beta2) as f32,
            eps: self.eps as f32,
            step_size: (self.lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            flag: fs + u(1 + index),
            flag_any: fs,
            ..Default::default()
        };
        match &st.moments {
            Moments::F32 { exp_avg, exp_avg_sq } => {
                for (s, n) in chunks(p.numel(), ctx.max_binding_elems()) {
                    let windows = |s, n| -> Result<_> {
                        let (pv, ps) = win(ctx, p, s, n)?;
                        let (gv, gs) = win(ctx, g, s, n)?;
                        let (mv, ms) = win(ctx, exp_avg, s, n)?;
                        let (vv, vs) = win(ctx, exp_avg_sq, s, n)?;
                        Ok(([pv, gv, mv, vv], [ps, gs, ms, vs]))
                    };
                    let (views, shifts) = windows(s, n)?;
                    // Four elements to an invocation where every window starts on a vec4; the
                    // rest (n % 4, or everything when a window does not) one at a time.
                    let fours = if shifts.iter().all(|s| s % 4 == 0) { n / 4 } else { 0 };
                    if fours > 0 {
                        let [ps, gs, ms, vs] = shifts.map(|s| s / 4);
                        let prm = Params { n: u(fours), p_shift: ps, g_shift: gs, m_shift: ms, v_shift: vs, ..base };
                        let [pv, gv, mv, vv] = views;
                        ctx.dispatch(
                            &ADAMW4,
                            &Spec::new(),
                            &prm,
                            &[pv, gv, mv, vv, fv, nv],
                            grid(fours.div_ceil(256)),
                        )?;
                    }
                    let (done, rest) = (4 * fours, n - 4 * fours);
                    if rest > 0 {
                        let ([pv, gv, mv, vv], [ps, gs, ms, vs]) = windows(s + done, rest)?;
                        let prm = Params { n: u(rest), p_shift: ps, g_shift: gs, m_shift: ms, v_shift: vs, ..base };
                        ctx.dispatch(&ADAMW, &Spec::new(), &prm, &[pv, gv, mv, vv, fv, nv], grid(rest.div_ceil(256)))?;
                    }
                }
            }
            Moments::Blockwise8(b) => {
                let maps = self.maps.as_ref().ok_or_else(|| {
                    Error::invalid("AdamW", "an 8-bit update before begin_step made the quantisation maps")
                })?;
                let (cv, _) = win(ctx, maps, 0, 512)?;
                // Windows start on block boundaries, so that word and block indices in the
                // kernel are relative to the window's first element.
                let max = ctx.max_binding_elems() / BLOCK * BLOCK;
                for (s, n) in chunks(p.numel(), max) {
                    let (pv, ps) = win(ctx, p, s, n)?;
                    let (gv, gs) = win(ctx, g, s, n)?;
                    let (q1, q1s) = win(ctx, &b.exp_avg, s / 4, n.div_ceil(4))?;
                    let (q2, q2s) = win(ctx, &b.exp_avg_sq, s / 4, n.div_ceil(4))?;
                    let (av, as_) = win(ctx, &b.absmax, 2 * (s / BLOCK), 2 * n.div_ceil(BLOCK))?;
                    let prm = Params {
                        n: u(n),
                        p_shift: ps,
                        g_shift: gs,
                        q1_shift: q1s,
                        q2_shift: q2s,
                        absmax_shift: as_,
                        ..base
                    };
                    ctx.dispatch(
                        &ADAMW8,
                        &Spec::new(),
                        &prm,
                        &[pv, gv, q1, q2, av, cv, fv, nv],
                        grid(n.div_ceil(BLOCK).div_ceil(BLOCKS_PER_GROUP)),
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Scales the gradients of `params` in place so that their global L2 norm is at most
/// `max_norm` (torch.nn.utils.clip_grad_norm_ with norm_type 2). Returns the norm before
/// clipping as a one-element tensor, left on the GPU.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f32) -> Result<Tensor> {
    clip_grads(&grads_of(params), max_norm, 1.0)
}

/// The gradients `params` hold.
fn grads_of(params: &[Tensor]) -> Vec<Tensor> {
    params.iter().filter_map(|p| p.grad()).collect()
}

/// [`clip_grad_norm`] of gradients that fp16 loss scaling multiplied by `scale`: divides them by
/// it first (GradScaler's `unscale_`, in the same pass), and returns the unscaled norm (non-finite
/// when any gradient overflowed: the step is then skipped).
pub fn unscale_clip_grad_norm(params: &[Tensor], max_norm: f32, scale: f32) -> Result<Tensor> {
    clip_grads(&grads_of(params), max_norm, 1.0 / scale)
}

/// [`clip_grad_norm`] of the gradients themselves, unscaled by `inv_scale` first.
pub fn clip_grads(all: &[Tensor], max_norm: f32, inv_scale: f32) -> Result<Tensor> {
    let clip = GradClip::new(all, max_norm, inv_scale)?;
    clip.apply(all)?;
    clip.norm()
}

/// Gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (norm_type 2), after GradScaler's
/// `unscale_` when fp16 loss scaling multiplied the gradients by 1 / `inv_scale`: the global
/// norm, on the GPU, and the factor inv_scale · min(max_norm / (norm + 1e-6), 1) every gradient
/// is multiplied by. [`GradClip::apply`] writes the scaled gradients back (torch's way);
/// [`AdamW::step_clipped`] applies the factor as it reads each gradient, with the same bits and
/// one read and write of every gradient fewer.
pub struct GradClip {
    /// [1]: the sum of the squares of every gradient's elements (scaled, as backward left them).
    total_sq: Tensor,
    pub max_norm: f32,
    pub inv_scale: f32,
}

impl GradClip {
    /// The global norm of `grads`: every one counts, including gradients that share storage.
    pub fn new(grads: &[Tensor], max_norm: f32, inv_scale: f32) -> Result<GradClip> {
        let total_sq = Tensor::empty(&[1])?;
        sum_of_squares_into(grads, &total_sq, 0)?;
        Ok(GradClip { total_sq, max_norm, inv_scale })
    }

    /// [`GradClip::new`] of the gradients `params` hold.
    pub fn of_params(params: &[Tensor], max_norm: f32, inv_scale: f32) -> Result<GradClip> {
        GradClip::new(&grads_of(params), max_norm, inv_scale)
    }

    /// The norm of the unscaled gradients before clipping, a one-element tensor on the GPU
    /// (non-finite when any gradient overflowed).
    pub fn norm(&self) -> Result<Tensor> {
        let norm = self.total_sq.sqrt()?;
        if self.inv_scale == 1.0 {
            return Ok(norm);
        }
        norm.scale(self.inv_scale)
    }

    /// Multiplies `grads` in place by the factor. Gradients may share storage (an add's backward
    /// hands the same tensor to both inputs): each distinct window is scaled once.
    pub fn apply(&self, grads: &[Tensor]) -> Result<()> {
        let ctx = Tensor::ctx()?;
        let mut distinct: Vec<&Tensor> = Vec::new();
        for g in grads {
            if !distinct.iter().any(|h| h.buffer() == g.buffer() && h.offset() == g.offset()) {
                distinct.push(g);
            }
        }
        let (tv, ts) = win(ctx, &self.total_sq, 0, 1)?;
        for g in distinct {
            for (s, n) in chunks(g.numel(), ctx.max_binding_elems()) {
                let (gv, gs) = win(ctx, g, s, n)?;
                let prm = Params {
                    n: u(n),
                    g_shift: gs,
                    norm_shift: ts,
                    max_norm: self.max_norm,
                    inv_scale: self.inv_scale,
                    ..Default::default()
                };
                ctx.dispatch(&CLIP, &Spec::new(), &prm, &[tv, gv], grid(n.div_ceil(256)))?;
            }
        }
        Ok(())
    }
}

/// Backward from `loss` with each parameter's AdamW update applied as soon as its gradient is
/// complete (`autograd::backward_fused`; kohya's --fused_backward_pass), the gradient first
/// clipped to `max_norm` on its own (kohya's choice: the global norm is not known until every
/// gradient exists, which is what this avoids holding) and then freed. Parameters whose
/// gradient the pass left behind are updated after it. With gradients whose global norm is
/// below `max_norm`, the result is bit-identical to backward + [`clip_grad_norm`] + `step`.
pub fn fused_backward(loss: &Tensor, params: &[Tensor], opt: &mut AdamW, max_norm: f32) -> Result<()> {
    let index: HashMap<u64, usize> =
        params.iter().enumerate().filter_map(|(i, t)| t.leaf_id().map(|id| (id, i))).collect();
    opt.begin_step(params.len())?;
    let update = |i: usize, g: &Tensor, opt: &mut AdamW| -> Result<()> {
        let clip = GradClip::new(std::slice::from_ref(g), max_norm, 1.0)?;
        opt.update(i, &params[i], g, Some(&clip))
    };
    crate::autograd::backward_fused(loss, &mut |id, g| match index.get(&id) {
        Some(&i) => update(i, &g, opt).map(|_| true),
        None => Ok(false),
    })?;
    crate::autograd::reset_uses(params);
    for (i, t) in params.iter().enumerate() {
        if let Some(g) = t.grad() {
            t.zero_grad();
            update(i, &g, opt)?;
        }
    }
    Ok(())
}

/// Dynamic loss scaling for fp16 training, as torch.amp.GradScaler: the loss is multiplied by
/// `scale` before backward so that small gradients survive half precision; the gradients are
/// divided by it before clipping ([`unscale_clip_grad_norm`]). A step whose gradients hold an
/// Inf or NaN is skipped and the scale halved; after `growth_interval` clean steps in a row it
/// doubles. The scale stays a power of two, so scaling and unscaling are exact. Its state goes
/// into checkpoints (a resumed run scales as the uninterrupted one would).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradScaler {
    pub scale: f32,
    /// Clean steps since the scale last changed.
    pub growth_tracker: u32,
    pub growth_interval: u32,
}

impl Default for GradScaler {
    /// torch's defaults: init_scale 2^16, growth_factor 2, backoff_factor 0.5, growth_interval 2000.
    fn default() -> Self {
        GradScaler { scale: 65536.0, growth_tracker: 0, growth_interval: 2000 }
    }
}

impl GradScaler {
    /// After a step (`found_inf`: it was skipped), as torch's `update()`.
    pub fn update(&mut self, found_inf: bool) {
        if found_inf {
            self.scale *= 0.5;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker == self.growth_interval {
                self.scale *= 2.0;
                self.growth_tracker = 0;
            }
        }
    }
}
