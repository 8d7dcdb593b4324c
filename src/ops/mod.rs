//! The kernels' launchers, each op's forward beside its backward rule.
//!
//! Every launcher binds windows of at most the adapter's per-binding limit and splits its
//! work into chunks where a tensor is larger (see [`launch`]).

pub mod attention;
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

use crate::gpu::Shader;

/// Every WGSL file the engine compiles, for the offline validation test.
pub fn all_shaders() -> Vec<&'static Shader> {
    vec![
        &attention::SHADER,
        &attention::ROWS_SHADER,
        &conv::SHADER,
        &conv::SUBGROUP_SHADER,
        &copy::SHADER,
        &elementwise::SHADER,
        &embedding::SHADER,
        &gemm::SHADER,
        &gemm::SUBGROUP_SHADER,
        &norm::SHADER,
        &loss::SHADER,
        &reduce::SHADER,
        &softmax::SHADER,
        &crate::optim::SHADER,
        &crate::bench::PROBE_SHADER,
    ]
}
