//! Element-wise ops: unary functions with their derivatives, broadcasting binary ops, fill.

use super::launch::{chunks, grid, pack8, u, whole, win};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec, SpecValue, Uniforms};
use crate::tensor::{contiguous_strides, Tensor};

use SpecValue::U32 as U;

pub static SHADER: Shader = Shader::file(
    "elementwise",
    include_str!("../../shaders/elementwise.wgsl"),
    &[
        &[("OP", U(0)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(1)), ("BROADCAST", SpecValue::Bool(true))],
        &[("OP", U(2)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(3)), ("BROADCAST", SpecValue::Bool(true))],
        &[("OP", U(4)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(5)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(6)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(7)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(8)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(9)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(10)), ("BROADCAST", SpecValue::Bool(false))],
        &[("OP", U(11)), ("BROADCAST", SpecValue::Bool(false))],
    ],
    &[&UnaryParams::LAYOUT, &BinaryParams::LAYOUT],
);

crate::uniforms! {
    /// The uniform block of `elementwise.wgsl`'s unary entries (`unary`, `unary_backward`,
    /// `fill`, `dropout_mask`; the last takes its chunk's first index in `dy_shift`).
    struct UnaryParams {
        n: u32,
        x_shift: u32,
        y_shift: u32,
        dy_shift: u32,
        alpha: f32,
        beta: f32,
        seed_lo: u32,
        seed_hi: u32,
    }
}

crate::uniforms! {
    /// The uniform block of `elementwise.wgsl`'s `binary`: output dims and both operands'
    /// strides over them, 8 right-aligned dims as two vec4s each.
    struct BinaryParams {
        n: u32,
        a_shift: u32,
        b_shift: u32,
        out_shift: u32,
        base: u32,
        a_base: u32,
        b_base: u32,
        _p0: u32,
        dims_lo: [u32; 4],
        dims_hi: [u32; 4],
        a_str_lo: [u32; 4],
        a_str_hi: [u32; 4],
        b_str_lo: [u32; 4],
        b_str_hi: [u32; 4],
    }
}

static UNARY: Kernel = Kernel { shader: &SHADER, entry: "unary", bindings: &[Access::Read, Access::ReadWrite] };
static UNARY_BACKWARD: Kernel =
    Kernel { shader: &SHADER, entry: "unary_backward", bindings: &[Access::Read, Access::Read, Access::ReadWrite] };
static FILL: Kernel = Kernel { shader: &SHADER, entry: "fill", bindings: &[Access::Read, Access::ReadWrite] };
static DROPOUT_MASK: Kernel =
    Kernel { shader: &SHADER, entry: "dropout_mask", bindings: &[Access::Read, Access::ReadWrite] };
static BINARY: Kernel =
    Kernel { shader: &SHADER, entry: "binary", bindings: &[Access::Read, Access::Read, Access::ReadWrite] };

/// A unary function; the codes match `elementwise.wgsl`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// alpha * x + beta
    Affine {
        alpha: f32,
        beta: f32,
    },
    Exp,
    Log,
    Sqrt,
    Tanh,
    Sigmoid,
    Relu,
    Silu,
    /// GELU with erf (PyTorch's default, approximate="none").
    Gelu,
    /// GELU with the tanh approximation (approximate="tanh").
    GeluTanh,
    /// x * sigmoid(1.702 x), CLIP's activation.
    QuickGelu,
    Square,
}

impl Unary {
    fn code(self) -> u32 {
        match self {
            Unary::Affine { .. } => 0,
            Unary::Exp => 1,
            Unary::Log => 2,
            Unary::Sqrt => 3,
            Unary::Tanh => 4,
            Unary::Sigmoid => 5,
            Unary::Relu => 6,
            Unary::Silu => 7,
            Unary::Gelu => 8,
            Unary::GeluTanh => 9,
            Unary::QuickGelu => 10,
            Unary::Square => 11,
        }
    }
    fn ab(self) -> (f32, f32) {
        match self {
            Unary::Affine { alpha, beta } => (alpha, beta),
            _ => (1.0, 0.0),
        }
    }
}

fn unary_spec(op: Unary) -> Spec {
    Spec::new().u32("OP", op.code()).bool("BROADCAST", false)
}

