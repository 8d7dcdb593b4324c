//! `engine sample`: text to image with a Stable Diffusion 1.x model.

use std::path::PathBuf;

use crate::diffusion::pipeline::{text_to_image, Conditioning, Pipeline};
use crate::diffusion::{Sampler, SamplerKind};
use crate::error::{Error, Result};
use crate::imageio::{next_index, save_png, slug, writable_dir};
use crate::models::Model;
use crate::rng::Rng;

/// `engine sample`'s settings: its flags, and what the library's callers set.
#[derive(Clone, Debug, clap::Args)]
pub struct SampleArgs {
    /// A diffusers model folder or a single-file SD 1.x .safetensors checkpoint; `builtin:emoji`
    /// (a small model trained on emoji, 64 px) or `builtin:tiny` (random weights) need neither.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub prompt: String,
    /// What to steer away from (classifier-free guidance's unconditional prompt).
    #[arg(long, default_value = "")]
    pub negative_prompt: String,
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    #[arg(long, default_value_t = crate::diffusion::pipeline::DEFAULT_GUIDANCE_SCALE)]
    pub guidance_scale: f32,
    /// ddim, ddpm or euler-a.
    #[arg(long, default_value = "ddim")]
    pub sampler: String,
    /// DDIM's eta: 0 is deterministic given the initial noise.
    #[arg(long, default_value_t = 0.0)]
    pub eta: f64,
    /// Image i uses seed + i (default: from the clock, printed and written into the PNG).
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub num_images: usize,
    /// Pixels; a multiple of 8 (default: the model's sample size, 512 for SD 1.5).
    #[arg(long)]
    pub height: Option<usize>,
    #[arg(long)]
    pub width: Option<usize>,
    /// A LoRA adapter file to apply (diffusers/peft or kohya layout, as `engine train
    /// --lora-rank` writes them); repeat it to stack several.
    #[arg(long)]
    pub lora: Vec<PathBuf>,
    /// The adapters' strength: one value for all --lora files, or one per file (default 1).
    #[arg(long)]
    pub lora_scale: Vec<f32>,
    /// `no` (default), `fp16` or `bf16`: store the models' Linear and Conv2d weights in that
    /// dtype (half their bytes: SD 1.5's U-Net takes 1.7 GB instead of 3.4); arithmetic stays f32.
    #[arg(long, default_value = "no")]
    pub mixed_precision: String,
    /// Output directory (created if needed); files are numbered, never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    // Not a flag: the command line always shows progress bars.
    #[arg(skip = true)]
    pub progress: bool,
}

/// A seed from the clock, for `--seed` not given.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64 % 1_000_000_007)
}

/// Checks everything that needs no GPU: sizes, steps, sampler, the model's configs, the output
/// directory. Returns the model and the (height, width) to render.
pub fn validate(a: &SampleArgs) -> Result<(Model, usize, usize)> {
    let kind = SamplerKind::parse(&a.sampler)?;
    if a.steps == 0 {
        return Err(Error::invalid("sample", "--steps must be at least 1"));
    }
    if a.num_images == 0 {
        return Err(Error::invalid("sample", "--num-images must be at least 1"));
    }
    if !a.guidance_scale.is_finite() {
        return Err(Error::invalid("sample", format!("--guidance-scale {} must be a finite number", a.guidance_scale)));
    }
    if !a.eta.is_finite() || a.eta < 0.0 {
        return Err(Error::invalid("sample", format!("--eta {} must be finite and at least 0", a.eta)));
    }
    if kind != SamplerKind::Ddim && a.eta != 0.0 {
        return Err(Error::invalid("sample", "--eta applies to the ddim sampler only"));
    }
    for (name, v) in [("--height", a.height), ("--width", a.width)] {
        if let Some(v) = v {
            if v == 0 || !v.is_multiple_of(8) {
                return Err(Error::invalid("sample", format!("{name} {v} is not a positive multiple of 8")));
            }
        }
    }
    lora_files(a)?;
    let model = Model::open(&a.model)?;
    let unet = model.unet_config()?;
    let vae = model.vae_config()?;
    model.clip_config()?;
    let schedule = crate::diffusion::Schedule::of(&model)?;
    crate::diffusion::sampler::spaced_timesteps(&schedule, a.steps)?;
    let f = vae.downscale();
    let multiple = f << (unet.block_out_channels.len() - 1);
    let default = unet.sample_size.unwrap_or(64) * f;
    let (h, w) = (a.height.unwrap_or(default), a.width.unwrap_or(default));
    for (name, v) in [("height", h), ("width", w)] {
        if !v.is_multiple_of(multiple) {
            return Err(Error::invalid(
                "sample",
                format!(
                    "{name} {v} must be a multiple of {multiple} for this model (the VAE's factor {f} times {} for the U-Net's downsamplings)",
                    multiple / f
                ),
            ));
        }
    }
    let flags = match (a.height, a.width) {
        (None, None) => "the model's default size".to_string(),
        _ => format!("--height {h} --width {w}"),
    };
    crate::models::check_image_size(&vae, h, w, &flags)?;
    writable_dir(&a.out)?;
    Ok((model, h, w))
}

