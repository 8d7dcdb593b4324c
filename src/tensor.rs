//! GPU-resident tensors.
//!
//! A tensor is a contiguous row-major window (`offset`, `shape`) of a pooled GPU buffer, so
//! reshapes and leading-axis slices are free views; every other layout change is a copy
//! kernel. Storage is f32, or f16/bf16 packed two to a word ([`DType`]) for tensors that only
//! the kernels that unpack them read (frozen weights: GEMM's right operand, conv's weights) and
//! [`Tensor::cast`].
//!
//! A tensor may be larger than one storage binding may cover (lavapipe: 128 MiB, while SD's
//! CLIP token embedding is 145 MiB): buffers are sized up to the adapter's `max_buffer_size`
//! and each op binds windows of at most `max_storage_buffer_binding_size` bytes, splitting
//! its work into chunks where needed (see `ops::launch`). Methods that launch kernels (`full`,
//! `narrow0`, `matmul`, ...) are defined beside their kernels in `ops`, which sits above this layer.

use std::sync::Arc;

use crate::autograd::{self, Autograd};
use crate::error::{Error, Result};
pub use crate::gpu::DType;
use crate::gpu::{context, Context, PooledBuffer};

#[derive(Clone)]
pub struct Tensor {
    storage: Arc<PooledBuffer>,
    /// Offset of the first element in `storage`, in elements.
    offset: usize,
    shape: Vec<usize>,
    dtype: DType,
    autograd: Option<Autograd>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {:?}{})",
            self.shape,
            self.dtype,
            if self.requires_grad() { ", requires_grad" } else { "" }
        )
    }
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

