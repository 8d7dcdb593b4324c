//! Normalisation with affine parameters: layer norm over the last axis (torch.nn.LayerNorm)
//! and group norm over NCHW channel groups (torch.nn.GroupNorm). Both are one kernel family
//! (`norm.wgsl`); forward saves the per-row mean and 1/std for backward.

use super::launch::{chunks, grid, u, whole, win};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec, Uniforms};
use crate::tensor::Tensor;

pub static SHADER: Shader = Shader::file("norm", include_str!("../../shaders/norm.wgsl"), &[&[]], &[&Params::LAYOUT]);

crate::uniforms! {
    /// The uniform block of `norm.wgsl`.
    struct Params {
        rows: u32,
        n: u32,
        eps: f32,
        accumulate: u32,
        x_shift: u32,
        g_shift: u32,
        b_shift: u32,
        y_shift: u32,
        stat_shift: u32,
        dy_shift: u32,
        groups: u32,
        hw: u32,
        /// The group of row 0 of this dispatch: a chunk of a very large input may start
        /// mid-sample.
        group0: u32,
        _p0: u32,
        _p1: u32,
        _p2: u32,
    }
}
static FORWARD: Kernel = Kernel {
    shader: &SHADER,
    entry: "norm_forward",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite],
};
/// `norm_forward` for group norm four elements at a time (planes a multiple of 4, vec4 windows).
static FORWARD4: Kernel = Kernel {
    shader: &SHADER,
    entry: "norm_forward4",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite],
};
static BACKWARD_INPUT: Kernel = Kernel {
    shader: &SHADER,
    entry: "norm_backward_input",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};
/// `norm_backward_input` for group norm four elements at a time, where `FORWARD4` applies.
static BACKWARD_INPUT4: Kernel = Kernel {
    shader: &SHADER,
    entry: "norm_backward_input4",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};
static BACKWARD_PARAMS: Kernel = Kernel {
    shader: &SHADER,
    entry: "norm_backward_params",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};
/// `norm_backward_params` with a workgroup per channel and a tree sum: the GPUs' entry (see
/// norm.wgsl; on lavapipe its barriers made it 4-13x slower).
static BACKWARD_PARAMS_WG: Kernel = Kernel {
    shader: &SHADER,
    entry: "norm_backward_params_wg",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};

thread_local! {
    static FORCED_PARAMS_WG: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Forces the parameter gradients' entry on this thread: `Some(true)` the workgroup-per-channel
/// one (the GPUs' default), `Some(false)` the invocation-per-channel one (CPU adapters'),
/// `None` the adapter's default. Tests run both on lavapipe.
pub fn force_params_per_workgroup(choice: Option<bool>) {
    FORCED_PARAMS_WG.with(|f| f.set(choice));
}

/// How the input is viewed: `rows` rows of `n` elements; row r is group r % `groups`, and
/// element i of a row uses affine index (r % groups) * (n / hw) + i / hw.
#[derive(Clone, Copy)]
struct Layout {
    rows: usize,
    n: usize,
    groups: usize,
    hw: usize,
}

impl Layout {
    /// The uniform block of `norm.wgsl`.
    #[allow(clippy::too_many_arguments)]
    fn params(
        &self,
        r0: usize,
        rows: usize,
        eps: f32,
        accumulate: bool,
        x: u32,
        g: u32,
        b: u32,
        y: u32,
        stat: u32,
        dy: u32,
    ) -> Params {
        Params {
            rows: u(rows),
            n: u(self.n),
            eps,
            accumulate: accumulate as u32,
            x_shift: x,
            g_shift: g,
            b_shift: b,
            y_shift: y,
            stat_shift: stat,
            dy_shift: dy,
            groups: u(self.groups),
            hw: u(self.hw),
            group0: u(r0 % self.groups),
            ..Default::default()
        }
    }

    /// Whether the vec4 kernels apply: group norm with planes a multiple of 4 (every SD shape)
    /// and every window (these shifts) starting on a vec4. Layer norm (hw = 1) and odd planes
    /// go one element at a time.
    fn by_vec4(&self, shifts: &[u32]) -> bool {
        self.hw > 1 && self.hw.is_multiple_of(4) && shifts.iter().all(|s| s % 4 == 0)
    }

    /// Row chunks that fit a binding (a chunk may start mid-sample: the kernel is told the
    /// group of its first row).
    fn chunks(&self, op: &'static str) -> Result<Vec<(usize, usize)>> {
        let ctx = Tensor::ctx()?;
        let per = ctx.max_binding_elems() / self.n.max(1);
        if per == 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "one row of {} elements (one group of one sample) exceeds the {}-byte binding limit",
                    self.n, ctx.max_binding
                ),
            ));
        }
        Ok(chunks(self.rows, per))
    }
}

