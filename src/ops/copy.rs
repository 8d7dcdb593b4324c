//! Layout changes: permute, broadcast (expand), and copies into part of a larger tensor.
//! All are the strided-copy kernel; their backward passes are the inverse copy or a sum.

use super::cast::as_f32;
use super::elementwise::sum_to;
use super::launch::{axis_index, grid, pack8, u};
use crate::autograd::record;
use crate::error::{Error, Result};
use crate::gpu::{Access, DType, Kernel, Shader, Spec, SpecValue, Uniforms};
use crate::tensor::{contiguous_strides, numel, Tensor};

pub static SHADER: Shader = Shader::file_reading_halves(
    "copy",
    include_str!("../../shaders/copy.wgsl"),
    &[&[("SRC_DTYPE", SpecValue::U32(0))], &[("SRC_DTYPE", SpecValue::U32(2))]],
    &[&Params::LAYOUT, &TParams::LAYOUT],
);

crate::uniforms! {
    /// The uniform block of `copy.wgsl`'s `strided_copy`: dims and both stride lists, 8
    /// right-aligned dims as two vec4s each.
    struct Params {
        n: u32,
        in_shift: u32,
        out_shift: u32,
        /// Axes in use after [`simplify`], at the end of the lists.
        rank: u32,
        dims_lo: [u32; 4],
        dims_hi: [u32; 4],
        istr_lo: [u32; 4],
        istr_hi: [u32; 4],
        ostr_lo: [u32; 4],
        ostr_hi: [u32; 4],
    }
}

crate::uniforms! {
    /// The uniform block of `copy.wgsl`'s `transpose`.
    struct TParams {
        x: u32,
        y: u32,
        in_shift: u32,
        out_shift: u32,
    }
}
static STRIDED_COPY: Kernel =
    Kernel { shader: &SHADER, entry: "strided_copy", bindings: &[Access::Read, Access::ReadWrite] };
static STRIDED_COPY4: Kernel =
    Kernel { shader: &SHADER, entry: "strided_copy4", bindings: &[Access::Read, Access::ReadWrite] };
static TRANSPOSE: Kernel = Kernel { shader: &SHADER, entry: "transpose", bindings: &[Access::Read, Access::ReadWrite] };

