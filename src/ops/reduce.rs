//! Sum and mean over one axis (and over everything). Backward is a broadcast of the
//! gradient back to the input's shape.

use super::launch::{axis_index, chunks, gpu_split_rules, grid, pack8, u, win};
use crate::autograd::record;
use crate::error::{Error, Result};
use crate::gpu::Spec;
use crate::gpu::{Access, DType, Kernel, Shader, SpecValue, Uniforms};
use crate::tensor::Tensor;

pub static SHADER: Shader = Shader {
    name: "reduce",
    file: "reduce",
    source: include_str!("../../shaders/reduce.wgsl"),
    generated: Some(multi_run),
    full: std::sync::OnceLock::new(),
    variants: &[&[("SQUARE", SpecValue::Bool(false))], &[("SQUARE", SpecValue::Bool(true))]],
    uniforms: &[&Params::LAYOUT, &MultiParams::LAYOUT],
};

/// `sum_squares_multi`'s `multi_run(t, base, start, end)`: four partial sums of the squares of
/// binding `m{t}`'s elements `base + i`, i from `start` by 256 below `end`, four loads in
/// flight; one copy of the loop per binding, since WGSL cannot index bindings.
fn multi_run() -> String {
    let mut out = String::from(
        "\nfn multi_run(t: u32, base: u32, start: u32, end: u32) -> vec4<f32> {\n    var a = vec4<f32>(0.0);\n    var i = start;\n    switch t {\n",
    );
    for m in 0..MULTI {
        let case = if m + 1 == MULTI { "default".to_string() } else { format!("case {m}u") };
        out.push_str(&format!(
            "        {case}: {{
            for (; i + 768u < end; i += 1024u) {{
                let v = vec4<f32>(m{m}[base + i], m{m}[base + i + 256u], m{m}[base + i + 512u], m{m}[base + i + 768u]);
                a += v * v;
            }}
            for (; i < end; i += 256u) {{ let v = m{m}[base + i]; a.x += v * v; }}
        }}
"
        ));
    }
    out.push_str("    }\n    return a;\n}\n");
    out
}

crate::uniforms! {
    /// The uniform block of `reduce.wgsl`: x viewed as [outer, r, inner], summed over r
    /// (`pieces` runs of `piece_len` for one long sum split across workgroups).
    struct Params {
        outer: u32,
        r: u32,
        inner: u32,
        x_shift: u32,
        y_shift: u32,
        scale: f32,
        pieces: u32,
        piece_len: u32,
        /// How many [outer, r, inner] blocks, `batch_stride` elements apart, each output sums
        /// (1: the plain reduction).
        batch: u32,
        batch_stride: u32,
        _p0: u32,
        _p1: u32,
    }
}

/// The fields a plain (one-block) reduction leaves as they are.
const ONE_BLOCK: Params = Params {
    outer: 0,
    r: 0,
    inner: 0,
    x_shift: 0,
    y_shift: 0,
    scale: 1.0,
    pieces: 1,
    piece_len: 0,
    batch: 1,
    batch_stride: 0,
    _p0: 0,
    _p1: 0,
};
crate::uniforms! {
    /// The uniform block of `reduce.wgsl`'s `sum_squares_multi`: `count` (at most
    /// [`MULTI`]) tensors at element shifts `shift` of their windows, `len` elements each, cut
    /// into runs of `run`; tensor t's runs are workgroups first[t]..first[t + 1]. Eight lanes
    /// each, as two vec4s.
    struct MultiParams {
        count: u32,
        run: u32,
        y_shift: u32,
        _p0: u32,
        shift_lo: [u32; 4],
        shift_hi: [u32; 4],
        len_lo: [u32; 4],
        len_hi: [u32; 4],
        first_lo: [u32; 4],
        first_hi: [u32; 4],
    }
}

/// How many tensors one `sum_squares_multi` dispatch reads: with its output, eight storage
/// bindings, the most every adapter offers (wgpu's default limit).
const MULTI: usize = 7;