fn norm(op: &'static str, x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32, l: Layout) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let y = Tensor::empty(x.shape())?;
    let mean = Tensor::empty(&[l.rows])?;
    let rstd = Tensor::empty(&[l.rows])?;
    let (gv, gs) = whole(ctx, op, gamma)?;
    let (bv, bs) = whole(ctx, op, beta)?;
    let n = l.n;
    for (r0, rn) in l.chunks(op)? {
        let (xv, xs) = win(ctx, x, r0 * n, rn * n)?;
        let (yv, ys) = win(ctx, &y, r0 * n, rn * n)?;
        // mean and rstd are equally sized fresh buffers: their windows have the same shift.
        let (mv, ms) = win(ctx, &mean, r0, rn)?;
        let (sv, _) = win(ctx, &rstd, r0, rn)?;
        let params = l.params(r0, rn, eps, false, xs, gs, bs, ys, ms, 0);
        // A quarter of the loads where the planes and windows allow vec4s.
        if l.by_vec4(&[xs, ys]) {
            let params = Params { x_shift: xs / 4, y_shift: ys / 4, ..params };
            ctx.dispatch(&FORWARD4, &Spec::new(), &params, &[xv, gv, bv, yv, mv, sv], grid(rn))?;
        } else {
            ctx.dispatch(&FORWARD, &Spec::new(), &params, &[xv, gv, bv, yv, mv, sv], grid(rn))?;
        }
    }
    let (gx, gg, gb) = (needs_grad(x), needs_grad(gamma), needs_grad(beta));
    let (sx, sg) = (x.detach(), gamma.detach());
    let channels = gamma.numel();
    Ok(record(y, op, &[x, gamma, beta], move |dy| {
        let ctx = Tensor::ctx()?;
        let row_chunks = l.chunks(op)?;
        let dx = if gx {
            let dx = Tensor::empty(sx.shape())?;
            let (gv, gs) = whole(ctx, op, &sg)?;
            for &(r0, rn) in &row_chunks {
                let (xv, xs) = win(ctx, &sx, r0 * n, rn * n)?;
                let (mv, ms) = win(ctx, &mean, r0, rn)?;
                let (sv, _) = win(ctx, &rstd, r0, rn)?;
                let (dyv, dys) = win(ctx, dy, r0 * n, rn * n)?;
                let (dxv, dxs) = win(ctx, &dx, r0 * n, rn * n)?;
                let params = l.params(r0, rn, 0.0, false, xs, gs, 0, dxs, ms, dys);
                let views = [xv, gv, mv, sv, dyv, dxv];
                if l.by_vec4(&[xs, dys, dxs]) {
                    let params = Params { x_shift: xs / 4, dy_shift: dys / 4, y_shift: dxs / 4, ..params };
                    ctx.dispatch(&BACKWARD_INPUT4, &Spec::new(), &params, &views, grid(rn))?;
                } else {
                    ctx.dispatch(&BACKWARD_INPUT, &Spec::new(), &params, &views, grid(rn))?;
                }
            }
            Some(dx)
        } else {
            None
        };
        let (dgamma, dbeta) = if gg || gb {
            let dgamma = Tensor::empty(&[channels])?;
            let dbeta = Tensor::empty(&[channels])?;
            let (dgv, dgs) = whole(ctx, op, &dgamma)?;
            let (dbv, dbs) = whole(ctx, op, &dbeta)?;
            for (i, &(r0, rn)) in row_chunks.iter().enumerate() {
                let (xv, xs) = win(ctx, &sx, r0 * n, rn * n)?;
                let (mv, ms) = win(ctx, &mean, r0, rn)?;
                let (sv, _) = win(ctx, &rstd, r0, rn)?;
                let (dyv, dys) = win(ctx, dy, r0 * n, rn * n)?;
                let params = l.params(r0, rn, 0.0, i > 0, xs, dgs, dbs, 0, ms, dys);
                let views = [xv, mv, sv, dyv, dgv, dbv];
                if FORCED_PARAMS_WG.with(|f| f.get()).unwrap_or(!ctx.caps.cpu) {
                    ctx.dispatch(&BACKWARD_PARAMS_WG, &Spec::new(), &params, &views, grid(channels))?;
                } else {
                    ctx.dispatch(&BACKWARD_PARAMS, &Spec::new(), &params, &views, grid(channels.div_ceil(256)))?;
                }
            }
            (gg.then_some(dgamma), gb.then_some(dbeta))
        } else {
            (None, None)
        };
        Ok(vec![dx, dgamma, dbeta])
    }))
}

/// y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis of x [..., n];
/// gamma and beta are \[n\].
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
    norm("layer_norm", x, gamma, beta, eps, Layout { rows: x.numel() / n.max(1), n, groups: 1, hw: 1 })
}

/// Group norm of x [N, C, ...] with `groups` groups of C / groups channels, normalised over
/// each group's channels and positions; gamma and beta are \[C\] (torch.nn.GroupNorm).
pub fn group_norm(x: &Tensor, groups: usize, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
    if x.rank() < 2 {
        return Err(Error::invalid("group_norm", format!("needs [N, C, ...], got {:?}", x.shape())));
    }
    let c = x.dim(1);
    if groups == 0 || !c.is_multiple_of(groups) {
        return Err(Error::invalid("group_norm", format!("{c} channels do not split into {groups} groups")));
    }
    if gamma.shape() != [c] || beta.shape() != [c] {
        return Err(Error::shape_hint(
            "group_norm",
            x.shape(),
            gamma.shape(),
            format!("weight and bias must be [{c}], bias is {:?}", beta.shape()),
        ));
    }
    let hw: usize = x.shape()[2..].iter().product();
    let l = Layout { rows: x.dim(0) * groups, n: c / groups * hw, groups, hw };
    norm("group_norm", x, gamma, beta, eps, l)
}

impl Tensor {
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
        layer_norm(self, gamma, beta, eps)
    }
    pub fn group_norm(&self, groups: usize, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
        group_norm(self, groups, gamma, beta, eps)
    }
}