/// y = f(x), without autograd.
fn unary_raw(x: &Tensor, op: Unary) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let y = Tensor::empty(x.shape())?;
    let (alpha, beta) = op.ab();
    let spec = unary_spec(op);
    for (s, n) in chunks(x.numel(), ctx.max_binding_elems()) {
        let (xv, xs) = win(ctx, x, s, n)?;
        let (yv, ys) = win(ctx, &y, s, n)?;
        let params = UnaryParams { n: u(n), x_shift: xs, y_shift: ys, alpha, beta, ..Default::default() };
        ctx.dispatch(&UNARY, &spec, &params, &[xv, yv], grid(n.div_ceil(256)))?;
    }
    Ok(y)
}

/// dx = dy * f'(x), without autograd.
fn unary_backward_raw(x: &Tensor, dy: &Tensor, op: Unary) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let dx = Tensor::empty(x.shape())?;
    let (alpha, beta) = op.ab();
    let spec = unary_spec(op);
    for (s, n) in chunks(x.numel(), ctx.max_binding_elems()) {
        let (xv, xs) = win(ctx, x, s, n)?;
        let (gv, gs) = win(ctx, dy, s, n)?;
        let (dv, ds) = win(ctx, &dx, s, n)?;
        let params = UnaryParams { n: u(n), x_shift: xs, y_shift: ds, dy_shift: gs, alpha, beta, ..Default::default() };
        ctx.dispatch(&UNARY_BACKWARD, &spec, &params, &[xv, gv, dv], grid(n.div_ceil(256)))?;
    }
    Ok(dx)
}

/// Sets every element of `t` to `value` (no autograd; used to create tensors).
pub fn fill(t: &Tensor, value: f32) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let spec = unary_spec(Unary::Affine { alpha: 0.0, beta: 0.0 });
    for (s, n) in chunks(t.numel(), ctx.max_binding_elems()) {
        let (yv, ys) = win(ctx, t, s, n)?;
        // binding 1 is unused by `fill` but the layout has it: bind a dummy buffer.
        let params = UnaryParams { n: u(n), y_shift: ys, alpha: value, ..Default::default() };
        ctx.dispatch(&FILL, &spec, &params, &[dummy(ctx)?, yv], grid(n.div_ceil(256)))?;
    }
    Ok(())
}

/// An inverted-dropout mask of `shape`: each element 0 with probability `p`, else 1 / (1 - p),
/// drawn on the GPU from `seed` and the element's index (`elementwise.wgsl`'s `dropout_mask`,
/// whose hash [`dropout_keeps`] repeats on the host). The same seed gives the same mask.
pub fn dropout_mask(shape: &[usize], p: f32, seed: u64) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let t = Tensor::empty(shape)?;
    let spec = unary_spec(Unary::Affine { alpha: 0.0, beta: 0.0 });
    for (s, n) in chunks(t.numel(), ctx.max_binding_elems()) {
        let (yv, ys) = win(ctx, &t, s, n)?;
        let params = UnaryParams {
            n: u(n),
            y_shift: ys,
            dy_shift: u(s),
            alpha: 1.0 / (1.0 - p),
            beta: p,
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
            ..Default::default()
        };
        ctx.dispatch(&DROPOUT_MASK, &spec, &params, &[dummy(ctx)?, yv], grid(n.div_ceil(256)))?;
    }
    Ok(t)
}

/// Whether element `index` of a [`dropout_mask`] with this seed and `p` is kept (the kernel's
/// hash, for tests and host code that must agree with it).
pub fn dropout_keeps(index: u32, p: f32, seed: u64) -> bool {
    fn hash32(mut h: u32) -> u32 {
        h ^= h >> 16;
        h = h.wrapping_mul(0x7feb_352d);
        h ^= h >> 15;
        h = h.wrapping_mul(0x846c_a68b);
        h ^ (h >> 16)
    }
    let u = hash32(hash32(index ^ seed as u32).wrapping_add((seed >> 32) as u32));
    ((u >> 8) as f32 / 16_777_216.0) >= p
}

