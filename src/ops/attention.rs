//! Fused scaled-dot-product attention (torch.nn.functional.scaled_dot_product_attention),
//! forward and backward, flash-style: the [N, N] score matrix is never stored (at N = 4096
//! with 8 heads it would be 512 MiB per image). Forward saves the output and the row
//! logsumexp; backward recomputes the probabilities from them.

use super::launch::{chunks, u, win};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::{Access, BindView, Kernel, Shader, Spec, SpecValue};
use crate::tensor::Tensor;

use SpecValue::{Bool as B, U32 as U};

pub static SHADER: Shader = Shader {
    name: "attention",
    source: include_str!("../../shaders/attention.wgsl"),
    variants: &[
        &[("D", U(40)), ("CAUSAL", B(false))],
        &[("D", U(64)), ("CAUSAL", B(true))],
        &[("D", U(160)), ("CAUSAL", B(false))],
    ],
};
static FORWARD: Kernel = Kernel {
    shader: &SHADER,
    entry: "attention_forward",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite],
};
static BACKWARD_DQ: Kernel = Kernel {
    shader: &SHADER,
    entry: "attention_backward_dq",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};
static BACKWARD_DKV: Kernel = Kernel {
    shader: &SHADER,
    entry: "attention_backward_dkv",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

/// Queries (or keys) per workgroup and keys (or queries) per staged tile, as in the shader.
const WG: usize = 64;
const TILE: usize = 16;

/// The uniform block of `attention.wgsl`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    nq: u32,
    nk: u32,
    scale: f32,
    _p0: u32,
    q_shift: u32,
    k_shift: u32,
    v_shift: u32,
    o_shift: u32,
    lse_shift: u32,
    do_shift: u32,
    g1_shift: u32,
    g2_shift: u32,
    drow_shift: u32,
    _p1: [u32; 3],
}

#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    nq: usize,
    nk: usize,
    d: usize,
    causal: bool,
    scale: f32,
}

impl Dims {
    fn spec(&self) -> Spec {
        Spec::new().u32("D", self.d as u32).bool("CAUSAL", self.causal)
    }
    /// Batch (x heads) chunks whose tensors fit one binding each.
    fn batch_chunks(&self) -> Result<Vec<(usize, usize)>> {
        let ctx = Tensor::ctx()?;
        let per = ctx.max_binding_elems() / (self.nq.max(self.nk) * self.d).max(1);
        if per == 0 {
            return Err(Error::invalid(
                "attention",
                format!("one head's {} x {} queries or keys exceed the binding limit", self.nq.max(self.nk), self.d),
            ));
        }
        Ok(chunks(self.batch, per.min(65535)))
    }
}

/// Binding windows for `tensors` over batches [b0, b0 + bn), each `rows` rows of `d` per batch.
fn windows<'a>(tensors: &[(&'a Tensor, usize)], b0: usize, bn: usize) -> Result<Vec<(BindView<'a>, u32)>> {
    let ctx = Tensor::ctx()?;
    tensors.iter().map(|(t, per_batch)| win(ctx, t, b0 * per_batch, bn * per_batch)).collect()
}

/// Whether the fused kernel takes heads of dimension `d` on this adapter: its tiles of K and V
/// must fit the workgroup memory.
pub fn fused_supports(d: usize) -> Result<bool> {
    let ctx = Tensor::ctx()?;
    Ok(d > 0 && ((2 * TILE * d + 2 * TILE) as u32) * 4 <= ctx.limits.max_compute_workgroup_storage_size)
}

