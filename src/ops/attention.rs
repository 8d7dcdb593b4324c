//! Scaled-dot-product attention (torch.nn.functional.scaled_dot_product_attention), forward
//! and backward, in two forms that give the same results and keep the same memory: the
//! [N, N] score matrix is never stored whole (at N = 4096 with 8 heads it would be 512 MiB
//! per image). Forward saves the output and the row logsumexp; backward recomputes the
//! probabilities from them (FlashAttention-2's backward, Dao 2023).
//!
//! - [`Strategy::Fused`]: one flash-style kernel per pass (`attention.wgsl`), one invocation
//!   per query or key row. Needs workgroup memory for its K/V tiles, so head dims up to a
//!   limit; the only form with a causal mask.
//! - [`Strategy::Gemm`]: chunks of queries through the register-blocked GEMM kernels, with
//!   row kernels (`attention_rows.wgsl`) for the softmax in between; the scores of one chunk
//!   (at most [`SCRATCH_FLOATS`]) live in a scratch buffer. Any head dimension. On lavapipe
//!   it runs 4-5x faster than the fused kernel, whose per-query loop does as many loads as
//!   FMAs. Its products may run on the cooperative-matrix GEMM (where the tuner chose it or
//!   it is forced): with f32 matrices always, with f16 ones under fp16 autocast only, their
//!   operands (q, k, v, the probabilities, dO, the score gradients) rounded to f16 as they are
//!   staged, which is what torch's autocast does to attention; the softmax, the logsumexp and
//!   every sum stay f32.

use std::fmt;

use super::gemm::{gemm_strided, Mat};
use super::launch::{chunks, grid, u, win};
use crate::autograd::{needs_grad, no_grad, record};
use crate::error::{Error, Result};
use crate::gpu::tune::{bucket, tuner, TuneKey};
use crate::gpu::variant::{self, Family};
use crate::gpu::{time_gpu, Access, BindView, DType, Kernel, Shader, Spec, SpecValue, Uniforms};
use crate::tensor::Tensor;

use SpecValue::{Bool as B, U32 as U};

pub static SHADER: Shader = Shader::file(
    "attention",
    include_str!("../../shaders/attention.wgsl"),
    &[
        &[("D", U(40)), ("CAUSAL", B(false))],
        &[("D", U(64)), ("CAUSAL", B(true))],
        &[("D", U(160)), ("CAUSAL", B(false))],
    ],
    &[&Params::LAYOUT],
);
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

pub static ROWS_SHADER: Shader =
    Shader::file("attention_rows", include_str!("../../shaders/attention_rows.wgsl"), &[&[]], &[&RowParams::LAYOUT]);
static SOFTMAX_LSE: Kernel =
    Kernel { shader: &ROWS_SHADER, entry: "softmax_lse", bindings: &[Access::ReadWrite, Access::ReadWrite] };
static PROBS: Kernel = Kernel { shader: &ROWS_SHADER, entry: "probs", bindings: &[Access::ReadWrite, Access::Read] };
static DSCORES: Kernel =
    Kernel { shader: &ROWS_SHADER, entry: "dscores", bindings: &[Access::Read, Access::ReadWrite, Access::Read] };

/// The largest score chunk of the GEMM form, in floats (64 MiB; backward holds two).
pub const SCRATCH_FLOATS: usize = 16 << 20;

thread_local! {
    static FORCED_CHUNK: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Forces the GEMM form's score chunks to at most `floats` on this thread (`None`: the
/// default): tests use it to run the query chunks (dK and dV accumulating over them, as at SD
/// 1.5's 4096 tokens) at small sizes, where the binding limit cannot be lowered (the matrix
/// units' self-tests need their operands whole).
pub fn force_chunk_floats(floats: Option<usize>) {
    FORCED_CHUNK.with(|f| f.set(floats));
}

/// How attention is computed; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Fused,
    Gemm,
}

impl Strategy {
    /// The caller's choice where it applies; else a forced form (`ENGINE_ATTENTION=fused|gemm`,
    /// or [`variant::force`] on this thread: benchmarks and comparisons); else, where both
    /// apply, the tuned choice for the shape class (timed on the forward), by default the
    /// GEMM form.
    fn choose(dims: &Dims, fused_ok: bool, wanted: Option<Strategy>) -> Result<Strategy> {
        let gemm_ok = !dims.causal && dims.nk <= SCRATCH_FLOATS.min(Tensor::ctx()?.max_binding_elems());
        let wanted = wanted.or_else(|| match variant::forced(Family::Attention).as_deref() {
            Some("fused") => Some(Strategy::Fused),
            Some("gemm") => Some(Strategy::Gemm),
            _ => None,
        });
        Ok(match wanted {
            Some(Strategy::Fused) if fused_ok => Strategy::Fused,
            Some(Strategy::Gemm) if gemm_ok => Strategy::Gemm,
            _ if gemm_ok && fused_ok => Self::tuned(dims)?,
            _ if gemm_ok => Strategy::Gemm,
            _ => Strategy::Fused,
        })
    }