static SUM_SQUARES_MULTI: Kernel = Kernel {
    shader: &SHADER,
    entry: "sum_squares_multi",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
    ],
};

static SUM_ROWS: Kernel = Kernel { shader: &SHADER, entry: "sum_rows", bindings: &[Access::Read, Access::ReadWrite] };
static SUM_COLS: Kernel = Kernel { shader: &SHADER, entry: "sum_cols", bindings: &[Access::Read, Access::ReadWrite] };

/// Reduces `x` viewed as [outer, r, inner] over `r` into `y` (elements `[y_start, ..)` of y,
/// outer * inner of them), multiplied by `scale`; with `square`, sums x^2.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reduce_into(
    x: &Tensor,
    outer: usize,
    r: usize,
    inner: usize,
    scale: f32,
    square: bool,
    y: &Tensor,
    y_start: usize,
) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let max = ctx.max_binding_elems();
    let spec = Spec::new().bool("SQUARE", square);
    // Second-level sums (of partial sums) never square.
    let plain = Spec::new().bool("SQUARE", false);
    let pieces = pieces_for(outer * inner, r, inner == 1, gpu_split_rules(ctx.caps.cpu));
    if pieces > 1 && outer * r * inner <= max {
        // Few long sums: partial sums over runs of R in parallel, then the sum of those.
        let len = r.div_ceil(pieces);
        let partial = Tensor::empty(&[outer, pieces, inner])?;
        let (xv, xs) = win(ctx, x, 0, outer * r * inner)?;
        let (pv, ps) = win(ctx, &partial, 0, partial.numel())?;
        let params = Params {
            outer: u(outer),
            r: u(r),
            inner: u(inner),
            x_shift: xs,
            y_shift: ps,
            scale: 1.0,
            pieces: u(pieces),
            piece_len: u(len),
            ..ONE_BLOCK
        };
        if inner == 1 {
            ctx.dispatch(&SUM_ROWS, &spec, &params, &[xv, pv], grid(outer * pieces))?;
        } else {
            ctx.dispatch(&SUM_COLS, &spec, &params, &[xv, pv], grid((outer * pieces * inner).div_ceil(256)))?;
        }
        return reduce_into(&partial, outer, pieces, inner, scale, false, y, y_start);
    }
    if inner == 1 && r <= max {
        // A workgroup per sum, or for short rows (a head's 40 channels, an upsampling's 2x2
        // block) one invocation per sum, as for columns: a 256-wide workgroup with its barrier
        // tree per 2 to 64 elements cost more than the sums themselves.
        let short = r <= 64;
        for (o0, on) in chunks(outer, max / r.max(1)) {
            let (xv, xs) = win(ctx, x, o0 * r, on * r)?;
            let (yv, ys) = win(ctx, y, y_start + o0, on)?;
            let params = Params {
                outer: u(on),
                r: u(r),
                inner: 1,
                x_shift: xs,
                y_shift: ys,
                scale,
                piece_len: u(r),
                ..ONE_BLOCK
            };
            if short {
                ctx.dispatch(&SUM_COLS, &spec, &params, &[xv, yv], grid(on.div_ceil(256)))?;
            } else {
                ctx.dispatch(&SUM_ROWS, &spec, &params, &[xv, yv], grid(on))?;
            }
        }
        return Ok(());
    }
    if inner == 1 {
        // A row longer than one binding: partial sums per window, then a sum of those.
        let pieces = chunks(r, max);
        let partial = Tensor::empty(&[pieces.len()])?;
        for o in 0..outer {
            for (pi, (s, len)) in pieces.iter().enumerate() {
                let (xv, xs) = win(ctx, x, o * r + s, *len)?;
                let (pv, ps) = win(ctx, &partial, pi, 1)?;
                let params = Params {
                    outer: 1,
                    r: u(*len),
                    inner: 1,
                    x_shift: xs,
                    y_shift: ps,
                    scale: 1.0,
                    pieces: 1,
                    piece_len: u(*len),
                    ..ONE_BLOCK
                };
                ctx.dispatch(&SUM_ROWS, &spec, &params, &[xv, pv], [1, 1, 1])?;
            }
            let (pv, ps) = win(ctx, &partial, 0, pieces.len())?;
            let (yv, ys) = win(ctx, y, y_start + o, 1)?;
            let params = Params {
                outer: 1,
                r: u(pieces.len()),
                inner: 1,
                x_shift: ps,
                y_shift: ys,
                scale,
                pieces: 1,
                piece_len: u(pieces.len()),
                ..ONE_BLOCK
            };
            ctx.dispatch(&SUM_ROWS, &plain, &params, &[pv, yv], [1, 1, 1])?;
        }
    } else {
        let slab = r * inner;
        if slab <= max {
            for (o0, on) in chunks(outer, max / slab) {
                let (xv, xs) = win(ctx, x, o0 * slab, on * slab)?;
                let (yv, ys) = win(ctx, y, y_start + o0 * inner, on * inner)?;
                let params = Params {
                    outer: u(on),
                    r: u(r),
                    inner: u(inner),
                    x_shift: xs,
                    y_shift: ys,
                    scale,
                    pieces: 1,
                    piece_len: u(r),
                    ..ONE_BLOCK
                };
                ctx.dispatch(&SUM_COLS, &spec, &params, &[xv, yv], grid((on * inner).div_ceil(256)))?;
            }
        } else if inner <= max {
            // More than one binding per output row: partial sums over runs of R, then their sum.
            let pieces = chunks(r, max / inner);
            let partial = Tensor::empty(&[pieces.len(), inner])?;
            for o in 0..outer {
                for (pi, (r0, rn)) in pieces.iter().enumerate() {
                    let (xv, xs) = win(ctx, x, (o * r + r0) * inner, rn * inner)?;
                    let (pv, ps) = win(ctx, &partial, pi * inner, inner)?;
                    let params = Params {
                        outer: 1,
                        r: u(*rn),
                        inner: u(inner),
                        x_shift: xs,
                        y_shift: ps,
                        scale: 1.0,
                        pieces: 1,
                        piece_len: u(*rn),
                        ..ONE_BLOCK
                    };
                    ctx.dispatch(&SUM_COLS, &spec, &params, &[xv, pv], grid(inner.div_ceil(256)))?;
                }
                reduce_into(&partial, 1, pieces.len(), inner, scale, false, y, y_start + o * inner)?;
            }
        } else {
            return Err(Error::invalid(
                "sum",
                format!("an output row of {inner} elements exceeds the {}-byte binding limit", ctx.max_binding),
            ));
        }
    }
    Ok(())
}