fn dummy(ctx: &'static crate::gpu::Context) -> Result<crate::gpu::BindView<'static>> {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<wgpu::Buffer> = OnceLock::new();
    let b = DUMMY.get_or_init(|| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dummy binding"),
            size: 256,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    });
    Ok(crate::gpu::BindView { buffer: b, offset: 0, size: 256 })
}

/// A read-only binding for kernels whose optional operand is absent.
pub(crate) fn dummy_binding() -> Result<crate::gpu::BindView<'static>> {
    dummy(Tensor::ctx()?)
}

/// y = f(x), recorded for autograd.
pub fn unary(x: &Tensor, op: Unary) -> Result<Tensor> {
    let y = unary_raw(x, op)?;
    let saved = x.detach();
    Ok(record(y, "unary", &[x], move |g| {
        let dx = match op {
            Unary::Affine { alpha, .. } => unary_raw(g, Unary::Affine { alpha, beta: 0.0 })?,
            _ => unary_backward_raw(&saved, g, op)?,
        };
        Ok(vec![Some(dx)])
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

impl Binary {
    fn code(self) -> u32 {
        self as u32
    }
}

/// The shape two operands broadcast to (NumPy rules), or a shape error naming both.
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape_hint(op, a, b, format!("axis {i} of the broadcast: {da} vs {db}")));
        };
    }
    Ok(out)
}

/// Strides of `shape` over the dims of `out` (right-aligned), 0 where broadcast.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let cs = contiguous_strides(shape);
    let off = out.len() - shape.len();
    (0..out.len()).map(|i| if i < off || shape[i - off] == 1 { 0 } else { cs[i - off] }).collect()
}

fn binary_raw(a: &Tensor, b: &Tensor, op: Binary) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let name = match op {
        Binary::Add => "add",
        Binary::Sub => "sub",
        Binary::Mul => "mul",
        Binary::Div => "div",
    };
    let out_shape = broadcast_shape(name, a.shape(), b.shape())?;
    let out = Tensor::empty(&out_shape)?;
    let n = out.numel();
    let same = a.shape() == out_shape.as_slice() && b.shape() == out_shape.as_slice();
    let spec = Spec::new().u32("OP", op.code()).bool("BROADCAST", !same);
    if out_shape.len() > 8 {
        return Err(Error::invalid(name, format!("at most 8 dims are supported, got {out_shape:?}")));
    }
    let dims = pack8(&out_shape, 1);
    let sa = pack8(&broadcast_strides(a.shape(), &out_shape), 0);
    let sb = pack8(&broadcast_strides(b.shape(), &out_shape), 0);
    for (s, len) in chunks(n, ctx.max_binding_elems()) {
        // An operand with the output's shape is windowed like the output; a broadcast operand
        // is bound whole and indexed from the global output coordinates.
        let (av, ash, abase) = if a.shape() == out_shape.as_slice() {
            let (v, sh) = win(ctx, a, s, len)?;
            (v, sh, s)
        } else {
            let (v, sh) = whole(ctx, name, a)?;
            (v, sh, 0)
        };
        let (bv, bsh, bbase) = if b.shape() == out_shape.as_slice() {
            let (v, sh) = win(ctx, b, s, len)?;
            (v, sh, s)
        } else {
            let (v, sh) = whole(ctx, name, b)?;
            (v, sh, 0)
        };
        let (ov, osh) = win(ctx, &out, s, len)?;
        let params = BinaryParams {
            n: u(len),
            a_shift: ash,
            b_shift: bsh,
            out_shift: osh,
            base: u(s),
            a_base: u(abase),
            b_base: u(bbase),
            _p0: 0,
            dims_lo: dims[0],
            dims_hi: dims[1],
            a_str_lo: sa[0],
            a_str_hi: sa[1],
            b_str_lo: sb[0],
            b_str_hi: sb[1],
        };
        ctx.dispatch(&BINARY, &spec, &params, &[av, bv, ov], grid(len.div_ceil(256)))?;
    }
    Ok(out)
}

