//! The forward (noising) process of DDPM (Ho et al. 2020): betas, ᾱ_t = Π(1 - β), and
//! q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I), from a model folder's `scheduler_config.json`.

use crate::error::{Error, Result};
use crate::models::Model;
use crate::tensor::Tensor;

pub use crate::models::config::ScheduleConfig;

pub struct Schedule {
    pub config: ScheduleConfig,
    /// ᾱ_t for t in 0..T, in f32 as torch computes them (betas in f32, cumprod in f32).
    pub alphas_cumprod: Vec<f32>,
}

impl Schedule {
    /// The schedule of `model`: its scheduler config (the folder's `scheduler_config.json`, or
    /// SD 1.5's / the built-in model's from weights.toml); errors name where the config came from.
    pub fn of(model: &Model) -> Result<Schedule> {
        let (config, source) = model.schedule_config()?;
        Schedule::new(config).map_err(|e| Error::invalid("scheduler", format!("{source}: {e}")))
    }

    pub fn new(config: ScheduleConfig) -> Result<Schedule> {
        let t = config.num_train_timesteps;
        if t == 0 {
            return Err(Error::invalid("scheduler", "num_train_timesteps is 0"));
        }
        if config.prediction_type != "epsilon" {
            return Err(Error::invalid(
                "scheduler",
                format!("prediction_type `{}` is not supported yet; the engine trains and samples epsilon-prediction models (SD 1.x)", config.prediction_type),
            ));
        }
        // torch.linspace in float32: start + i * step, the second half computed from the end.
        let linspace = |a: f32, b: f32| -> Vec<f32> {
            let step = if t > 1 { (b - a) / (t - 1) as f32 } else { 0.0 };
            (0..t).map(|i| if i < t / 2 { a + step * i as f32 } else { b - step * (t - 1 - i) as f32 }).collect()
        };
        let betas: Vec<f32> = match (config.trained_betas.as_ref(), config.beta_schedule.as_str()) {
            (Some(b), _) => b.iter().map(|&x| x as f32).collect(),
            (None, "linear") => linspace(config.beta_start as f32, config.beta_end as f32),
            (None, "scaled_linear") => linspace((config.beta_start as f32).sqrt(), (config.beta_end as f32).sqrt())
                .into_iter()
                .map(|x| x * x)
                .collect(),
            (None, other) => {
                return Err(Error::invalid(
                    "scheduler",
                    format!("beta_schedule `{other}` is not supported; linear and scaled_linear are"),
                ))
            }
        };
        let mut acc = 1f32;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Ok(Schedule { config, alphas_cumprod })
    }

    fn check_t(&self, t: usize) -> Result<f32> {
        self.alphas_cumprod.get(t).copied().ok_or_else(|| {
            Error::invalid("scheduler", format!("timestep {t} is outside 0..{}", self.alphas_cumprod.len()))
        })
    }

    /// sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise, with one timestep per sample (diffusers `add_noise`).
    pub fn add_noise(&self, x0: &Tensor, noise: &Tensor, timesteps: &[usize]) -> Result<Tensor> {
        let b = x0.dim(0);
        if timesteps.len() != b || x0.shape() != noise.shape() {
            return Err(Error::shape_hint(
                "add_noise",
                x0.shape(),
                noise.shape(),
                "one timestep per sample, same shapes",
            ));
        }
        let mut shape = vec![1; x0.rank()];
        shape[0] = b;
        let (mut a, mut s) = (Vec::new(), Vec::new());
        for &t in timesteps {
            let acp = self.check_t(t)?;
            a.push(acp.sqrt());
            s.push((1.0 - acp).sqrt());
        }
        let a = Tensor::from_slice(&a, &shape)?;
        let s = Tensor::from_slice(&s, &shape)?;
        x0.mul(&a)?.add(&noise.mul(&s)?)
    }
}
