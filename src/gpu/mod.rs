//! The GPU runtime: one wgpu context per process with the adapter's capabilities, pooled
//! buffers, cached pipelines and bind groups, a recorder that batches dispatches into submissions, and what
//! the kernel families share to choose a launch variant (the variant description and cost
//! model, the tuner, GPU timing).

mod bind_cache;
mod caps;
mod context;
mod dtype;
pub mod kernel;
mod options;
mod pool;
pub mod profile;
mod timing;
pub mod tune;
pub mod variant;

pub use caps::{Caps, CoopShape};
pub use context::{
    context, enumerate, new_instance, no_adapter_message, opened, readbacks_on_this_thread, BackendChoice, BindView,
    Context, OPTIONAL_FEATURES,
};
pub use dtype::{DType, HALF_WGSL};
pub use kernel::{Access, Field, Kernel, Layout, Shader, Spec, SpecValue, Uniforms};
pub use options::{configure, options, stage_pairs, GpuOptions};
pub use pool::{size_class, PoolStats, PooledBuffer};
pub use timing::time_gpu;