/// Sums `g` over the axes along which an operand of `shape` was broadcast to `g`'s shape.
pub fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let off = g.rank() - shape.len();
    let mut t = g.clone();
    for axis in 0..g.rank() {
        let target = if axis < off { 1 } else { shape[axis - off] };
        if target == 1 && t.shape()[axis] != 1 {
            t = t.sum(axis as isize, true)?;
        }
    }
    t.reshape(shape)
}

/// a (op) b with broadcasting, recorded for autograd.
pub fn binary(a: &Tensor, b: &Tensor, op: Binary) -> Result<Tensor> {
    let out = binary_raw(a, b, op)?;
    let (ga, gb) = (needs_grad(a), needs_grad(b));
    let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
    let saved = match op {
        Binary::Mul | Binary::Div => Some((a.detach(), b.detach())),
        _ => None,
    };
    Ok(record(out, "binary", &[a, b], move |g| {
        let (da, db) = match op {
            Binary::Add => (ga.then(|| g.clone()), gb.then(|| g.clone())),
            Binary::Sub => (ga.then(|| g.clone()), if gb { Some(g.scale(-1.0)?) } else { None }),
            Binary::Mul => {
                let (a, b) = saved.as_ref().unwrap();
                (
                    if ga { Some(binary_raw(g, b, Binary::Mul)?) } else { None },
                    if gb { Some(binary_raw(g, a, Binary::Mul)?) } else { None },
                )
            }
            Binary::Div => {
                let (a, b) = saved.as_ref().unwrap();
                let g_over_b = binary_raw(g, b, Binary::Div)?;
                let db = if gb {
                    // d(a/b)/db = -a/b^2  ->  -(g/b) * (a/b)
                    let a_over_b = binary_raw(a, b, Binary::Div)?;
                    Some(unary_raw(
                        &binary_raw(&g_over_b, &a_over_b, Binary::Mul)?,
                        Unary::Affine { alpha: -1.0, beta: 0.0 },
                    )?)
                } else {
                    None
                };
                (ga.then_some(g_over_b), db)
            }
        };
        Ok(vec![da.map(|d| sum_to(&d, &sa)).transpose()?, db.map(|d| sum_to(&d, &sb)).transpose()?])
    }))
}

impl Tensor {
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Binary::Add)
    }
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Binary::Sub)
    }
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Binary::Mul)
    }
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Binary::Div)
    }
    /// alpha * x
    pub fn scale(&self, alpha: f32) -> Result<Tensor> {
        unary(self, Unary::Affine { alpha, beta: 0.0 })
    }
    /// alpha * x + beta
    pub fn affine(&self, alpha: f32, beta: f32) -> Result<Tensor> {
        unary(self, Unary::Affine { alpha, beta })
    }
    pub fn neg(&self) -> Result<Tensor> {
        self.scale(-1.0)
    }
    pub fn exp(&self) -> Result<Tensor> {
        unary(self, Unary::Exp)
    }
    pub fn log(&self) -> Result<Tensor> {
        unary(self, Unary::Log)
    }
    pub fn sqrt(&self) -> Result<Tensor> {
        unary(self, Unary::Sqrt)
    }
    pub fn tanh(&self) -> Result<Tensor> {
        unary(self, Unary::Tanh)
    }
    pub fn sigmoid(&self) -> Result<Tensor> {
        unary(self, Unary::Sigmoid)
    }
    pub fn relu(&self) -> Result<Tensor> {
        unary(self, Unary::Relu)
    }
    pub fn silu(&self) -> Result<Tensor> {
        unary(self, Unary::Silu)
    }
    pub fn gelu(&self) -> Result<Tensor> {
        unary(self, Unary::Gelu)
    }
    pub fn gelu_tanh(&self) -> Result<Tensor> {
        unary(self, Unary::GeluTanh)
    }
    pub fn quick_gelu(&self) -> Result<Tensor> {
        unary(self, Unary::QuickGelu)
    }
    pub fn square(&self) -> Result<Tensor> {
        unary(self, Unary::Square)
    }
}

impl Tensor {
    pub fn full(shape: &[usize], value: f32) -> Result<Tensor> {
        let t = Tensor::empty(shape)?;
        fill(&t, value)?;
        Ok(t)
    }

    pub fn ones(shape: &[usize]) -> Result<Tensor> {
        Tensor::full(shape, 1.0)
    }
}