/// `dims` and both stride lists with size-1 axes dropped and neighbouring axes merged where
/// both sides are contiguous across them (a permute of [b, c, h, w] to [b, h, w, c] is a
/// [b, c, h·w] transpose).
fn simplify(dims: &[usize], a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (mut d, mut sa, mut sb): (Vec<usize>, Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..dims.len() {
        if dims[i] == 1 {
            continue;
        }
        if let (Some(&last), Some(&la), Some(&lb)) = (d.last(), sa.last(), sb.last()) {
            if la == dims[i] * a[i] && lb == dims[i] * b[i] {
                let k = d.len() - 1;
                d[k] = last * dims[i];
                sa[k] = a[i];
                sb[k] = b[i];
                continue;
            }
        }
        d.push(dims[i]);
        sa.push(a[i]);
        sb.push(b[i]);
    }
    (d, sa, sb)
}

/// The batched transpose kernel where the copy is one: dst contiguous [B, X, Y] from src
/// contiguous [B, Y, X], both within a binding; src in any storage dtype (widened as it is
/// moved), dst f32. Returns false where it does not apply.
fn try_transpose(
    src: &Tensor,
    src_off: usize,
    src_str: &[usize],
    dst: &Tensor,
    dst_off: usize,
    dst_str: &[usize],
    dims: &[usize],
) -> Result<bool> {
    let (d, s, t) = simplify(dims, src_str, dst_str);
    let (batch, x, y) = match (d.len(), &s[..], &t[..]) {
        (2, &[1, sy], &[ty, 1]) if sy == d[0] && ty == d[1] => (1, d[0], d[1]),
        (3, &[sb, 1, sy], &[tb, ty, 1]) if sy == d[1] && ty == d[2] && sb == d[1] * d[2] && tb == sb => {
            (d[0], d[1], d[2])
        }
        _ => return Ok(false),
    };
    let ctx = Tensor::ctx()?;
    let n = batch * x * y;
    if n > ctx.max_binding_elems() || batch > 65535 || x.div_ceil(16) > 65535 || y.div_ceil(16) > 65535 {
        return Ok(false);
    }
    let (sv, ss) = ctx.window_of(src.buffer(), src.offset() + src_off, n, src.dtype())?;
    let (dv, ds) = ctx.window(dst.buffer(), dst.offset() + dst_off, n)?;
    let params = TParams { x: u(x), y: u(y), in_shift: ss, out_shift: ds };
    let groups = [u(x.div_ceil(16)), u(y.div_ceil(16)), u(batch)];
    let spec = Spec::new().u32("SRC_DTYPE", src.dtype().code());
    ctx.dispatch(&TRANSPOSE, &spec, &params, &[sv, dv], groups)?;
    Ok(true)
}

/// For every coordinate c of `dims`: dst[dst_off + c·dst_str] = src[src_off + c·src_str]
/// (offsets in elements, relative to each tensor).
pub(crate) fn strided_copy(
    src: &Tensor,
    src_off: usize,
    src_str: &[usize],
    dst: &Tensor,
    dst_off: usize,
    dst_str: &[usize],
    dims: &[usize],
) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let n = numel(dims);
    if n == 0 {
        return Ok(());
    }
    if dims.len() > 8 {
        return Err(Error::invalid("copy", format!("at most 8 dims are supported, got {dims:?}")));
    }
    if src.dtype() != DType::F32 || dst.dtype() != DType::F32 {
        return Err(Error::invalid(
            "copy",
            format!("copies move f32 elements; got a {} tensor of shape {:?}: cast it first", src.dtype(), src.shape()),
        ));
    }
    if try_transpose(src, src_off, src_str, dst, dst_off, dst_str, dims)? {
        return Ok(());
    }
    let extent = |str_: &[usize]| 1 + dims.iter().zip(str_).map(|(d, s)| (d - 1) * s).sum::<usize>();
    let (se, de) = (extent(src_str), extent(dst_str));
    let max = ctx.max_binding_elems();
    if se > max || de > max {
        // Too large for one binding: halve the outermost axis longer than 1 and copy each
        // half; the recursion ends because a single element always fits.
        let d = dims.iter().position(|&n| n > 1).expect("a copy of one element fits");
        let half = dims[d] / 2;
        for (start, len) in [(0, half), (half, dims[d] - half)] {
            let mut sub = dims.to_vec();
            sub[d] = len;
            strided_copy(src, src_off + start * src_str[d], src_str, dst, dst_off + start * dst_str[d], dst_str, &sub)?;
        }
        return Ok(());
    }
    let (sv, ss) = ctx.window(src.buffer(), src.offset() + src_off, se)?;
    let (dv, ds) = ctx.window(dst.buffer(), dst.offset() + dst_off, de)?;
    // The kernel divides once per axis: give it as few as the copy has.
    let (mut d, mut s, mut t) = simplify(dims, src_str, dst_str);
    let (mut n, mut ss, mut ds, mut kernel) = (n, ss, ds, &STRIDED_COPY);
    // Four elements at a time where the innermost axis is contiguous on both sides and every
    // other offset lands on a vec4.
    let by4 = |v: &[usize]| v[..v.len() - 1].iter().all(|x| x % 4 == 0);
    if d.last().is_some_and(|&l| l % 4 == 0)
        && s.last() == Some(&1)
        && t.last() == Some(&1)
        && by4(&s)
        && by4(&t)
        && ss % 4 == 0
        && ds % 4 == 0
    {
        let k = d.len() - 1;
        d[k] /= 4;
        s[..k].iter_mut().chain(t[..k].iter_mut()).for_each(|x| *x /= 4);
        (n, ss, ds, kernel) = (n / 4, ss / 4, ds / 4, &STRIDED_COPY4);
    }
    let ([dims_lo, dims_hi], [istr_lo, istr_hi], [ostr_lo, ostr_hi]) = (pack8(&d, 1), pack8(&s, 0), pack8(&t, 0));
    let rank = u(d.len().max(1));
    let params =
        Params { n: u(n), in_shift: ss, out_shift: ds, rank, dims_lo, dims_hi, istr_lo, istr_hi, ostr_lo, ostr_hi };
    ctx.dispatch(kernel, &Spec::new().u32("SRC_DTYPE", 0), &params, &[sv, dv], grid(n.div_ceil(256)))
}

