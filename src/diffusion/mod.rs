//! Diffusion: the DDPM noise schedule (Ho et al. 2020) as diffusers' schedulers compute it.

pub mod schedule;

pub use schedule::Schedule;