    fn tuned(dims: &Dims) -> Result<Strategy> {
        let key = AttentionKey {
            dtype: dims.dtype,
            half: dims.half,
            d: dims.d,
            nq: bucket(dims.nq),
            nk: bucket(dims.nk),
            batch: bucket(dims.batch),
        };
        let forms = [Strategy::Gemm, Strategy::Fused];
        let mut time = |i: usize| -> Result<f64> {
            let _g = no_grad();
            let q = Tensor::zeros(&[dims.batch, dims.nq, dims.d])?;
            let kv = Tensor::zeros(&[dims.batch, dims.nk, dims.d])?;
            let run = || attention_with(&q, &kv, &kv, false, dims.scale, Some(forms[i])).map(|_| ());
            Ok(time_gpu(3, run)?.0)
        };
        let name = tuner()?.choose(&key, &["gemm", "fused"], 0, Some(&mut time))?;
        Ok(if name == "fused" { Strategy::Fused } else { Strategy::Gemm })
    }
}

/// Attention's tuning key: the storage dtype, whether the products may be half (fp16
/// autocast), the head dimension and the shape class.
struct AttentionKey {
    dtype: DType,
    half: bool,
    d: usize,
    nq: usize,
    nk: usize,
    batch: usize,
}

impl fmt::Display for AttentionKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let AttentionKey { dtype, half, d, nq, nk, batch } = self;
        let autocast = if *half { " autocast f16" } else { "" };
        write!(f, "attention {dtype}{autocast} d{d} nq{nq} nk{nk} b{batch}")
    }
}

impl TuneKey for AttentionKey {}

crate::uniforms! {
    /// The uniform block of `attention_rows.wgsl`.
    struct RowParams {
        rows: u32,
        n: u32,
        per: u32,
        nq: u32,
        s_shift: u32,
        lse_shift: u32,
        d_shift: u32,
        drow_shift: u32,
        q0: u32,
        _p0: u32,
        _p1: u32,
        _p2: u32,
    }
}

/// Queries (or keys) per workgroup and keys (or queries) per staged tile, as in the shader.
const WG: usize = 64;
const TILE: usize = 16;

crate::uniforms! {
    /// The uniform block of `attention.wgsl`.
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
        _p1: u32,
        _p2: u32,
        _p3: u32,
    }
}

#[derive(Clone, Copy)]
struct Dims {
    dtype: DType,
    /// Under fp16 autocast, where the GEMM form's products may round their operands to f16
    /// on the matrix units (`gemm::half_products`): a tuning class of its own.
    half: bool,
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

/// Chunks of the GEMM form: (batch start, batches, query start, queries), each chunk's scores
/// ([batches, queries, Nk]) at most [`SCRATCH_FLOATS`] and every operand's span within one
/// binding.
fn gemm_chunks(dims: &Dims) -> Result<Vec<(usize, usize, usize, usize)>> {
    let budget = FORCED_CHUNK.with(|f| f.get()).unwrap_or(SCRATCH_FLOATS).min(Tensor::ctx()?.max_binding_elems());
    let per_row = dims.nk.max(1);
    let mut out = Vec::new();
    for (b0, bn) in dims.batch_chunks()? {
        // Whole batches of queries where they fit, else fewer batches, else fewer queries.
        let bb = (budget / (per_row * dims.nq.max(1))).clamp(1, bn);
        let c = (budget / (per_row * bb)).clamp(1, dims.nq.max(1));
        for (b1, bm) in chunks(bn, bb) {
            for (i0, ic) in chunks(dims.nq, c) {
                out.push((b0 + b1, bm, i0, ic));
            }
        }
    }
    Ok(out)
}

/// Rows `[b0, b0+bn) x [i0, i0+ic)` of a [B, N, D] tensor as a strided operand.
fn rows_of<'a>(t: &'a Tensor, dims: &Dims, n: usize, b0: usize, i0: usize, ic: usize) -> Mat<'a> {
    Mat { t, offset: (b0 * n + i0) * dims.d, batch_stride: n * dims.d, ld: dims.d, rows: ic, cols: dims.d }
}

