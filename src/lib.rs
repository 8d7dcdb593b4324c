//! engine: a GPU compute engine with hand-written WGSL kernels, run through wgpu on any GPU
//! vendor (Vulkan, Metal, DX12, GL), with a small tensor and reverse-mode autograd layer, built
//! to fine-tune Stable Diffusion 1.x with DreamBooth.
//!
//! Layers, bottom up: [`gpu`] (context, buffers, pipelines, dispatch), [`tensor`] and
//! [`autograd`], [`ops`] (the kernels' launchers and their backward rules), [`optim`] (AdamW, gradient
//! clipping), [`bench`].

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
pub mod tune;
pub mod weights;

pub use autograd::{no_grad, with_no_grad};
pub use error::{Error, Result};
pub use tensor::Tensor;
