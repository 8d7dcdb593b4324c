//! Layer norm over the last axis with affine parameters (torch.nn.LayerNorm).
//! Forward saves the per-row mean and 1/std for backward.

use super::launch::{chunks, f, grid, u, whole, win};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec};
use crate::tensor::Tensor;

pub static SHADER: Shader =
    Shader { name: "layernorm", source: include_str!("../../shaders/layernorm.wgsl"), variants: &[&[]] };
static FORWARD: Kernel = Kernel {
    shader: &SHADER,
    entry: "layernorm_forward",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite],
};
static BACKWARD_INPUT: Kernel = Kernel {
    shader: &SHADER,
    entry: "layernorm_backward_input",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};
static BACKWARD_PARAMS: Kernel = Kernel {
    shader: &SHADER,
    entry: "layernorm_backward_params",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};

fn rows_per_chunk(n: usize) -> Result<usize> {
    let ctx = Tensor::ctx()?;
    let r = ctx.max_binding_elems() / n.max(1);
    if r == 0 {
        return Err(Error::invalid("layer_norm", format!("a row of {n} elements exceeds the binding limit")));
    }
    Ok(r)
}

/// y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis of x [..., n];
/// gamma and beta are [n].
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
    if x.rank() == 0 {
        return Err(Error::invalid("layer_norm", "needs at least one axis"));
    }
    let n = x.dim(-1);
    if gamma.shape() != [n] || beta.shape() != [n] {
        return Err(Error::shape_hint(
            "layer_norm",
            x.shape(),
            gamma.shape(),
            format!("weight and bias must be [{n}], bias is {:?}", beta.shape()),
        ));
    }
    let ctx = Tensor::ctx()?;
    let rows = x.numel() / n.max(1);
    let y = Tensor::empty(x.shape())?;
    let mean = Tensor::empty(&[rows])?;
    let rstd = Tensor::empty(&[rows])?;
    let (gv, gs) = whole(ctx, "layer_norm", gamma)?;
    let (bv, bs) = whole(ctx, "layer_norm", beta)?;
    for (r0, rn) in chunks(rows, rows_per_chunk(n)?) {
        let (xv, xs) = win(ctx, x, r0 * n, rn * n)?;
        let (yv, ys) = win(ctx, &y, r0 * n, rn * n)?;
        let (mv, ms) = win(ctx, &mean, r0, rn)?;
        let (sv, ss) = win(ctx, &rstd, r0, rn)?;
        debug_assert_eq!(ms, ss);
        let params = [u(rn), u(n), f(eps), 0, xs, gs, bs, ys, ms, 0, 0, 0];
        ctx.dispatch(&FORWARD, &Spec::new(), &params, &[xv, gv, bv, yv, mv, sv], grid(rn))?;
    }
    let (gx, gg, gb) = (needs_grad(x), needs_grad(gamma), needs_grad(beta));
    let (sx, sg) = (x.detach(), gamma.detach());
    Ok(record(y, "layer_norm", &[x, gamma, beta], move |dy| {
        let ctx = Tensor::ctx()?;
        let chunks_ = chunks(rows, rows_per_chunk(n)?);
        let dx = if gx {
            let dx = Tensor::empty(sx.shape())?;
            let (gv, gs) = whole(ctx, "layer_norm", &sg)?;
            for &(r0, rn) in &chunks_ {
                let (xv, xs) = win(ctx, &sx, r0 * n, rn * n)?;
                let (mv, ms) = win(ctx, &mean, r0, rn)?;
                let (sv, _) = win(ctx, &rstd, r0, rn)?;
                let (dyv, dys) = win(ctx, dy, r0 * n, rn * n)?;
                let (dxv, dxs) = win(ctx, &dx, r0 * n, rn * n)?;
                let params = [u(rn), u(n), 0, 0, xs, gs, 0, dxs, ms, dys, 0, 0];
                ctx.dispatch(&BACKWARD_INPUT, &Spec::new(), &params, &[xv, gv, mv, sv, dyv, dxv], grid(rn))?;
            }
            Some(dx)
        } else {
            None
        };
        let (dgamma, dbeta) = if gg || gb {
            let dgamma = Tensor::empty(&[n])?;
            let dbeta = Tensor::empty(&[n])?;
            let (dgv, dgs) = whole(ctx, "layer_norm", &dgamma)?;
            let (dbv, dbs) = whole(ctx, "layer_norm", &dbeta)?;
            for (i, &(r0, rn)) in chunks_.iter().enumerate() {
                let (xv, xs) = win(ctx, &sx, r0 * n, rn * n)?;
                let (mv, ms) = win(ctx, &mean, r0, rn)?;
                let (sv, _) = win(ctx, &rstd, r0, rn)?;
                let (dyv, dys) = win(ctx, dy, r0 * n, rn * n)?;
                let params = [u(rn), u(n), 0, (i > 0) as u32, xs, dgs, dbs, 0, ms, dys, 0, 0];
                ctx.dispatch(
                    &BACKWARD_PARAMS,
                    &Spec::new(),
                    &params,
                    &[xv, mv, sv, dyv, dgv, dbv],
                    grid(n.div_ceil(256)),
                )?;
            }
            (gg.then_some(dgamma), gb.then_some(dbeta))
        } else {
            (None, None)
        };
        Ok(vec![dx, dgamma, dbeta])
    }))
}

impl Tensor {
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
        layer_norm(self, gamma, beta, eps)
    }
}
