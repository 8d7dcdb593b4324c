//! Helpers shared by the launchers: dispatch grids, binding windows, chunking.

use std::fmt;

use crate::error::{Error, Result};
use crate::gpu::{BindView, Context, DType, Spec};
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