/// The sums of `x` [batch, outer, r] over its first and last axes, \[outer\]: a
/// convolution's bias gradient (dy [N, C, H·W] -> \[C\]). One pass where `x` fits one
/// binding, each output summing its `r` elements in every one of the `batch` blocks (it was a
/// sum over H·W into [N, C], then one over N: 98 dispatches more per SD 1.5 step); otherwise
/// (one image, or more than a binding) those sums.
pub fn sum_except_middle(x: &Tensor) -> Result<Tensor> {
    let &[batch, outer, r] = x.shape() else {
        return Err(Error::invalid("sum_except_middle", format!("needs [batch, outer, r], got {:?}", x.shape())));
    };
    let ctx = Tensor::ctx()?;
    if x.numel() == 0 {
        return Tensor::zeros(&[outer]);
    }
    let y = Tensor::empty(&[outer])?;
    if batch == 1 || x.numel() > ctx.max_binding_elems() {
        let rows = if batch == 1 { y.clone() } else { Tensor::empty(&[batch, outer])? };
        reduce_into(x, batch * outer, r, 1, 1.0, false, &rows, 0)?;
        if batch != 1 {
            reduce_into(&rows, 1, batch, outer, 1.0, false, &y, 0)?;
        }
        return Ok(y);
    }
    // As `reduce_into` chooses, for sums of batch * r elements: a workgroup per sum (and runs
    // of r side by side where there are few) for long ones, an invocation per sum for short.
    let rows = batch * r > 64;
    let pieces = pieces_for(outer, batch * r, rows, gpu_split_rules(ctx.caps.cpu)).min(r.max(1));
    let out = if pieces > 1 { Tensor::empty(&[outer, pieces])? } else { y.clone() };
    let (xv, xs) = win(ctx, x, 0, x.numel())?;
    let (ov, os) = win(ctx, &out, 0, out.numel())?;
    let params = Params {
        outer: u(outer),
        r: u(r),
        inner: 1,
        x_shift: xs,
        y_shift: os,
        pieces: u(pieces),
        piece_len: u(r.div_ceil(pieces)),
        batch: u(batch),
        batch_stride: u(outer * r),
        ..ONE_BLOCK
    };
    let spec = Spec::new().bool("SQUARE", false);
    if rows {
        ctx.dispatch(&SUM_ROWS, &spec, &params, &[xv, ov], grid(outer * pieces))?;
    } else {
        ctx.dispatch(&SUM_COLS, &spec, &params, &[xv, ov], grid((outer * pieces).div_ceil(256)))?;
    }
    if pieces > 1 {
        reduce_into(&out, outer, pieces, 1, 1.0, false, &y, 0)?;
    }
    Ok(y)
}

