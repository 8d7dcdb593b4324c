//! engine: a GPU compute engine with hand-written WGSL kernels, run through wgpu on any GPU
//! vendor (Vulkan, Metal, DX12, GL), with a small tensor and reverse-mode autograd layer, built
//! to fine-tune Stable Diffusion 1.x with DreamBooth.
//!
//! Layers, bottom up (each module uses only those below it; `tests/layers.rs` checks it):
//! [`gpu`] (context, capabilities, options, buffers, pipelines, dispatch, variants, tuner,
//! timing); [`tensor`] and [`autograd`]; [`ops`] (the kernels' launchers and their backward
//! rules) and [`optim`] (AdamW, gradient clipping); [`nn`] (layers and the loader); [`models`];
//! [`diffusion`]; [`train`], [`sample`], [`parity`], [`bench`](mod@bench); the CLI (`main.rs`). Beside
//! them, used from any layer: [`error`], [`fsutil`], [`rng`], [`weights`], [`imageio`],
//! [`progress`].

pub mod autograd;
pub mod bench;
pub mod diffusion;
pub mod error;
pub mod fsutil;
pub mod gpu;
pub mod imageio;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod parity;
pub mod progress;
pub mod rng;
pub mod sample;
pub mod tensor;
pub mod train;
pub mod weights;

pub use autograd::{no_grad, with_no_grad};
pub use error::{Error, Result};
pub use tensor::Tensor;

/// Every shader module the engine compiles, for the offline validation test (`tests/shaders.rs`).
pub fn all_shaders() -> Vec<&'static gpu::Shader> {
    vec![
        &ops::attention::SHADER,
        &ops::attention::ROWS_SHADER,
        &ops::cast::SHADER,
        &ops::conv::SHADER,
        &ops::conv::SUBGROUP_SHADER,
        &ops::conv::COOP16_F16_SHADER,
        &ops::conv::COOP8_F32_SHADER,
        &ops::conv::COOP8_F16_SHADER,
        &ops::copy::SHADER,
        &ops::elementwise::SHADER,
        &ops::embedding::SHADER,
        &ops::gemm::SHADER,
        &ops::gemm::SUBGROUP_SHADER,
        &ops::gemm::COOP16_F16_SHADER,
        &ops::gemm::COOP8_F32_SHADER,
        &ops::gemm::COOP8_F16_SHADER,
        &ops::norm::SHADER,
        &ops::loss::SHADER,
        &ops::reduce::SHADER,
        &ops::softmax::SHADER,
        &optim::SHADER,
        &bench::PROBE_SHADER,
    ]
}
