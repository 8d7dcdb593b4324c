//! Helpers shared by the launchers: dispatch grids, binding windows, chunking.

use std::fmt;

use crate::error::{Error, Result};
use crate::gpu::tune::{bucket, tuner, TuneKey};
use crate::gpu::{time_gpu, BindView, Context, DType, Spec};
use crate::tensor::Tensor;

/// The storage dtypes of a product's two operands (GEMM's A and B, conv's A and B): what the
/// kernels specialise on (`A_DTYPE`, `B_DTYPE`) and tuning keys carry (`f32*bf16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dtypes {
    pub a: DType,
    pub b: DType,
}

impl Dtypes {
    pub fn of(a: &Tensor, b: &Tensor) -> Dtypes {
        Dtypes { a: a.dtype(), b: b.dtype() }
    }

    /// `spec` with both constants set.
    pub fn spec(self, spec: Spec) -> Spec {
        spec.u32("A_DTYPE", self.a.code()).u32("B_DTYPE", self.b.code())
    }
}

impl fmt::Display for Dtypes {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}*{}", self.a, self.b)
    }
}

thread_local! {
    static GPU_SPLIT_RULES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Splits on this thread by the GPUs' rules, on any adapter, CPU ones included (`false`: the
/// adapter's own rules): GEMM's and conv2d's split-K (whose counts `--tune` then tunes) and the
/// runs that long sums are cut into (`reduce`). Tests use it on lavapipe.
pub fn force_gpu_split_rules(on: bool) {
    GPU_SPLIT_RULES.with(|f| f.set(on));
}

/// Whether this thread splits by the GPUs' rules, on an adapter that is a CPU one (`cpu`) or not.
pub(crate) fn gpu_split_rules(cpu: bool) -> bool {
    !cpu || GPU_SPLIT_RULES.with(|f| f.get())
}

/// `run` with a thread's forced split count (`forced`: conv2d's or GEMM's) set to `n`, the
/// previous forcing restored after: how the tuner times one candidate count.
pub(crate) fn with_forced(
    forced: &'static std::thread::LocalKey<std::cell::Cell<Option<usize>>>,
    n: usize,
    run: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let prev = forced.with(|f| f.replace(Some(n)));
    let out = run();
    forced.with(|f| f.set(prev));
    out
}

/// Split-K counts the tuner may take instead of a split rule's, by name: the rule's own, twice
/// it, half, a quarter, none. The rules (about 640 workgroups) were sized on an H200's 132
/// multiprocessors; a GPU with a third of them may do better with fewer slices (less
/// partial-sum traffic, one reduction less), a larger one with more.
const SPLIT_CHOICES: [&str; 5] = ["rule", "double", "half", "quarter", "none"];

/// A split count's tuning key: the operation and pass (`what`), the operands' storage dtypes,
/// and the shape class (M, N, the summed extent, images or batches; bucketed).
pub(crate) struct SplitKey {
    pub what: &'static str,
    pub dtypes: Dtypes,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
}

impl fmt::Display for SplitKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let SplitKey { what, dtypes, m, n, k, batch } = self;
        let [m, n, k, batch] = [*m, *n, *k, *batch].map(bucket);
        write!(f, "{what} split {dtypes} m{m} n{n} k{k} b{batch}")
    }
}

impl TuneKey for SplitKey {}