/// `y[y_start]` = the sum of the squares of every element of every one of `tensors` (a
/// tensor listed twice counts twice): a gradient norm. Up to [`MULTI`] tensors per dispatch,
/// each cut into runs that workgroups sum side by side, then one sum of the runs' partial
/// sums; a tensor that is not f32 or exceeds one binding is summed alone ([`reduce_into`]).
pub(crate) fn sum_of_squares_into(tensors: &[Tensor], y: &Tensor, y_start: usize) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let max = ctx.max_binding_elems();
    // Runs as `pieces_for` cuts long rows.
    let run = if gpu_split_rules(ctx.caps.cpu) { GPU_ROW_RUN } else { CPU_ROW_RUN };
    let (batched, alone): (Vec<&Tensor>, Vec<&Tensor>) =
        tensors.iter().filter(|t| t.numel() > 0).partition(|t| t.dtype() == DType::F32 && t.numel() <= max);
    let runs: Vec<usize> = batched.iter().map(|t| t.numel().div_ceil(run)).collect();
    let total = runs.iter().sum::<usize>() + alone.len();
    if total == 0 {
        return reduce_into(&Tensor::zeros(&[1])?, 1, 1, 1, 1.0, false, y, y_start);
    }
    let partial = Tensor::empty(&[total])?;
    let mut w0 = 0;
    for (group, group_runs) in batched.chunks(MULTI).zip(runs.chunks(MULTI)) {
        let mut views = Vec::with_capacity(MULTI + 1);
        // Tensor i's lanes; `first` has one more, where the last tensor's runs end.
        let (mut shift, mut len, mut first) = ([0usize; 8], [0usize; 8], [0usize; 8]);
        let mut w = 0;
        for (i, (t, r)) in group.iter().zip(group_runs).enumerate() {
            let (v, sh) = win(ctx, t, 0, t.numel())?;
            views.push(v);
            (shift[i], len[i], first[i]) = (sh as usize, t.numel(), w);
            w += r;
        }
        first[group.len()] = w;
        while views.len() < MULTI {
            views.push(views[0]);
        }
        let (pv, ps) = win(ctx, &partial, w0, w)?;
        views.push(pv);
        let ([shift_lo, shift_hi], [len_lo, len_hi], [first_lo, first_hi]) =
            (pack8(&shift, 0), pack8(&len, 0), pack8(&first, 0));
        let params = MultiParams {
            count: u(group.len()),
            run: u(run),
            y_shift: ps,
            _p0: 0,
            shift_lo,
            shift_hi,
            len_lo,
            len_hi,
            first_lo,
            first_hi,
        };
        // (The module's other entries read SQUARE; this one squares always.)
        ctx.dispatch(&SUM_SQUARES_MULTI, &Spec::new().bool("SQUARE", false), &params, &views, grid(w))?;
        w0 += w;
    }
    for (i, t) in alone.iter().enumerate() {
        reduce_into(&t.reshape(&[t.numel()])?, 1, t.numel(), 1, 1.0, true, &partial, w0 + i)?;
    }
    reduce_into(&partial, 1, total, 1, 1.0, false, y, y_start)
}

