//! Reverse-mode automatic differentiation.
//!
//! A graph is recorded only while gradients are wanted: an op whose inputs require grad, run
//! outside [`no_grad`], attaches a [`Node`] to its output holding the op's backward closure.
//! The closure captures exactly what the backward pass needs (the llm.c rule: what forward
//! saves for backward is explicit) and is consumed when backward runs, so saved activations
//! are freed as soon as their node has been differentiated. Leaves that require grad
//! (parameters) accumulate into their `.grad`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// Given the gradient of the op's output, returns one gradient per input (None where an
/// input needs none).
pub type BackwardFn = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + Send>;

/// Like [`BackwardFn`], but each input may receive several gradient contributions, accumulated
/// in the order given (a checkpointed block hands on each use of its input separately, so that
/// the sums are formed in the same order as without checkpointing).
type ManyBackwardFn = Box<dyn FnOnce(&Tensor) -> Result<Vec<Vec<Tensor>>> + Send>;

enum Backward {
    One(BackwardFn),
    Many(ManyBackwardFn),
}

pub struct Node {
    id: u64,
    pub(crate) name: &'static str,
    parents: Vec<Option<Autograd>>,
    backward: Mutex<Option<Backward>>,
}

/// Where a leaf's gradient accumulates.
pub struct LeafSlot {
    id: u64,
    pub(crate) grad: Mutex<Option<Tensor>>,
    /// A checkpointed block's stand-in for its input: keeps each contribution apart instead of
    /// summing them (see [`checkpoint`]).
    parts: Option<Mutex<Vec<Tensor>>>,
    /// Recorded uses (graph edges from an op to this leaf, and uses inside checkpointed blocks)
    /// whose backward has not run yet. When it falls to 0 during [`backward_fused`], the
    /// gradient is complete.
    pending: AtomicUsize,
}

#[derive(Clone)]
pub(crate) enum Autograd {
    Leaf(Arc<LeafSlot>),
    Op(Arc<Node>),
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// How ops count their uses of leaves on this thread (see [`LeafSlot::pending`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// Recorded ops count their leaf inputs.
    Record,
    /// A checkpointed block's forward, run without recording: its ops count their leaf inputs
    /// all the same, since backward will differentiate them (after recomputing the block).
    Forward,
    /// The recomputation of a checkpointed block inside backward: its uses were counted by
    /// the forward.
    Off,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static COUNTING: Cell<Counting> = const { Cell::new(Counting::Record) };
    static AUTOCAST: Cell<DType> = const { Cell::new(DType::F32) };
    /// Set while [`backward_fused`] runs: leaves whose gradient became complete, in order.
    static READY: RefCell<Option<std::collections::VecDeque<Arc<LeafSlot>>>> = const { RefCell::new(None) };
}

/// Restores the previous counting mode when dropped.
struct CountingGuard(Counting);

impl Drop for CountingGuard {
    fn drop(&mut self) {
        COUNTING.with(|c| c.set(self.0));
    }
}

fn counting(mode: Counting) -> CountingGuard {
    CountingGuard(COUNTING.with(|c| c.replace(mode)))
}

/// Counts one use of each leaf among `inputs`, when the mode says so: `recording` tells
/// whether the op is recording a node (else it runs without grad).
fn count_uses(inputs: &[&Tensor], recording: bool) {
    let mode = COUNTING.with(|c| c.get());
    if (recording && mode == Counting::Record) || (!recording && mode == Counting::Forward) {
        for t in inputs {
            if let Some(Autograd::Leaf(slot)) = t.autograd() {
                if slot.parts.is_none() {
                    slot.pending.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One recorded use of `slot` has been differentiated; queues it when that was the last one.
fn release_use(slot: &Arc<LeafSlot>) {
    if slot.parts.is_some() {
        return;
    }
    let last = slot.pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)) == Ok(1);
    if last {
        READY.with(|r| {
            if let Some(q) = r.borrow_mut().as_mut() {
                q.push_back(slot.clone());
            }
        });
    }
}

/// Whether ops record the graph on this thread.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Restores the previous grad mode when dropped.
pub struct GradModeGuard(bool);

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.0));
    }
}

/// Turns graph recording off on this thread until the guard is dropped (inference mode).
pub fn no_grad() -> GradModeGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(false));
    GradModeGuard(prev)
}

/// Runs `f` with graph recording off.
pub fn with_no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _g = no_grad();
    f()
}

