//! The GPU runtime: one wgpu context per process, pooled buffers, cached pipelines, and a
//! recorder that batches dispatches into submissions.

mod context;
pub mod kernel;
mod pool;
pub mod profile;

pub use context::{
    configure, context, enumerate, new_instance, no_adapter_message, BackendChoice, BindView, Context, GpuOptions,
    OPTIONAL_FEATURES,
};
pub use kernel::{Access, Kernel, Shader, Spec, SpecValue};
pub use pool::{size_class, PoolStats, PooledBuffer};