/// A [bn, ic, Nk] scratch chunk as a strided operand.
fn scores<'a>(t: &'a Tensor, dims: &Dims, ic: usize) -> Mat<'a> {
    Mat { t, offset: 0, batch_stride: ic * dims.nk, ld: dims.nk, rows: ic, cols: dims.nk }
}

/// Declares a fused attention dispatch's FLOPs for the profile (`gpu::profile::count_flops`):
/// `products` products of queries x keys x head width over `batches` heads (the forward's
/// scores and P·V: 2; dQ's pass recomputes the scores and makes dP and dQ: 3; dK and dV's pass
/// the scores, dP, dV and dK: 4), a causal mask's skipped half included.
fn count_products(dims: &Dims, batches: usize, products: u64) {
    let per = 2 * dims.nq as u64 * dims.nk as u64 * dims.d as u64;
    crate::gpu::profile::count_flops(products * per * batches as u64);
}

fn rows_dispatch(kernel: &'static Kernel, p: RowParams, views: &[BindView]) -> Result<()> {
    Tensor::ctx()?.dispatch(kernel, &Spec::new(), &p, views, grid(p.rows as usize))
}

fn gemm_forward(dims: &Dims, q: &Tensor, k: &Tensor, v: &Tensor, o: &Tensor, lse: &Tensor) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let plan = gemm_chunks(dims)?;
    let largest = plan.iter().map(|c| c.1 * c.3).max().unwrap_or(0);
    let s = Tensor::empty(&[largest.max(1) * dims.nk])?;
    for (b0, bn, i0, ic) in plan {
        let sm = scores(&s, dims, ic);
        gemm_strided(
            rows_of(q, dims, dims.nq, b0, i0, ic),
            rows_of(k, dims, dims.nk, b0, 0, dims.nk),
            sm,
            bn,
            (false, true),
            dims.scale,
            0.0,
        )?;
        let sw = win(ctx, &s, 0, bn * ic * dims.nk)?;
        let lw = win(ctx, lse, b0 * dims.nq, bn * dims.nq)?;
        let p = RowParams {
            rows: u(bn * ic),
            n: u(dims.nk),
            per: u(ic),
            nq: u(dims.nq),
            s_shift: sw.1,
            lse_shift: lw.1,
            q0: u(i0),
            ..Default::default()
        };
        rows_dispatch(&SOFTMAX_LSE, p, &[sw.0, lw.0])?;
        gemm_strided(
            sm,
            rows_of(v, dims, dims.nk, b0, 0, dims.nk),
            rows_of(o, dims, dims.nq, b0, i0, ic),
            bn,
            (false, false),
            1.0,
            0.0,
        )?;
    }
    Ok(())
}

/// dQ, dK, dV of the GEMM form, from q, k, v, the output o, its gradient and the logsumexp.
fn gemm_backward(dims: &Dims, saved: [&Tensor; 6], grads: [&Tensor; 3]) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let [q, k, v, o, dout, lse] = saved;
    let [dq, dk, dv] = grads;
    let drow = {
        let _g = no_grad();
        dout.mul(o)?.sum(2, false)?
    };
    let plan = gemm_chunks(dims)?;
    let largest = plan.iter().map(|c| c.1 * c.3).max().unwrap_or(0);
    let s = Tensor::empty(&[largest.max(1) * dims.nk])?;
    let ds = Tensor::empty(&[largest.max(1) * dims.nk])?;
    for (b0, bn, i0, ic) in plan {
        let (sm, dsm) = (scores(&s, dims, ic), scores(&ds, dims, ic));
        let (qc, doc) = (rows_of(q, dims, dims.nq, b0, i0, ic), rows_of(dout, dims, dims.nq, b0, i0, ic));
        let (kb, vb) = (rows_of(k, dims, dims.nk, b0, 0, dims.nk), rows_of(v, dims, dims.nk, b0, 0, dims.nk));
        gemm_strided(qc, kb, sm, bn, (false, true), dims.scale, 0.0)?;
        gemm_strided(doc, vb, dsm, bn, (false, true), 1.0, 0.0)?;
        let sw = win(ctx, &s, 0, bn * ic * dims.nk)?;
        let dw = win(ctx, &ds, 0, bn * ic * dims.nk)?;
        let lw = win(ctx, lse, b0 * dims.nq, bn * dims.nq)?;
        let rw = win(ctx, &drow, b0 * dims.nq, bn * dims.nq)?;
        let p = RowParams {
            rows: u(bn * ic),
            n: u(dims.nk),
            per: u(ic),
            nq: u(dims.nq),
            s_shift: sw.1,
            lse_shift: lw.1,
            d_shift: dw.1,
            drow_shift: rw.1,
            q0: u(i0),
            ..Default::default()
        };
        rows_dispatch(&PROBS, p, &[sw.0, lw.0])?;
        rows_dispatch(&DSCORES, p, &[sw.0, dw.0, rw.0])?;
        // dQ = scale dS K; dK += scale dSᵀ Q; dV += Pᵀ dO (the first query chunk writes).
        let beta = if i0 == 0 { 0.0 } else { 1.0 };
        gemm_strided(dsm, kb, rows_of(dq, dims, dims.nq, b0, i0, ic), bn, (false, false), dims.scale, 0.0)?;
        gemm_strided(dsm, qc, rows_of(dk, dims, dims.nk, b0, 0, dims.nk), bn, (true, false), dims.scale, beta)?;
        gemm_strided(sm, doc, rows_of(dv, dims, dims.nk, b0, 0, dims.nk), bn, (true, false), 1.0, beta)?;
    }
    Ok(())
}