/// The --lora files with their scales, checked: every file exists, and --lora-scale gives one
/// value for all or one per file.
pub fn lora_files(a: &SampleArgs) -> Result<Vec<(PathBuf, f32)>> {
    let scales: Vec<f32> = match a.lora_scale.len() {
        0 => vec![1.0; a.lora.len()],
        1 => vec![a.lora_scale[0]; a.lora.len()],
        n if n == a.lora.len() => a.lora_scale.clone(),
        n => {
            return Err(Error::invalid(
                "sample",
                format!("{n} --lora-scale values for {} --lora files: give one for all, or one per file", a.lora.len()),
            ))
        }
    };
    if a.lora.is_empty() && !a.lora_scale.is_empty() {
        return Err(Error::invalid("sample", "--lora-scale needs a --lora file"));
    }
    if let Some(s) = scales.iter().find(|s| !s.is_finite()) {
        return Err(Error::invalid("sample", format!("--lora-scale {s} must be a finite number")));
    }
    for f in &a.lora {
        if !f.is_file() {
            return Err(Error::invalid("sample", format!("--lora {}: no such file", f.display())));
        }
    }
    Ok(a.lora.iter().cloned().zip(scales).collect())
}

/// Renders `num_images` images (image i with seed + i; no seed: one from the clock) and returns
/// their paths.
pub fn run(a: &SampleArgs) -> Result<Vec<PathBuf>> {
    let dtype = crate::tensor::DType::from_mixed_precision(&a.mixed_precision).ok_or_else(|| {
        Error::invalid("sample", format!("--mixed-precision `{}`: choose no, fp16 or bf16", a.mixed_precision))
    })?;
    let (model, h, w) = validate(a)?;
    let base = a.seed.unwrap_or_else(clock_seed);
    let kind = SamplerKind::parse(&a.sampler)?;
    let pipe = Pipeline::load_in(&model, &lora_files(a)?, dtype)?;
    let _g = crate::no_grad();
    let c = Conditioning::new(&pipe.clip, &pipe.tokenizer, &a.prompt, &a.negative_prompt, a.guidance_scale)?;
    if c.truncated {
        eprintln!("warning: the prompt is longer than {} tokens; the rest was cut", pipe.tokenizer.max_length - 2);
    }
    let sampler = Sampler::new(&pipe.schedule, kind, a.steps, a.eta)?;
    let sigma = sampler.init_noise_sigma(&pipe.schedule.config.timestep_spacing);
    let f = pipe.vae_scale();
    let latent_c = pipe.unet.config.in_channels;
    let mut paths = Vec::new();
    for i in 0..a.num_images {
        let seed = base.wrapping_add(i as u64);
        let mut rng = Rng::new(seed);
        let bar = crate::progress::bar(a.progress, a.steps as u64, &format!("image {}/{}", i + 1, a.num_images));
        let shape = [1, latent_c, h / f, w / f];
        let (ih, iw, px) = text_to_image(&pipe.unet, &pipe.vae, &sampler, &c, &shape, sigma, &mut rng, |_| {
            bar.inc(1);
            Ok(())
        })?;
        bar.finish_and_clear();
        let path = a.out.join(format!("{:05}-{seed}-{}.png", next_index(&a.out)?, slug(&a.prompt, 48)));
        save_png(&path, iw, ih, &px, &text_chunks(a, &model, seed, kind))?;
        paths.push(path);
    }
    Ok(paths)
}

fn text_chunks(a: &SampleArgs, model: &Model, seed: u64, kind: SamplerKind) -> Vec<(&'static str, String)> {
    vec![
        ("prompt", a.prompt.clone()),
        ("negative_prompt", a.negative_prompt.clone()),
        ("seed", seed.to_string()),
        ("steps", a.steps.to_string()),
        ("guidance_scale", a.guidance_scale.to_string()),
        ("sampler", kind.name().to_string()),
        ("eta", a.eta.to_string()),
        ("model", model.label()),
        ("lora", a.lora.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")),
        ("mixed_precision", a.mixed_precision.clone()),
        ("Software", format!("engine {}", env!("CARGO_PKG_VERSION"))),
    ]
}