/// The dtype Linear and Conv2d round their inputs to on this thread (torch.autocast's): F32 outside
/// [`autocast`]. Kept beside grad mode because a checkpointed block recomputes its forward
/// inside backward, after the forward's guard is gone, and must round as the forward did.
pub fn autocast_dtype() -> DType {
    AUTOCAST.with(|a| a.get())
}

/// Restores the previous autocast dtype when dropped.
pub struct AutocastGuard(DType);

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|a| a.set(self.0));
    }
}

/// Mixed precision on this thread until the guard is dropped (`--mixed-precision`): Linear and
/// Conv2d round their input to `dtype` and keep that half copy for backward (the activations
/// a training step holds), read their weight as stored (f32 masters, or frozen half matrices),
/// and accumulate and write f32 (`ops::cast::autocast_input` says why the weights are not
/// copied to half). Other ops (norms, softmax, attention, the loss) stay f32, except that under
/// fp16 the products that run on f16 cooperative matrices (where tuned or forced) round their
/// operands to f16 as torch's autocast does: attention's, and the gradients' (`record` runs each
/// backward under its forward's autocast; `ops::gemm::half_products`).
pub fn autocast(dtype: DType) -> AutocastGuard {
    AutocastGuard(AUTOCAST.with(|a| a.replace(dtype)))
}

pub(crate) fn new_leaf() -> Autograd {
    Autograd::Leaf(Arc::new(LeafSlot {
        id: next_id(),
        grad: Mutex::new(None),
        parts: None,
        pending: AtomicUsize::new(0),
    }))
}

/// Turns graph recording on on this thread until the guard is dropped (recomputing a
/// checkpointed block inside backward, which runs without recording).
fn enable_grad() -> GradModeGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(true));
    GradModeGuard(prev)
}

/// Attaches a backward closure to `out` if grad mode is on and any input requires grad.
/// `inputs` are the op's differentiable inputs, in the order the closure returns gradients.
/// The closure runs under the autocast dtype the op ran under (torch: "backward ops run in the
/// same type that autocast used for corresponding forward ops"): what lets the backward of an
/// fp16 product run on f16 matrix units (`ops::gemm::half_products`) after the forward's guard
/// is gone.
pub fn record(
    out: Tensor,
    name: &'static str,
    inputs: &[&Tensor],
    backward: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + 'static,
) -> Tensor {
    if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
        if !is_grad_enabled() {
            count_uses(inputs, false);
        }
        return out;
    }
    count_uses(inputs, true);
    let cast = autocast_dtype();
    let backward = move |g: &Tensor| {
        let _a = autocast(cast);
        backward(g)
    };
    let node = Node {
        id: next_id(),
        name,
        parents: inputs.iter().map(|t| t.autograd().cloned()).collect(),
        backward: Mutex::new(Some(Backward::One(Box::new(backward)))),
    };
    out.with_autograd(Some(Autograd::Op(Arc::new(node))))
}

/// A block whose activations are not kept: `f(inputs)` runs without recording, and only the
/// inputs are saved; backward runs `f` again, recording, and differentiates that (Chen et al.
/// 2016's gradient checkpointing, torch.utils.checkpoint). Parameters that `f` uses accumulate
/// their gradients as usual. With the same kernels, the gradients are bit-identical to running
/// `f` directly: the block's recorded graph is the same, and each use of an input inside the
/// block reaches that input as a separate contribution, in the order the direct graph would
/// have summed them.
pub fn checkpoint(
    name: &'static str,
    inputs: &[&Tensor],
    f: impl Fn(&[Tensor]) -> Result<Tensor> + Send + 'static,
) -> Result<Tensor> {
    let saved: Vec<Tensor> = inputs.iter().map(|t| t.detach()).collect();
    let recording = is_grad_enabled();
    let cast = autocast_dtype();
    let out = {
        // The block's uses of parameters are counted now, as a recorded forward would.
        let _c = (recording && COUNTING.with(|c| c.get()) == Counting::Record).then(|| counting(Counting::Forward));
        let _g = no_grad();
        f(&saved)?
    };
    if !recording {
        if COUNTING.with(|c| c.get()) == Counting::Forward {
            count_uses(inputs, false);
        }
        return Ok(out);
    }
    count_uses(inputs, true);
    let wanted: Vec<bool> = inputs.iter().map(|t| t.requires_grad()).collect();
    let backward = move |g: &Tensor| -> Result<Vec<Vec<Tensor>>> {
        let _e = enable_grad();
        let _c = counting(Counting::Off);
        let _a = autocast(cast);
        let stand_ins: Vec<Tensor> = saved
            .iter()
            .zip(&wanted)
            .map(|(t, &w)| {
                if !w {
                    return t.clone();
                }
                let slot = LeafSlot {
                    id: next_id(),
                    grad: Mutex::new(None),
                    parts: Some(Mutex::new(Vec::new())),
                    pending: AtomicUsize::new(0),
                };
                t.clone().with_autograd(Some(Autograd::Leaf(Arc::new(slot))))
            })
            .collect();
        let out = f(&stand_ins)?;
        drop(saved);
        if out.requires_grad() {
            backward(&out, g.detach())?;
        }
        Ok(stand_ins
            .iter()
            .map(|t| match t.autograd() {
                Some(Autograd::Leaf(slot)) => {
                    slot.parts.as_ref().map_or(Vec::new(), |p| std::mem::take(&mut *p.lock().unwrap()))
                }
                _ => Vec::new(),
            })
            .collect())
    };
    let node = Node {
        id: next_id(),
        name,
        parents: inputs.iter().map(|t| t.autograd().cloned()).collect(),
        backward: Mutex::new(Some(Backward::Many(Box::new(backward)))),
    };
    Ok(out.with_autograd(Some(Autograd::Op(Arc::new(node)))))
}

