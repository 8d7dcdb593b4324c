//! What the DreamBooth paper measures, in small (issue 16): **subject fidelity**, how close the
//! samples of the instance prompt come to the instance images, and **prior preservation**, how
//! far the samples of the class prompt move from the base model's. The paper uses DINO and CLIP
//! features; here the feature space is one that needs no download and does not change with
//! training: pixels after a blur — each image (a sample decoded by the frozen VAE, or a photo
//! center-cropped to the run's size) averaged over 8x8-pixel blocks, RGB in [0, 1]. That keeps
//! colour and layout (what a 64-pixel model can learn of a subject) and drops texture. Latents
//! were tried first and mislead: a fine-tuned model sampled with guidance makes latents of
//! larger magnitude, which the VAE clamps away in pixels but which dominate a latent distance.
//! Distances are mean squared differences per feature.

use std::path::PathBuf;

use image::DynamicImage;

use crate::diffusion::pipeline::{decode_images, denoise, initial_latents, Conditioning, Pipeline};
use crate::diffusion::{Sampler, SamplerKind};
use crate::error::Result;
use crate::ops::copy::cat;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// How samples are drawn for a measurement: DDIM with `steps` steps at `guidance`, seeds
/// `seed`, `seed + 1`, … (the same for every model and prompt, so samples pair up by seed).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub samples: usize,
    pub steps: usize,
    pub guidance: f32,
    pub seed: u64,
}

impl Default for Probe {
    fn default() -> Self {
        Probe { samples: 4, steps: 20, guidance: 3.0, seed: 1000 }
    }
}

/// The final latents of `prompt` sampled with `pipe` at `res` pixels, one per seed, as one
/// batch [samples, C, h, w]: each seed's initial noise is drawn as it would be alone (DDIM with
/// η = 0 draws nothing after it), and the whole probe goes through the U-Net together, which on
/// a small model costs little more than one sample (fewer, larger dispatches).
fn sample_batch(pipe: &Pipeline, prompt: &str, res: usize, probe: &Probe) -> Result<Tensor> {
    let _g = crate::autograd::no_grad();
    let sampler = Sampler::new(&pipe.schedule, SamplerKind::Ddim, probe.steps, 0.0)?;
    let c = Conditioning::new(&pipe.clip, &pipe.tokenizer, prompt, "", probe.guidance)?;
    let sigma = sampler.init_noise_sigma(&pipe.schedule.config.timestep_spacing);
    let lat = res / pipe.vae_scale();
    let shape = [1, pipe.unet.config.in_channels, lat, lat];
    let n = probe.samples.max(1);
    let noise = (0..n)
        .map(|i| initial_latents(&mut Rng::new(probe.seed + i as u64), &shape, sigma))
        .collect::<Result<Vec<_>>>()?;
    let x0 = cat(&noise.iter().collect::<Vec<_>>(), 0)?;
    let repeat = |t: &Tensor| cat(&vec![t; n], 0);
    let cond = repeat(&c.cond)?;
    let uncond = c.uncond.as_ref().map(repeat).transpose()?;
    let mut unused = Rng::new(0);
    denoise(&pipe.unet, &sampler, x0, &cond, uncond.as_ref(), c.guidance, &mut unused, |_| Ok(()))
}

/// Final latents of `prompt` sampled with `pipe` at `res` pixels, one per seed.
pub fn sample_latents(pipe: &Pipeline, prompt: &str, res: usize, probe: &Probe) -> Result<Vec<Vec<f32>>> {
    let x = sample_batch(pipe, prompt, res, probe)?;
    let per = x.numel() / x.dim(0);
    Ok(x.to_vec()?.chunks(per).map(<[f32]>::to_vec).collect())
}

/// The side of the blur's blocks, in pixels.
pub const BLUR: usize = 8;

/// An RGB image, row-major [H, W, 3] in [0, 1], averaged over BLUR x BLUR blocks: [H/B, W/B, 3].
fn blur(h: usize, w: usize, rgb: &[f32]) -> Vec<f32> {
    let (bh, bw) = (h / BLUR, w / BLUR);
    let mut out = vec![0f32; bh * bw * 3];
    for y in 0..bh * BLUR {
        for x in 0..bw * BLUR {
            for c in 0..3 {
                out[((y / BLUR) * bw + x / BLUR) * 3 + c] += rgb[(y * w + x) * 3 + c] / (BLUR * BLUR) as f32;
            }
        }
    }
    out
}

/// Samples of `prompt` (the same seeds as [`sample_latents`]) decoded by the frozen VAE, the
/// pixels blurred.
pub fn sample_features(pipe: &Pipeline, prompt: &str, res: usize, probe: &Probe) -> Result<Vec<Vec<f32>>> {
    let x = sample_batch(pipe, prompt, res, probe)?;
    let _g = crate::autograd::no_grad();
    Ok(decode_images(&pipe.vae, &x)?
        .into_iter()
        .map(|(h, w, px)| blur(h, w, &px.iter().map(|&v| v as f32 / 255.0).collect::<Vec<_>>()))
        .collect())
}