/// `t`, in any storage dtype, with its axes permuted (output axis i is axis `perm[i]`), as a
/// new f32 tensor, without autograd. A half tensor is widened as it moves where the copy is a
/// batched transpose (conv's weight gradient takes its image channels-last this way: one pass,
/// where widening and then permuting would be two and hold two f32 copies), else widened first.
pub(crate) fn permuted_f32(t: &Tensor, perm: &[usize]) -> Result<Tensor> {
    if t.dtype() == DType::F32 {
        return t.detach().permute(perm);
    }
    let in_str = contiguous_strides(t.shape());
    let dims: Vec<usize> = perm.iter().map(|&p| t.shape()[p]).collect();
    let src_str: Vec<usize> = perm.iter().map(|&p| in_str[p]).collect();
    let out = Tensor::empty(&dims)?;
    if try_transpose(t, 0, &src_str, &out, 0, &contiguous_strides(&dims), &dims)? {
        return Ok(out);
    }
    as_f32(t)?.permute(perm)
}

/// Copies `src` into `dst` starting at row `start` of dst's first axis (no autograd).
pub(crate) fn copy_into_rows(src: &Tensor, dst: &Tensor, start: usize) -> Result<()> {
    let row: usize = dst.shape()[1..].iter().product();
    if src.shape()[1..] != dst.shape()[1..] || start + src.shape()[0] > dst.shape()[0] {
        return Err(Error::shape_hint("copy_into_rows", src.shape(), dst.shape(), format!("at row {start}")));
    }
    let ctx = Tensor::ctx()?;
    // Contiguous on both sides: a plain buffer copy, which has no binding limit.
    ctx.copy(
        src.buffer(),
        src.offset() as u64 * 4,
        dst.buffer(),
        (dst.offset() + start * row) as u64 * 4,
        src.numel() as u64 * 4,
    );
    Ok(())
}

impl Tensor {
    /// Reorders the axes: output axis i is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        let mut seen = vec![false; r];
        if perm.len() != r || perm.iter().any(|&p| p >= r || std::mem::replace(&mut seen[p], true)) {
            return Err(Error::invalid(
                "permute",
                format!("{perm:?} is not a permutation of the axes of {:?}", self.shape()),
            ));
        }
        let in_str = contiguous_strides(self.shape());
        let dims: Vec<usize> = perm.iter().map(|&p| self.shape()[p]).collect();
        let src_str: Vec<usize> = perm.iter().map(|&p| in_str[p]).collect();
        let out = Tensor::empty(&dims)?;
        strided_copy(self, 0, &src_str, &out, 0, &contiguous_strides(&dims), &dims)?;
        let mut inverse = vec![0; r];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(record(out, "permute", &[self], move |g| Ok(vec![Some(g.permute(&inverse)?)])))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        if a >= perm.len() || b >= perm.len() {
            return Err(Error::invalid("transpose", format!("axes {a}, {b} out of range for {:?}", self.shape())));
        }
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Broadcasts to `shape` (NumPy rules), materialised. Backward sums over the broadcast axes.
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        let out_shape = super::elementwise::broadcast_shape("expand", self.shape(), shape)?;
        if out_shape != shape {
            return Err(Error::shape_hint("expand", self.shape(), shape, "cannot broadcast to the target"));
        }
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let cs = contiguous_strides(self.shape());
        let off = shape.len() - self.rank();
        let src_str: Vec<usize> =
            (0..shape.len()).map(|i| if i < off || self.shape()[i - off] == 1 { 0 } else { cs[i - off] }).collect();
        let out = Tensor::empty(shape)?;
        strided_copy(self, 0, &src_str, &out, 0, &contiguous_strides(shape), shape)?;
        let in_shape = self.shape().to_vec();
        Ok(record(out, "expand", &[self], move |g| Ok(vec![Some(sum_to(g, &in_shape)?)])))
    }

    /// Elements `[start, start+len)` along `axis` (negative counts from the end), copied out
    /// (a view for axis 0). Backward writes the gradient into that slot of zeros.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let a = axis_index("narrow", self.shape(), axis)?;
        if a == 0 {
            return self.narrow0(start, len);
        }
        let dim = self.shape()[a];
        if start + len > dim {
            return Err(Error::invalid(
                "narrow",
                format!("range {start}..{} is outside axis {a} of {:?}", start + len, self.shape()),
            ));
        }
        let (outer, inner) = outer_inner(self.shape(), a);
        let mut shape = self.shape().to_vec();
        shape[a] = len;
        let out = Tensor::empty(&shape)?;
        strided_copy(self, start * inner, &[dim * inner, 1], &out, 0, &[len * inner, 1], &[outer, len * inner])?;
        let full = self.shape().to_vec();
        Ok(record(out, "narrow", &[self], move |g| {
            let z = Tensor::zeros(&full)?;
            strided_copy(g, 0, &[len * inner, 1], &z, start * inner, &[dim * inner, 1], &[outer, len * inner])?;
            Ok(vec![Some(z)])
        }))
    }

    /// Splits along `axis` into pieces of the given sizes (torch.split with a list).
    pub fn split(&self, axis: isize, sizes: &[usize]) -> Result<Vec<Tensor>> {
        let a = axis_index("split", self.shape(), axis)?;
        if sizes.iter().sum::<usize>() != self.shape()[a] {
            return Err(Error::invalid(
                "split",
                format!("sizes {sizes:?} do not add up to axis {a} of {:?}", self.shape()),
            ));
        }
        let mut start = 0;
        let mut out = Vec::new();
        for &len in sizes {
            out.push(self.narrow(a as isize, start, len)?);
            start += len;
        }
        Ok(out)
    }

    /// Nearest-neighbour upsampling by 2 of x [N, C, H, W] -> [N, C, 2H, 2W]
    /// (F.interpolate(scale_factor=2, mode="nearest")). Backward sums each 2x2 block.
    pub fn upsample_nearest2x(&self) -> Result<Tensor> {
        if self.rank() != 4 {
            return Err(Error::invalid("upsample_nearest2x", format!("needs [N, C, H, W], got {:?}", self.shape())));
        }
        let (nc, h, w) = (self.dim(0) * self.dim(1), self.dim(2), self.dim(3));
        let out = Tensor::empty(&[self.dim(0), self.dim(1), 2 * h, 2 * w])?;
        let dims = [nc, h, 2, w, 2];
        strided_copy(self, 0, &[h * w, w, 0, 1, 0], &out, 0, &contiguous_strides(&dims), &dims)?;
        let shape = self.shape().to_vec();
        Ok(record(out, "upsample_nearest2x", &[self], move |g| {
            let blocks = g.reshape(&[nc, h, 2, w, 2])?.sum(4, false)?.sum(2, false)?;
            Ok(vec![Some(blocks.reshape(&shape)?)])
        }))
    }
}

