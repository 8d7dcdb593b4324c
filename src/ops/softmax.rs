//! Softmax over the last axis. Backward uses the saved output: dx = y * (dy - sum(dy * y)).

use super::launch::{chunks, grid, u, win};
use crate::autograd::record;
use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec, Uniforms};
use crate::tensor::Tensor;

pub static SHADER: Shader =
    Shader::file("softmax", include_str!("../../shaders/softmax.wgsl"), &[&[]], &[&Params::LAYOUT]);

crate::uniforms! {
    /// The uniform block of `softmax.wgsl` (backward reads the saved output through `x_shift`).
    struct Params {
        rows: u32,
        n: u32,
        x_shift: u32,
        y_shift: u32,
        dy_shift: u32,
        dx_shift: u32,
        _p0: u32,
        _p1: u32,
    }
}
static FORWARD: Kernel =
    Kernel { shader: &SHADER, entry: "softmax_forward", bindings: &[Access::Read, Access::ReadWrite] };
static BACKWARD: Kernel =
    Kernel { shader: &SHADER, entry: "softmax_backward", bindings: &[Access::Read, Access::Read, Access::ReadWrite] };

fn rows_per_chunk(op: &'static str, n: usize) -> Result<usize> {
    let ctx = Tensor::ctx()?;
    let r = ctx.max_binding_elems() / n.max(1);
    if r == 0 {
        return Err(Error::invalid(
            op,
            format!("a row of {n} elements exceeds the {}-byte binding limit", ctx.max_binding),
        ));
    }
    Ok(r.min(65535 * 65535))
}

fn backward_raw(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let n = y.dim(-1);
    let rows = y.numel() / n.max(1);
    let dx = Tensor::empty(y.shape())?;
    for (r0, rn) in chunks(rows, rows_per_chunk("softmax backward", n)?) {
        let (yv, ys) = win(ctx, y, r0 * n, rn * n)?;
        let (gv, gs) = win(ctx, dy, r0 * n, rn * n)?;
        let (dv, ds) = win(ctx, &dx, r0 * n, rn * n)?;
        let params = Params { rows: u(rn), n: u(n), x_shift: ys, dy_shift: gs, dx_shift: ds, ..Default::default() };
        ctx.dispatch(&BACKWARD, &Spec::new(), &params, &[yv, gv, dv], grid(rn))?;
    }
    Ok(dx)
}

impl Tensor {
    /// Softmax over the last axis.
    pub fn softmax(&self) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::invalid("softmax", "needs at least one axis"));
        }
        let ctx = Tensor::ctx()?;
        let n = self.dim(-1);
        let rows = self.numel() / n.max(1);
        let y = Tensor::empty(self.shape())?;
        for (r0, rn) in chunks(rows, rows_per_chunk("softmax", n)?) {
            let (xv, xs) = win(ctx, self, r0 * n, rn * n)?;
            let (yv, ys) = win(ctx, &y, r0 * n, rn * n)?;
            let params = Params { rows: u(rn), n: u(n), x_shift: xs, y_shift: ys, ..Default::default() };
            ctx.dispatch(&FORWARD, &Spec::new(), &params, &[xv, yv], grid(rn))?;
        }
        let saved = y.detach();
        Ok(record(y, "softmax", &[self], move |g| Ok(vec![Some(backward_raw(&saved, g)?)])))
    }
}