/// Whether `backward` would need a gradient for input `i` of an op.
pub fn needs_grad(t: &Tensor) -> bool {
    t.requires_grad()
}

/// Adds `g` to a leaf's gradient (or keeps it apart, for a checkpoint's stand-in).
fn accumulate_leaf(slot: &LeafSlot, g: Tensor) -> Result<()> {
    if let Some(parts) = &slot.parts {
        parts.lock().unwrap().push(g);
        return Ok(());
    }
    accumulate(&mut slot.grad.lock().unwrap(), g)
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        // Parts of other dtypes (a cast hands its input's gradient back in the input's dtype)
        // are summed in f32.
        Some(prev) if prev.dtype() != DType::F32 || g.dtype() != DType::F32 => {
            prev.cast(DType::F32)?.add(&g.cast(DType::F32)?)?
        }
        Some(prev) => prev.add(&g)?,
    });
    Ok(())
}

/// Runs backward from `root` seeded with `seed` (same shape as `root`).
pub(crate) fn backward(root: &Tensor, seed: Tensor) -> Result<()> {
    let _ng = no_grad();
    match root.autograd() {
        None => {
            return Err(Error::invalid(
                "backward",
                "the tensor does not require grad: no parameter it depends on has requires_grad set",
            ))
        }
        Some(Autograd::Leaf(slot)) => return accumulate_leaf(slot, seed),
        Some(Autograd::Op(_)) => {}
    }
    let Some(Autograd::Op(root_node)) = root.autograd().cloned() else { unreachable!() };

    // Topological order by iterative DFS (graphs of a U-Net are thousands of nodes deep).
    let mut order: Vec<Arc<Node>> = Vec::new();
    let mut visited: HashSet<u64> = HashSet::new();
    let mut stack: Vec<(Arc<Node>, usize)> = vec![(root_node.clone(), 0)];
    visited.insert(root_node.id);
    while let Some((node, i)) = stack.pop() {
        if i < node.parents.len() {
            stack.push((node.clone(), i + 1));
            if let Some(Autograd::Op(p)) = &node.parents[i] {
                if visited.insert(p.id) {
                    stack.push((p.clone(), 0));
                }
            }
        } else {
            order.push(node);
        }
    }

    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    grads.insert(root_node.id, seed);
    for node in order.iter().rev() {
        let Some(g) = grads.remove(&node.id) else {
            for parent in &node.parents {
                if let Some(Autograd::Leaf(slot)) = parent {
                    release_use(slot);
                }
            }
            continue;
        };
        let f = node.backward.lock().unwrap().take().ok_or_else(|| {
            Error::invalid(
                "backward",
                format!(
                    "trying to backward through `{}` a second time: its saved tensors were freed by the \
                     first backward",
                    node.name
                ),
            )
        })?;
        let input_grads: Vec<Vec<Tensor>> = match f {
            Backward::One(f) => f(&g)?.into_iter().map(|ig| ig.into_iter().collect()).collect(),
            Backward::Many(f) => f(&g)?,
        };
        drop(g);
        debug_assert_eq!(input_grads.len(), node.parents.len(), "{}", node.name);
        for (parent, igs) in node.parents.iter().zip(input_grads) {
            let Some(parent) = parent else {
                continue;
            };
            for ig in igs {
                match parent {
                    Autograd::Leaf(slot) => accumulate_leaf(slot, ig)?,
                    Autograd::Op(p) => {
                        let mut s = grads.remove(&p.id);
                        accumulate(&mut s, ig)?;
                        grads.insert(p.id, s.unwrap());
                    }
                }
            }
            if let Autograd::Leaf(slot) = parent {
                release_use(slot);
            }
        }
        drain_ready()?;
    }
    Ok(())
}