impl Tensor {
    pub(crate) fn ctx() -> Result<&'static Context> {
        context()
    }

    /// An uninitialised tensor (for op outputs that every element is written to).
    pub(crate) fn empty(shape: &[usize]) -> Result<Tensor> {
        Tensor::empty_of(shape, DType::F32)
    }

    /// An uninitialised tensor of `dtype`.
    pub(crate) fn empty_of(shape: &[usize], dtype: DType) -> Result<Tensor> {
        let ctx = context()?;
        let storage = ctx.alloc(dtype.bytes(numel(shape)))?;
        Ok(Tensor { storage: Arc::new(storage), offset: 0, shape: shape.to_vec(), dtype, autograd: None })
    }

    /// `data` stored as `dtype` (rounded to nearest even on the host for the half dtypes).
    pub fn from_slice_as(data: &[f32], shape: &[usize], dtype: DType) -> Result<Tensor> {
        if dtype == DType::F32 {
            return Tensor::from_slice(data, shape);
        }
        if numel(shape) != data.len() {
            return Err(Error::invalid(
                "from_slice",
                format!("{} values do not fill shape {shape:?} ({} elements)", data.len(), numel(shape)),
            ));
        }
        let t = Tensor::empty_of(shape, dtype)?;
        if !data.is_empty() {
            context()?.write(t.buffer(), 0, &dtype.encode(data));
        }
        Ok(t)
    }

    pub fn from_slice(data: &[f32], shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != data.len() {
            return Err(Error::invalid(
                "from_slice",
                format!("{} values do not fill shape {shape:?} ({} elements)", data.len(), numel(shape)),
            ));
        }
        let t = Tensor::empty(shape)?;
        if !data.is_empty() {
            context()?.write(t.buffer(), 0, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// Overwrites the elements in place (restoring a checkpoint into a parameter).
    pub fn write(&self, data: &[f32]) -> Result<()> {
        if self.dtype != DType::F32 {
            return Err(Error::invalid(
                "write",
                format!("a {} tensor of shape {:?} is written only when made", self.dtype, self.shape),
            ));
        }
        if data.len() != self.numel() {
            return Err(Error::invalid(
                "write",
                format!("{} values for a tensor of shape {:?}", data.len(), self.shape),
            ));
        }
        if !data.is_empty() {
            context()?.write(self.buffer(), self.offset as u64 * 4, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    pub fn scalar(v: f32) -> Result<Tensor> {
        Tensor::from_slice(&[v], &[1])
    }

    pub fn zeros(shape: &[usize]) -> Result<Tensor> {
        let t = Tensor::empty(shape)?;
        let n = t.numel();
        if n > 0 {
            context()?.clear(t.buffer(), 0, n as u64 * 4);
        }
        Ok(t)
    }

    /// Copies the tensor back to the host (waits for the GPU); half dtypes come back as the
    /// f32 values they hold (exact).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let n = self.numel();
        if n == 0 {
            return Ok(Vec::new());
        }
        let es = self.dtype.size() as u64;
        // Reads start on a word: a half tensor at an odd offset reads one element before it.
        let start = self.offset as u64 * es;
        let lead = (start % 4) as usize;
        let bytes =
            context()?.read(self.buffer(), start - lead as u64, (lead as u64 + n as u64 * es).next_multiple_of(4))?;
        Ok(self.dtype.decode(&bytes[lead..], n))
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::invalid("item", format!("tensor of shape {:?} has more than one element", self.shape)));
        }
        Ok(self.to_vec()?[0])
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buffer()
    }
    /// Offset of the first element in `buffer()`, in elements.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Size `d` of a dimension; negative counts from the end.
    pub fn dim(&self, d: isize) -> usize {
        let r = self.rank() as isize;
        self.shape[(if d < 0 { r + d } else { d }) as usize]
    }

    pub(crate) fn autograd(&self) -> Option<&Autograd> {
        self.autograd.as_ref()
    }

    pub(crate) fn with_autograd(mut self, a: Option<Autograd>) -> Tensor {
        self.autograd = a;
        self
    }

    /// A view of the same storage with another shape (no copy, no autograd).
    pub(crate) fn view_raw(&self, offset: usize, shape: &[usize]) -> Tensor {
        Tensor { storage: self.storage.clone(), offset, shape: shape.to_vec(), dtype: self.dtype, autograd: None }
    }

    pub fn requires_grad(&self) -> bool {
        self.autograd.is_some()
    }

    /// Makes this tensor a leaf that accumulates gradients (a parameter).
    pub fn requires_grad_(self) -> Tensor {
        let mut t = self.detach();
        t.autograd = Some(autograd::new_leaf());
        t
    }

    /// The same storage, cut from the graph.
    pub fn detach(&self) -> Tensor {
        let mut t = self.clone();
        t.autograd = None;
        t
    }

    /// A stable identity of a leaf that requires grad (a parameter), for optimizer state.
    pub fn leaf_id(&self) -> Option<u64> {
        match &self.autograd {
            Some(Autograd::Leaf(s)) => Some(s.id()),
            _ => None,
        }
    }

    /// The accumulated gradient of a leaf, if backward has reached it.
    pub fn grad(&self) -> Option<Tensor> {
        match &self.autograd {
            Some(Autograd::Leaf(s)) => s.grad.lock().unwrap().clone(),
            _ => None,
        }
    }

    /// Replaces a leaf's gradient (loading a gradient computed elsewhere, restoring state).
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        let Some(Autograd::Leaf(s)) = &self.autograd else {
            return Err(Error::invalid("set_grad", format!("a tensor of shape {:?} is not a parameter", self.shape)));
        };
        if let Some(g) = &grad {
            if g.shape != self.shape {
                return Err(Error::shape("set_grad", &self.shape, &g.shape));
            }
        }
        *s.grad.lock().unwrap() = grad.map(|g| g.detach());
        Ok(())
    }

    /// Clears a leaf's accumulated gradient.
    pub fn zero_grad(&self) {
        if let Some(Autograd::Leaf(s)) = &self.autograd {
            *s.grad.lock().unwrap() = None;
        }
    }

    /// Backward from a one-element tensor (a loss), seeded with 1.
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "backward",
                format!("needs a one-element tensor (a loss), got shape {:?}; use backward_with", self.shape),
            ));
        }
        let seed = Tensor::ones(&self.shape)?;
        autograd::backward(self, seed)
    }

    /// Backward seeded with `grad`, which must have this tensor's shape.
    pub fn backward_with(&self, grad: &Tensor) -> Result<()> {
        if grad.shape != self.shape {
            return Err(Error::shape("backward_with", &self.shape, &grad.shape));
        }
        autograd::backward(self, grad.detach())
    }

    /// The same elements with another shape (a view; `reshape` never copies).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::shape_hint("reshape", &self.shape, shape, "element counts differ"));
        }
        let out = self.view_raw(self.offset, shape);
        let old = self.shape.clone();
        Ok(autograd::record(out, "reshape", &[self], move |g| Ok(vec![Some(g.reshape(&old)?)])))
    }
}