fn outer_inner(shape: &[usize], axis: usize) -> (usize, usize) {
    (shape[..axis].iter().product(), shape[axis + 1..].iter().product())
}

/// Concatenation along `axis` (torch.cat). Backward narrows the gradient back into pieces.
pub fn cat(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
    let first = tensors.first().ok_or_else(|| Error::invalid("cat", "needs at least one tensor"))?;
    let a = axis_index("cat", first.shape(), axis)?;
    for t in tensors {
        let same = t.rank() == first.rank() && (0..t.rank()).all(|d| d == a || t.shape()[d] == first.shape()[d]);
        if !same {
            return Err(Error::shape_hint("cat", first.shape(), t.shape(), format!("only axis {a} may differ")));
        }
    }
    let total: usize = tensors.iter().map(|t| t.shape()[a]).sum();
    let mut shape = first.shape().to_vec();
    shape[a] = total;
    let out = Tensor::empty(&shape)?;
    let (outer, inner) = outer_inner(&shape, a);
    let mut start = 0;
    let mut sizes = Vec::new();
    for t in tensors {
        let len = t.shape()[a];
        strided_copy(t, 0, &[len * inner, 1], &out, start * inner, &[total * inner, 1], &[outer, len * inner])?;
        start += len;
        sizes.push(len);
    }
    Ok(record(out, "cat", tensors, move |g| Ok(g.split(a as isize, &sizes)?.into_iter().map(Some).collect())))
}

impl Tensor {
    /// Elements `[start, start+len)` along the first axis (a view).
    pub fn narrow0(&self, start: usize, len: usize) -> Result<Tensor> {
        if self.rank() == 0 || start + len > self.shape()[0] {
            return Err(Error::invalid(
                "narrow0",
                format!("range {start}..{} is outside axis 0 of shape {:?}", start + len, self.shape()),
            ));
        }
        let row: usize = self.shape()[1..].iter().product();
        let mut shape = self.shape().to_vec();
        shape[0] = len;
        let out = self.view_raw(self.offset() + start * row, &shape);
        let full = self.shape().to_vec();
        Ok(record(out, "narrow0", &[self], move |g| {
            let z = Tensor::zeros(&full)?;
            copy_into_rows(g, &z, start)?;
            Ok(vec![Some(z)])
        }))
    }
}