/// The images center-cropped to `res` pixels and blurred.
pub fn image_features(images: &[(PathBuf, DynamicImage)], res: usize) -> Vec<Vec<f32>> {
    let mut unused = Rng::new(0);
    images
        .iter()
        .map(|(_, img)| {
            // [3, R, R] in [-1, 1] -> [R, R, 3] in [0, 1].
            let px = super::data::prepare(img, res, true, &mut unused);
            let hwc: Vec<f32> =
                (0..res * res * 3).map(|i| (px[(i % 3) * res * res + i / 3] / 2.0 + 0.5).clamp(0.0, 1.0)).collect();
            blur(res, res, &hwc)
        })
        .collect()
}

/// The instance images' latent means (center crops at `res` pixels), scaled as the U-Net sees
/// them (the tiny model's tests measure in latents: its random VAE has no meaningful pixels).
pub fn image_latents(pipe: &Pipeline, images: &[(PathBuf, DynamicImage)], res: usize) -> Result<Vec<Vec<f32>>> {
    let _g = crate::autograd::no_grad();
    let mut unused = Rng::new(0);
    let sf = pipe.vae.config.scaling_factor as f32;
    images
        .iter()
        .map(|(_, img)| {
            let px = super::data::prepare(img, res, true, &mut unused);
            let d = pipe.vae.encode(&Tensor::from_slice(&px, &[1, 3, res, res])?)?;
            Ok(d.mean.to_vec()?.iter().map(|v| v * sf).collect())
        })
        .collect()
}

fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len().max(1) as f64
}

/// Mean over `samples` of the distance to the nearest of `targets` (lower: closer to the
/// subject).
pub fn nearest_distance(samples: &[Vec<f32>], targets: &[Vec<f32>]) -> f64 {
    samples.iter().map(|s| targets.iter().map(|t| mse(s, t)).fold(f64::MAX, f64::min)).sum::<f64>()
        / samples.len().max(1) as f64
}

/// Mean distance between samples of the same seed (how far one model's samples moved from
/// another's).
pub fn paired_distance(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| mse(x, y)).sum::<f64>() / a.len().min(b.len()).max(1) as f64
}

/// The measurements of one DreamBooth run against its base model.
#[derive(Clone, Copy, Debug)]
pub struct Measures {
    /// Instance-prompt samples to the nearest instance image, base model.
    pub subject_before: f64,
    /// The same, trained model (fidelity: lower is closer to the subject).
    pub subject_after: f64,
    /// Class-prompt samples of the trained model to the base model's of the same seeds (prior
    /// preservation: lower is better kept).
    pub class_drift: f64,
    /// Class-prompt samples of the trained model to the nearest instance image (how much the
    /// class has turned into the subject; the base model's is `class_to_subject_before`).
    pub class_to_subject_after: f64,
    pub class_to_subject_before: f64,
}

/// The base model's side of the measurements: the instance images' features and the base
/// model's samples of both prompts (identifiers already in place), shared by every run trained
/// from it with the same prompts.
pub struct Baseline {
    instance_prompt: String,
    class_prompt: String,
    res: usize,
    probe: Probe,
    targets: Vec<Vec<f32>>,
    instance: Vec<Vec<f32>>,
    class: Vec<Vec<f32>>,
}

/// Samples `instance_prompt` and `class_prompt` from `base` as `probe` says, and takes the
/// instance `images`' features, in blurred pixels.
pub fn baseline(
    base: &Pipeline,
    images: &[(PathBuf, DynamicImage)],
    instance_prompt: &str,
    class_prompt: &str,
    res: usize,
    probe: &Probe,
) -> Result<Baseline> {
    Ok(Baseline {
        instance_prompt: instance_prompt.to_string(),
        class_prompt: class_prompt.to_string(),
        res,
        probe: *probe,
        targets: image_features(images, res),
        instance: sample_features(base, instance_prompt, res, probe)?,
        class: sample_features(base, class_prompt, res, probe)?,
    })
}

/// Samples the baseline's prompts from `trained` (at its size, with its probe) and measures them
/// against it.
pub fn measure(before: &Baseline, trained: &Pipeline) -> Result<Measures> {
    let (res, probe) = (before.res, &before.probe);
    let inst_a = sample_features(trained, &before.instance_prompt, res, probe)?;
    let class_a = sample_features(trained, &before.class_prompt, res, probe)?;
    Ok(Measures {
        subject_before: nearest_distance(&before.instance, &before.targets),
        subject_after: nearest_distance(&inst_a, &before.targets),
        class_drift: paired_distance(&class_a, &before.class),
        class_to_subject_after: nearest_distance(&class_a, &before.targets),
        class_to_subject_before: nearest_distance(&before.class, &before.targets),
    })
}
