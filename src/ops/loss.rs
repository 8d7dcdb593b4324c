//! Mean squared error, as torch.nn.functional.mse_loss(reduction="mean").

use super::launch::{chunks, grid, u, win};
use super::reduce::reduce_into;
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec, Uniforms};
use crate::tensor::Tensor;

pub static SHADER: Shader = Shader::file("loss", include_str!("../../shaders/loss.wgsl"), &[&[]], &[&Params::LAYOUT]);

crate::uniforms! {
    /// The uniform block of `loss.wgsl`.
    struct Params {
        n: u32,
        a_shift: u32,
        b_shift: u32,
        out_shift: u32,
        dloss_shift: u32,
        db_shift: u32,
        scale: f32,
        _p0: u32,
    }
}
static PARTIAL: Kernel =
    Kernel { shader: &SHADER, entry: "mse_partial", bindings: &[Access::Read, Access::Read, Access::ReadWrite] };
static BACKWARD: Kernel = Kernel {
    shader: &SHADER,
    entry: "mse_backward",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};

/// Elements one workgroup of `mse_partial` sums (256 invocations x ITEMS).
const BLOCK: usize = 256 * 16;

/// mean((a - b)^2) over all elements, shape \[1\].
pub fn mse_loss(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.shape() != b.shape() {
        return Err(Error::shape("mse_loss", a.shape(), b.shape()));
    }
    let ctx = Tensor::ctx()?;
    let n = a.numel();
    let parts = chunks(n, ctx.max_binding_elems());
    let total_blocks = parts.iter().map(|(_, len)| len.div_ceil(BLOCK)).sum::<usize>().max(1);
    let partials = Tensor::zeros(&[total_blocks])?;
    let mut first_block = 0;
    for &(s, len) in &parts {
        let (av, ash) = win(ctx, a, s, len)?;
        let (bv, bsh) = win(ctx, b, s, len)?;
        let blocks = len.div_ceil(BLOCK);
        let (pv, psh) = win(ctx, &partials, first_block, blocks)?;
        first_block += blocks;
        let params = Params { n: u(len), a_shift: ash, b_shift: bsh, out_shift: psh, ..Default::default() };
        ctx.dispatch(&PARTIAL, &Spec::new(), &params, &[av, bv, pv], grid(blocks))?;
    }
    let loss = Tensor::empty(&[1])?;
    reduce_into(&partials, 1, total_blocks, 1, 1.0 / n.max(1) as f32, false, &loss, 0)?;

    let (ga, gb) = (needs_grad(a), needs_grad(b));
    let (sa, sb) = (a.detach(), b.detach());
    Ok(record(loss, "mse_loss", &[a, b], move |dloss| {
        let ctx = Tensor::ctx()?;
        let da = Tensor::empty(sa.shape())?;
        let db = Tensor::empty(sa.shape())?;
        let (lv, ls) = win(ctx, dloss, 0, 1)?;
        for (s, len) in chunks(n, ctx.max_binding_elems()) {
            let (av, ash) = win(ctx, &sa, s, len)?;
            let (bv, bsh) = win(ctx, &sb, s, len)?;
            let (dav, das) = win(ctx, &da, s, len)?;
            let (dbv, dbs) = win(ctx, &db, s, len)?;
            let params = Params {
                n: u(len),
                a_shift: ash,
                b_shift: bsh,
                out_shift: das,
                dloss_shift: ls,
                db_shift: dbs,
                scale: 2.0 / n as f32,
                ..Default::default()
            };
            ctx.dispatch(&BACKWARD, &Spec::new(), &params, &[av, bv, lv, dav, dbv], grid(len.div_ceil(256)))?;
        }
        Ok(vec![ga.then_some(da), gb.then_some(db)])
    }))
}
