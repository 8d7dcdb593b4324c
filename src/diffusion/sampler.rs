//! Samplers of the reverse process, each as diffusers computes it:
//! DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models"; eta 0 deterministic, eta > 0
//! stochastic), DDPM ancestral sampling (Ho et al. 2020, "fixed_small" variance), and Euler
//! ancestral (Karras et al. 2022's sigma parameterisation, k-diffusion's ancestral step).
//! Timestep spacing (`leading`, `trailing`, `linspace`) and `steps_offset` come from the
//! scheduler config, as in diffusers.

use crate::diffusion::Schedule;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerKind {
    Ddim,
    Ddpm,
    EulerAncestral,
}

impl SamplerKind {
    pub fn parse(s: &str) -> Result<SamplerKind> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "ddim" => Ok(SamplerKind::Ddim),
            "ddpm" => Ok(SamplerKind::Ddpm),
            "euler-a" | "euler-ancestral" | "euler-ancestral-discrete" => Ok(SamplerKind::EulerAncestral),
            other => Err(Error::invalid("sampler", format!("unknown sampler `{other}`; choose ddim, ddpm or euler-a"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Ddim => "ddim",
            SamplerKind::Ddpm => "ddpm",
            SamplerKind::EulerAncestral => "euler-a",
        }
    }
}

/// The inference timesteps, as diffusers' `set_timesteps` spaces them (descending).
pub fn spaced_timesteps(schedule: &Schedule, steps: usize) -> Result<Vec<usize>> {
    let c = &schedule.config;
    let t = c.num_train_timesteps;
    if steps == 0 || steps > t {
        return Err(Error::invalid("sampler", format!("steps must be between 1 and {t}, got {steps}")));
    }
    let ts: Vec<usize> = match c.timestep_spacing.as_str() {
        "leading" => {
            let ratio = t / steps;
            (0..steps).rev().map(|i| i * ratio + c.steps_offset).collect()
        }
        "trailing" => {
            let ratio = t as f64 / steps as f64;
            let mut v = Vec::new();
            let mut x = t as f64;
            while x > 0.0 {
                v.push(x.round_ties_even() as usize - 1);
                x -= ratio;
            }
            v.truncate(steps);
            v
        }
        "linspace" => {
            if steps == 1 {
                vec![0]
            } else {
                (0..steps)
                    .rev()
                    .map(|i| ((t - 1) as f64 * i as f64 / (steps - 1) as f64).round_ties_even() as usize)
                    .collect()
            }
        }
        other => {
            return Err(Error::invalid(
                "scheduler",
                format!("timestep_spacing `{other}` is not supported; leading, trailing and linspace are"),
            ))
        }
    };
    if let Some(&bad) = ts.iter().find(|&&x| x >= t) {
        return Err(Error::invalid(
            "scheduler",
            format!("timestep {bad} (steps_offset {}) is outside 0..{t}", c.steps_offset),
        ));
    }
    Ok(ts)
}

pub struct Sampler {
    pub kind: SamplerKind,
    pub eta: f64,
    pub timesteps: Vec<usize>,
    acp: Vec<f32>,
    /// ᾱ used after the last step (DDIM's `final_alpha_cumprod`).
    final_acp: f32,
    /// Euler: σ at each timestep, then 0.
    sigmas: Vec<f32>,
    ratio: usize,
    clip: Option<f32>,
}

impl Sampler {
    pub fn new(schedule: &Schedule, kind: SamplerKind, steps: usize, eta: f64) -> Result<Sampler> {
        let timesteps = spaced_timesteps(schedule, steps)?;
        let acp = schedule.alphas_cumprod.clone();
        let c = &schedule.config;
        if c.thresholding {
            return Err(Error::invalid("scheduler", "dynamic thresholding is not supported (SD 1.x does not use it)"));
        }
        let final_acp = if c.set_alpha_to_one { 1.0 } else { acp[0] };
        let sigmas = timesteps.iter().map(|&t| ((1.0 - acp[t]) / acp[t]).sqrt()).chain(std::iter::once(0.0)).collect();
        if eta < 0.0 {
            return Err(Error::invalid("sampler", format!("eta must be at least 0, got {eta}")));
        }
        Ok(Sampler {
            kind,
            eta,
            ratio: c.num_train_timesteps / steps,
            timesteps,
            acp,
            final_acp,
            sigmas,
            clip: if c.clip_sample { Some(c.clip_sample_range as f32) } else { None },
        })
    }

    /// Initial noise is N(0, 1) times this.
    pub fn init_noise_sigma(&self, spacing: &str) -> f32 {
        match self.kind {
            SamplerKind::EulerAncestral => {
                let max = self.sigmas.iter().fold(0f32, |m, &s| m.max(s));
                if spacing == "linspace" || spacing == "trailing" {
                    max
                } else {
                    (max * max + 1.0).sqrt()
                }
            }
            _ => 1.0,
        }
    }

