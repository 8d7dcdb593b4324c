//! Storage dtype conversion (`Tensor::cast`): f32 to f16/bf16 and back, in `cast.wgsl`.
//! Differentiable: the gradient of a cast is the incoming gradient cast back to the input's
//! dtype (so an f32 gradient reaching a half tensor's cast passes through unchanged).

use super::launch::{chunks, grid, u, win_any};
use crate::autograd::record;
use crate::error::Result;

use crate::gpu::{Access, DType, Kernel, Shader, Spec, SpecValue, Uniforms};
use crate::tensor::Tensor;

pub static SHADER: Shader = Shader::file_reading_halves(
    "cast",
    include_str!("../../shaders/cast.wgsl"),
    &[&[("DTYPE", SpecValue::U32(1))], &[("DTYPE", SpecValue::U32(2))]],
    &[&Params::LAYOUT],
);

crate::uniforms! {
    /// The uniform block of `cast.wgsl`.
    struct Params {
        n: u32,
        src_shift: u32,
        dst_shift: u32,
        _p0: u32,
    }
}

static TO_HALF: Kernel = Kernel { shader: &SHADER, entry: "to_half", bindings: &[Access::Read, Access::ReadWrite] };
static TO_F32: Kernel = Kernel { shader: &SHADER, entry: "to_f32", bindings: &[Access::Read, Access::ReadWrite] };

/// `src` stored as `dtype` (a new tensor, no autograd).
pub(crate) fn cast_raw(src: &Tensor, dtype: DType) -> Result<Tensor> {
    let from = src.dtype();
    if from == dtype {
        return Ok(src.detach());
    }
    if from != DType::F32 && dtype != DType::F32 {
        // Between the half dtypes: through f32, as torch rounds f16 -> bf16.
        return cast_raw(&cast_raw(src, DType::F32)?, dtype);
    }
    let ctx = Tensor::ctx()?;
    let n = src.numel();
    let dst = Tensor::empty_of(src.shape(), dtype)?;
    if n == 0 {
        return Ok(dst);
    }
    let (kernel, half) = if dtype == DType::F32 { (&TO_F32, from) } else { (&TO_HALF, dtype) };
    let spec = Spec::new().u32("DTYPE", half.code());
    // Chunks of an even number of elements (each `to_half` invocation writes a whole word),
    // within one binding on both sides.
    let max = (ctx.max_binding_elems() / 2) & !1;
    for (start, len) in chunks(n, max) {
        let (sv, ss) = win_any(ctx, src, start, len)?;
        let (dv, ds) = win_any(ctx, &dst, start, len)?;
        let (dst_shift, invocations) = if dtype == DType::F32 { (ds, len) } else { (ds / 2, len.div_ceil(2)) };
        let p = Params { n: u(len), src_shift: ss, dst_shift, _p0: 0 };
        ctx.dispatch(kernel, &spec, &p, &[sv, dv], grid(invocations.div_ceil(256)))?;
    }
    Ok(dst)
}

impl Tensor {
    /// This tensor stored as `dtype`: f32 -> f16/bf16 rounds to nearest even (f16 through WGSL's
    /// `pack2x16float`, whose rounding the implementation picks), half -> f32 is exact.
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype() == dtype {
            return Ok(self.clone());
        }
        let from = self.dtype();
        let out = cast_raw(self, dtype)?;
        Ok(record(out, "cast", &[self], move |g| Ok(vec![Some(cast_raw(g, from)?)])))
    }

    /// Zeros stored as `dtype`.
    pub fn zeros_of(shape: &[usize], dtype: DType) -> Result<Tensor> {
        if dtype == DType::F32 {
            return Tensor::zeros(shape);
        }
        let t = Tensor::empty_of(shape, dtype)?;
        let bytes = dtype.bytes(t.numel());
        if bytes > 0 {
            Tensor::ctx()?.clear(t.buffer(), 0, bytes);
        }
        Ok(t)
    }
}

/// `t` as f32 for a kernel that reads f32 only: `t` itself when it is f32, else an f32 copy
/// (exact). GEMM and conv read autocast's half inputs as stored; only a copy that is not a
/// transpose (`copy::permuted_f32`'s fallback) takes this way.
pub(crate) fn as_f32(t: &Tensor) -> Result<Tensor> {
    if t.dtype() == DType::F32 {
        return Ok(t.clone());
    }
    cast_raw(t, DType::F32)
}

/// `x` rounded to the autocast dtype when one is set: the input of a Linear or Conv2d, which
/// is what backward keeps for the weight's gradient, so that the saved activations take half
/// the bytes (a differentiable cast: the input's gradient reaches it in f32). The weight is
/// read as stored: f32 masters of a trained network, half matrices of a frozen one. torch's
/// autocast also multiplies a half copy of every f32 weight; these kernels multiply in f32
/// whatever they read, so such a copy would cost a pass per layer and, at SD 1.5, 1.7 GB held
/// from forward to backward, and buy nothing but a further rounding (measured: the engine's
/// gradients are 1.25% (median rel_err) from float64 this way, 1.9% with the weights rounded
/// too, PyTorch's 3.1%). A kernel that multiplies in half would round as it loads.
pub fn autocast_input(x: &Tensor) -> Result<Tensor> {
    let dtype = crate::autograd::autocast_dtype();
    if dtype == DType::F32 {
        return Ok(x.clone());
    }
    x.cast(dtype)
}