/// softmax(scale · q kᵀ \[causal\]) v for q \[B, Nq, D\], k and v \[B, Nk, D\] -> \[B, Nq, D\].
/// `scale` is usually 1/sqrt(D).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, scale: f32) -> Result<Tensor> {
    attention_with(q, k, v, causal, scale, None)
}

/// [`attention`] in the form `strategy` where that form applies to the shapes (the fused
/// kernel needs its tiles in workgroup memory; the GEMM form takes no causal mask), else in
/// the other.
pub fn attention_with(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal: bool,
    scale: f32,
    strategy: Option<Strategy>,
) -> Result<Tensor> {
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
    let half = super::gemm::half_products();
    let dims = Dims { dtype: q.dtype(), half, batch: q.dim(0), nq: q.dim(1), nk: k.dim(1), d: q.dim(2), causal, scale };
    if dims.nq > 0 && dims.nk == 0 {
        return Err(Error::invalid("attention", "no keys to attend to"));
    }
    let wg_bytes = (2 * TILE * dims.d + 2 * TILE) as u32 * 4;
    let fused_ok = dims.d > 0 && wg_bytes <= ctx.limits.max_compute_workgroup_storage_size;
    let strategy = Strategy::choose(&dims, fused_ok, strategy)?;
    if strategy == Strategy::Fused && !fused_ok {
        return Err(Error::invalid(
            "attention",
            format!(
                "attention with head dimension {} (causal: {}, {} keys) needs the fused kernel, which needs \
                 {wg_bytes} bytes of workgroup memory; the adapter has {}. The GEMM form takes no causal mask \
                 and at most {} keys",
                dims.d,
                dims.causal,
                dims.nk,
                ctx.limits.max_compute_workgroup_storage_size,
                SCRATCH_FLOATS.min(ctx.max_binding_elems())
            ),
        ));
    }
    let o = Tensor::empty(q.shape())?;
    let lse = Tensor::empty(&[dims.batch, dims.nq])?;
    let (qd, kd) = (dims.nq * dims.d, dims.nk * dims.d);
    if strategy == Strategy::Gemm {
        gemm_forward(&dims, q, k, v, &o, &lse)?;
    } else {
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
            count_products(&dims, bn, 2);
            ctx.dispatch(&FORWARD, &dims.spec(), &p, &views, groups)?;
        }
    }
    let (gq, gk, gv) = (needs_grad(q), needs_grad(k), needs_grad(v));
    let (sq, sk, sv, so) = (q.detach(), k.detach(), v.detach(), o.detach());
    Ok(record(o, "attention", &[q, k, v], move |dout| {
        let ctx = Tensor::ctx()?;
        let dq = Tensor::empty(sq.shape())?;
        let dk = Tensor::empty(sk.shape())?;
        let dv = Tensor::empty(sv.shape())?;
        if strategy == Strategy::Gemm {
            gemm_backward(&dims, [&sq, &sk, &sv, &so, dout, &lse], [&dq, &dk, &dv])?;
            return Ok(vec![gq.then_some(dq), gk.then_some(dk), gv.then_some(dv)]);
        }
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
            count_products(&dims, bn, 3);
            ctx.dispatch(&BACKWARD_DQ, &dims.spec(), &p, &views, groups)?;

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
            count_products(&dims, bn, 4);
            ctx.dispatch(&BACKWARD_DKV, &dims.spec(), &p, &views, groups)?;
        }
        Ok(vec![gq.then_some(dq), gk.then_some(dk), gv.then_some(dv)])
    }))
}