/// The split count for an operation whose rule splits it (`rule` > 1): the rule's, unless the
/// tuner chose another of [`SPLIT_CHOICES`] for the class. While tuning (`engine bench
/// --tune`) each distinct count that `admissible` allows (within the operation's depth and
/// binding caps) is timed by `run`, which runs the whole operation split that many ways.
pub(crate) fn tuned_split(
    key: &SplitKey,
    rule: usize,
    admissible: &dyn Fn(usize) -> bool,
    run: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<usize> {
    if rule < 2 {
        return Ok(rule);
    }
    let counts = [rule, 2 * rule, rule.div_ceil(2), rule.div_ceil(4), 1];
    let (mut names, mut picks) = (Vec::new(), Vec::new());
    for (name, c) in SPLIT_CHOICES.into_iter().zip(counts) {
        if (c == rule || admissible(c)) && !picks.contains(&c) {
            names.push(name);
            picks.push(c);
        }
    }
    let mut time = |i: usize| -> Result<f64> { Ok(time_gpu(3, || run(picks[i]))?.0) };
    let name = tuner()?.choose(key, &names, 0, Some(&mut time))?;
    Ok(names.iter().position(|n| *n == name).map_or(rule, |i| picks[i]))
}

/// Workgroups per dimension we use for 1-D work (the WebGPU minimum limit is 65535).
const MAX_X: usize = 65535;

/// A 2-D grid of at least `groups` workgroups; kernels linearise it as `wg.y * nwg.x + wg.x`.
pub fn grid(groups: usize) -> [u32; 3] {
    if groups <= MAX_X {
        [groups as u32, 1, 1]
    } else {
        [MAX_X as u32, groups.div_ceil(MAX_X) as u32, 1]
    }
}

/// The binding window over elements `[start, start+len)` of an f32 tensor `t` (relative to the
/// tensor). A half tensor is an error here: only the operands that unpack halves ([`win_any`])
/// take one, and every other kernel would read its words as f32.
pub fn win<'a>(ctx: &Context, t: &'a Tensor, start: usize, len: usize) -> Result<(BindView<'a>, u32)> {
    if t.dtype() != DType::F32 {
        return Err(Error::invalid(
            "kernel",
            format!(
                "a {} tensor of shape {:?} reached a kernel that reads f32 only (half storage is read by GEMM's and conv's operands, conv's transposed copy and cast); cast it to f32 first",
                t.dtype(),
                t.shape()
            ),
        ));
    }
    ctx.window(t.buffer(), t.offset() + start, len)
}

/// [`win`] for an operand the kernel reads in any storage dtype (its shift counts elements of
/// that dtype; the kernel is specialised on it).
pub fn win_any<'a>(ctx: &Context, t: &'a Tensor, start: usize, len: usize) -> Result<(BindView<'a>, u32)> {
    ctx.window_of(t.buffer(), t.offset() + start, len, t.dtype())
}

/// The whole of `t` as one binding; an error naming the op if it is too large to bind.
pub fn whole<'a>(ctx: &Context, op: &'static str, t: &'a Tensor) -> Result<(BindView<'a>, u32)> {
    if t.numel() > ctx.max_binding_elems() {
        return Err(too_large(ctx, op, t.shape(), t.dtype()));
    }
    win(ctx, t, 0, t.numel())
}

pub fn too_large(ctx: &Context, op: &'static str, shape: &[usize], dtype: DType) -> Error {
    Error::invalid(
        op,
        format!(
            "an operand of shape {shape:?} ({} bytes of {dtype}) must be bound whole but exceeds the adapter's \
             {}-byte storage binding limit, and this op cannot split it",
            dtype.bytes(shape.iter().product::<usize>()),
            ctx.max_binding
        ),
    )
}

/// Splits `0..n` into consecutive ranges of at most `max` (at least one range, even for n = 0).
pub fn chunks(n: usize, max: usize) -> Vec<(usize, usize)> {
    let max = max.max(1);
    let mut v = Vec::new();
    let mut s = 0;
    while s < n {
        let len = max.min(n - s);
        v.push((s, len));
        s += len;
    }
    v
}

pub fn u(x: usize) -> u32 {
    debug_assert!(x <= u32::MAX as usize);
    x as u32
}

/// Packs up to 8 values right-aligned into two vec4s (low dims first), padding on the left
/// with `pad`.
pub fn pack8(v: &[usize], pad: u32) -> [[u32; 4]; 2] {
    let mut out = [pad; 8];
    let off = 8 - v.len();
    for (i, x) in v.iter().enumerate() {
        out[off + i] = u(*x);
    }
    [[out[0], out[1], out[2], out[3]], [out[4], out[5], out[6], out[7]]]
}

/// `axis` as an index into `shape` (negative counts from the end), or an error naming both.
pub fn axis_index(op: &'static str, shape: &[usize], axis: isize) -> Result<usize> {
    let r = shape.len() as isize;
    let a = if axis < 0 { r + axis } else { axis };
    if a < 0 || a >= r {
        return Err(Error::invalid(op, format!("axis {axis} is out of range for shape {shape:?}")));
    }
    Ok(a as usize)
}