/// The shortest run a long row is cut into on GPUs: 64 elements a lane of `sum_rows`.
const GPU_ROW_RUN: usize = 16384;
/// The shortest on CPU adapters, where each workgroup's tree costs more.
const CPU_ROW_RUN: usize = 65536;

/// How many runs to split each sum of `r` into when there are `sums` of them (`rows`: one
/// workgroup per sum, `sum_rows`; else one invocation per sum, `sum_cols`); 1: no split.
///
/// CPU adapters: only when there are fewer than 256 sums, up to about 256 runs in all, each at
/// least 65536 long, so that the per-workgroup cost of the tree reduction stays small (on
/// lavapipe runs of 4096 halved the rate).
///
/// GPUs: enough runs to fill the chip, about 512 workgroups for `sum_rows` (runs of at least
/// 16384: 64 per lane) and 65536 invocations for `sum_cols` (runs of at least 64). A Linear
/// layer's bias gradient is a column sum of [tokens, features] (8192 x 320 at SD 1.5's 64x64
/// latents, two images): unsplit that is 320 invocations, two workgroups on an H200's 132
/// multiprocessors, each walking 8192 rows one dependent load at a time; split, 128 runs of 64
/// rows side by side, and a second sum over the 128 partial sums.
fn pieces_for(sums: usize, r: usize, rows: bool, gpu: bool) -> usize {
    if gpu {
        let (target, min_run): (usize, usize) = if rows { (512, GPU_ROW_RUN) } else { (65536, 64) };
        let pieces = target.div_ceil(sums.max(1)).min(r / min_run);
        // Fewer than 4 runs are not worth the second pass.
        return if pieces < 4 { 1 } else { pieces.min(65535) };
    }
    if sums >= 256 || r < 2 * CPU_ROW_RUN {
        return 1;
    }
    (256 / sums.max(1)).min(r / CPU_ROW_RUN).clamp(1, 65535)
}

fn reduce(x: &Tensor, axis: isize, keepdim: bool, mean: bool) -> Result<Tensor> {
    let op = if mean { "mean" } else { "sum" };
    let a = axis_index(op, x.shape(), axis)?;
    let shape = x.shape();
    let outer: usize = shape[..a].iter().product();
    let r = shape[a];
    let inner: usize = shape[a + 1..].iter().product();
    let mut kept = shape.to_vec();
    kept[a] = 1;
    let out_shape: Vec<usize> = if keepdim {
        kept.clone()
    } else {
        shape.iter().enumerate().filter(|(i, _)| *i != a).map(|(_, d)| *d).collect()
    };
    let scale = if mean { 1.0 / r as f32 } else { 1.0 };
    let y = Tensor::empty(&out_shape)?;
    reduce_into(x, outer, r, inner, scale, false, &y, 0)?;
    let in_shape = shape.to_vec();
    Ok(record(y, op, &[x], move |g| {
        let g = g.reshape(&kept)?.expand(&in_shape)?;
        Ok(vec![Some(if mean { g.scale(scale)? } else { g })])
    }))
}

fn reduce_all(x: &Tensor, mean: bool) -> Result<Tensor> {
    let n = x.numel();
    reduce(&x.reshape(&[1, n])?, 1, false, mean)
}

impl Tensor {
    /// Sum over `axis` (negative counts from the end).
    pub fn sum(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        reduce(self, axis, keepdim, false)
    }
    /// Mean over `axis` (negative counts from the end).
    pub fn mean(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        reduce(self, axis, keepdim, true)
    }
    /// Sum of all elements, shape \[1\].
    pub fn sum_all(&self) -> Result<Tensor> {
        reduce_all(self, false)
    }
    /// Mean of all elements, shape \[1\].
    pub fn mean_all(&self) -> Result<Tensor> {
        reduce_all(self, true)
    }
}