/// softmax(scale · q kᵀ [causal]) v for q [B, Nq, D], k and v [B, Nk, D] -> [B, Nq, D].
/// `scale` is usually 1/sqrt(D).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, scale: f32) -> Result<Tensor> {
    let ok = q.rank() == 3 && k.rank() == 3 && k.shape() == v.shape() && q.dim(0) == k.dim(0) && q.dim(2) == k.dim(2);
    if !ok {
        return Err(Error::shape_hint(
            "attention",
            q.shape(),
            k.shape(),
            format!("expected q [B, Nq, D] and k, v [B, Nk, D]; v is {:?}", v.shape()),
        ));
    }
    let ctx = Tensor::ctx()?;
    let dims = Dims { batch: q.dim(0), nq: q.dim(1), nk: k.dim(1), d: q.dim(2), causal, scale };
    let wg_bytes = (2 * TILE * dims.d + 2 * TILE) as u32 * 4;
    if dims.d == 0 || wg_bytes > ctx.limits.max_compute_workgroup_storage_size {
        return Err(Error::invalid(
            "attention",
            format!(
                "head dimension {} needs {wg_bytes} bytes of workgroup memory; the adapter has {}",
                dims.d, ctx.limits.max_compute_workgroup_storage_size
            ),
        ));
    }
    let o = Tensor::empty(q.shape())?;
    let lse = Tensor::empty(&[dims.batch, dims.nq])?;
    if dims.nq > 0 && dims.nk == 0 {
        return Err(Error::invalid("attention", "no keys to attend to"));
    }
    let (qd, kd) = (dims.nq * dims.d, dims.nk * dims.d);
    for (b0, bn) in dims.batch_chunks()? {
        let w = windows(&[(q, qd), (k, kd), (v, kd), (&o, qd), (&lse, dims.nq)], b0, bn)?;
        let p = Params {
            nq: u(dims.nq),
            nk: u(dims.nk),
            scale,
            q_shift: w[0].1,
            k_shift: w[1].1,
            v_shift: w[2].1,
            o_shift: w[3].1,
            lse_shift: w[4].1,
            ..Default::default()
        };
        let views: Vec<BindView> = w.iter().map(|x| x.0).collect();
        let groups = [dims.nq.div_ceil(WG) as u32, 1, bn as u32];
        ctx.dispatch(&FORWARD, &dims.spec(), bytemuck::cast_slice(&[p]), &views, groups)?;
    }
    let (gq, gk, gv) = (needs_grad(q), needs_grad(k), needs_grad(v));
    let (sq, sk, sv, so) = (q.detach(), k.detach(), v.detach(), o.detach());
    Ok(record(o, "attention", &[q, k, v], move |dout| {
        let ctx = Tensor::ctx()?;
        let dq = Tensor::empty(sq.shape())?;
        let dk = Tensor::empty(sk.shape())?;
        let dv = Tensor::empty(sv.shape())?;
        let drow = Tensor::empty(&[dims.batch, dims.nq])?;
        for (b0, bn) in dims.batch_chunks()? {
            let w = windows(
                &[(&sq, qd), (&sk, kd), (&sv, kd), (&so, qd), (dout, qd), (&lse, dims.nq), (&dq, qd), (&drow, dims.nq)],
                b0,
                bn,
            )?;
            let p = Params {
                nq: u(dims.nq),
                nk: u(dims.nk),
                scale: dims.scale,
                q_shift: w[0].1,
                k_shift: w[1].1,
                v_shift: w[2].1,
                o_shift: w[3].1,
                do_shift: w[4].1,
                lse_shift: w[5].1,
                g1_shift: w[6].1,
                drow_shift: w[7].1,
                ..Default::default()
            };
            let views: Vec<BindView> = w.iter().map(|x| x.0).collect();
            let groups = [dims.nq.div_ceil(WG) as u32, 1, bn as u32];
            ctx.dispatch(&BACKWARD_DQ, &dims.spec(), bytemuck::cast_slice(&[p]), &views, groups)?;

            let w = windows(
                &[(&sq, qd), (&sk, kd), (&sv, kd), (dout, qd), (&lse, dims.nq), (&drow, dims.nq), (&dk, kd), (&dv, kd)],
                b0,
                bn,
            )?;
            let p = Params {
                nq: u(dims.nq),
                nk: u(dims.nk),
                scale: dims.scale,
                q_shift: w[0].1,
                k_shift: w[1].1,
                v_shift: w[2].1,
                do_shift: w[3].1,
                lse_shift: w[4].1,
                drow_shift: w[5].1,
                g1_shift: w[6].1,
                g2_shift: w[7].1,
                ..Default::default()
            };
            let views: Vec<BindView> = w.iter().map(|x| x.0).collect();
            let groups = [dims.nk.div_ceil(WG) as u32, 1, bn as u32];
            ctx.dispatch(&BACKWARD_DKV, &dims.spec(), bytemuck::cast_slice(&[p]), &views, groups)?;
        }
        Ok(vec![gq.then_some(dq), gk.then_some(dk), gv.then_some(dv)])
    }))
}
