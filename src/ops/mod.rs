//! The kernels' launchers, each op's forward beside its backward rule.
//!
//! Every launcher binds windows of at most the adapter's per-binding limit and splits its
//! work into chunks where a tensor is larger (see [`launch`]).

pub mod attention;
mod blocked;
pub mod cast;
pub mod conv;
pub mod copy;
pub mod elementwise;
pub mod embedding;
pub mod gemm;
pub mod launch;
pub mod loss;
pub mod norm;
pub mod reduce;
pub mod softmax;
