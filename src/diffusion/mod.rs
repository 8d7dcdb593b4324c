//! Diffusion: the DDPM noise schedule (Ho et al. 2020) and the samplers, as diffusers' schedulers
//! compute them, and the text-to-image pipeline with classifier-free guidance.

pub mod pipeline;
pub mod sampler;
pub mod schedule;

pub use sampler::{Sampler, SamplerKind};
pub use schedule::Schedule;