/// The consumer [`backward_fused`] installs on this thread.
type ReadyFn<'a> = &'a mut dyn FnMut(u64, Tensor) -> Result<bool>;

/// Hands the queued complete gradients to the consumer of a running [`backward_fused`] (after
/// each node, in a checkpoint's nested backward too).
fn drain_ready() -> Result<()> {
    CONSUMER.with(|c| -> Result<()> {
        let mut consumer = c.borrow_mut();
        let Some(f) = consumer.as_mut() else { return Ok(()) };
        loop {
            let next = READY.with(|r| r.borrow_mut().as_mut().and_then(|q| q.pop_front()));
            let Some(slot) = next else { return Ok(()) };
            let g = slot.grad.lock().unwrap().take();
            if let Some(g) = g {
                if !f.call(slot.id, g.clone())? {
                    *slot.grad.lock().unwrap() = Some(g);
                }
            }
        }
    })
}

/// A boxed consumer without the caller's lifetime: see [`backward_fused`] for why it is sound.
struct Consumer(*mut (dyn FnMut(u64, Tensor) -> Result<bool> + 'static));

impl Consumer {
    fn call(&mut self, id: u64, g: Tensor) -> Result<bool> {
        // SAFETY: the pointer is installed by `backward_fused` for the duration of its call
        // only (removed by its guard before it returns), on this thread, and nothing else
        // borrows the closure meanwhile.
        unsafe { (*self.0)(id, g) }
    }
}

thread_local! {
    static CONSUMER: RefCell<Option<Consumer>> = const { RefCell::new(None) };
}

/// Backward from a one-element `root` (seeded with 1), handing each leaf's gradient to
/// `ready(leaf_id, grad)` as soon as it is complete: when every recorded use of the leaf has
/// been differentiated (kohya's fused backward pass; torch's post-accumulate-grad hooks).
/// `ready` returns true when it consumed the gradient (the leaf's `.grad` stays empty and the
/// tensor is freed once `ready` drops it) and false to leave it in `.grad`. Gradients of leaves
/// used inside a checkpointed block are handed over during the block's recomputed backward.
///
/// A leaf whose uses were recorded but are not all reached by this backward (a use that does
/// not lead to `root`) keeps its gradient in `.grad`; call [`reset_uses`] on the parameters
/// after each fused backward so that such leftovers do not carry into the next step.
pub fn backward_fused(root: &Tensor, ready: ReadyFn) -> Result<()> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            READY.with(|r| *r.borrow_mut() = None);
            CONSUMER.with(|c| *c.borrow_mut() = None);
        }
    }
    if CONSUMER.with(|c| c.borrow().is_some()) {
        return Err(Error::invalid("backward_fused", "called inside another fused backward pass"));
    }
    let ptr: *mut (dyn FnMut(u64, Tensor) -> Result<bool> + '_) = ready;
    // SAFETY: only the lifetime is erased; `Reset` removes the pointer before this returns.
    let ptr: *mut (dyn FnMut(u64, Tensor) -> Result<bool> + 'static) = unsafe { std::mem::transmute(ptr) };
    CONSUMER.with(|c| *c.borrow_mut() = Some(Consumer(ptr)));
    READY.with(|r| *r.borrow_mut() = Some(std::collections::VecDeque::new()));
    let _reset = Reset;
    root.backward()
}

/// Forgets the recorded uses of `params` that no backward differentiated (see [`backward_fused`]).
pub fn reset_uses(params: &[Tensor]) {
    for p in params {
        if let Some(Autograd::Leaf(slot)) = p.autograd() {
            slot.pending.store(0, Ordering::Relaxed);
        }
    }
}

impl LeafSlot {
    pub fn id(&self) -> u64 {
        self.id
    }
}