    /// What the U-Net sees at step i: the sample itself, or for Euler x / sqrt(σ² + 1).
    pub fn scale_model_input(&self, x: &Tensor, i: usize) -> Result<Tensor> {
        match self.kind {
            SamplerKind::EulerAncestral => {
                let s = self.sigmas[i];
                x.scale(1.0 / (s * s + 1.0).sqrt())
            }
            _ => Ok(x.clone()),
        }
    }

    fn prev_acp(&self, t: usize) -> f32 {
        if t >= self.ratio {
            self.acp[t - self.ratio]
        } else {
            self.final_acp
        }
    }

    /// x0 = (x - sqrt(1 - ᾱ) ε) / sqrt(ᾱ), clipped where the config asks.
    fn pred_x0(&self, x: &Tensor, eps: &Tensor, acp_t: f64) -> Result<Tensor> {
        let x0 =
            x.scale((1.0 / acp_t.sqrt()) as f32)?.sub(&eps.scale(((1.0 - acp_t).sqrt() / acp_t.sqrt()) as f32)?)?;
        match self.clip {
            Some(r) => clamp(&x0, r),
            None => Ok(x0),
        }
    }

    /// One step from timestep index i: x_t and the model's ε -> x at the next timestep, with
    /// fresh N(0, 1) noise from `rng` where the sampler is stochastic.
    pub fn step(&self, eps: &Tensor, i: usize, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        self.step_with_noise(eps, i, x, &mut |shape: &[usize]| {
            Tensor::from_slice(&rng.normal(shape.iter().product()), shape)
        })
    }

    /// [`Sampler::step`] with the noise supplied (parity checks inject diffusers' noise).
    pub fn step_with_noise(
        &self,
        eps: &Tensor,
        i: usize,
        x: &Tensor,
        noise: &mut dyn FnMut(&[usize]) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let t = self.timesteps[i];
        match self.kind {
            SamplerKind::Ddim => {
                let a_t = self.acp[t] as f64;
                let a_prev = self.prev_acp(t) as f64;
                let variance = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev);
                let std = self.eta * variance.sqrt();
                let dir = (1.0 - a_prev - std * std).max(0.0).sqrt();
                let prev = if self.clip.is_none() {
                    // prev = sqrt(ᾱ_prev) x0 + dir ε, with x0 folded in: one scale and one axpy.
                    let a = a_prev.sqrt() / a_t.sqrt();
                    let b = dir - a_prev.sqrt() * (1.0 - a_t).sqrt() / a_t.sqrt();
                    x.scale(a as f32)?.add(&eps.scale(b as f32)?)?
                } else {
                    self.pred_x0(x, eps, a_t)?.scale(a_prev.sqrt() as f32)?.add(&eps.scale(dir as f32)?)?
                };
                if self.eta > 0.0 {
                    let n = noise(x.shape())?;
                    prev.add(&n.scale(std as f32)?)
                } else {
                    Ok(prev)
                }
            }
            SamplerKind::Ddpm => {
                let a_t = self.acp[t] as f64;
                let a_prev = if t >= self.ratio { self.acp[t - self.ratio] as f64 } else { 1.0 };
                let (b_t, b_prev) = (1.0 - a_t, 1.0 - a_prev);
                let cur_alpha = a_t / a_prev;
                let cur_beta = 1.0 - cur_alpha;
                let x0 = self.pred_x0(x, eps, a_t)?;
                let c0 = a_prev.sqrt() * cur_beta / b_t;
                let ct = cur_alpha.sqrt() * b_prev / b_t;
                let mean = x0.scale(c0 as f32)?.add(&x.scale(ct as f32)?)?;
                if t > 0 {
                    let var = (b_prev / b_t * cur_beta).max(1e-20);
                    let n = noise(x.shape())?;
                    mean.add(&n.scale(var.sqrt() as f32)?)
                } else {
                    Ok(mean)
                }
            }
            SamplerKind::EulerAncestral => {
                let (from, to) = (self.sigmas[i] as f64, self.sigmas[i + 1] as f64);
                let up = (to * to * (from * from - to * to) / (from * from)).max(0.0).sqrt();
                let down = (to * to - up * up).max(0.0).sqrt();
                // x0 = x - σ ε; derivative (x - x0)/σ = ε; x' = x + ε (σ_down - σ) + σ_up n.
                let prev = x.add(&eps.scale((down - from) as f32)?)?;
                let n = noise(x.shape())?;
                prev.add(&n.scale(up as f32)?)
            }
        }
    }
}

/// clamp(x, -r, r) from relu and affine: r - relu(r - (relu(x + r) - r)).
fn clamp(x: &Tensor, r: f32) -> Result<Tensor> {
    let lo = x.affine(1.0, r)?.relu()?.affine(1.0, -r)?;
    lo.affine(-1.0, r)?.relu()?.affine(-1.0, r)
}
