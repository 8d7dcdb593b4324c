//! Text to image: prompts through the tokenizer and text encoder, the sampler's loop over the
//! U-Net with classifier-free guidance (Ho & Salimans 2022) — conditional and unconditional
//! halves in one batched U-Net call — and the VAE decoder back to pixels.

use crate::diffusion::{Sampler, Schedule};
use crate::error::{Error, Result};
use crate::models::{AutoencoderKL, ClipTextModel, ClipTokenizer, UNet2DConditionModel};
use crate::ops::copy::cat;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Text embeddings [B, 77, D] of `prompts`, and for each whether it was cut to fit.
pub fn encode_prompts(clip: &ClipTextModel, tok: &ClipTokenizer, prompts: &[String]) -> Result<(Tensor, Vec<bool>)> {
    let mut ids = Vec::new();
    let mut cut = Vec::new();
    for p in prompts {
        let e = tok.encode(p)?;
        ids.push(e.ids);
        cut.push(e.truncated);
    }
    Ok((clip.forward(&ids)?, cut))
}

/// Classifier-free guidance's default scale (diffusers' `StableDiffusionPipeline`): what class
/// images and validation samples use, as diffusers' DreamBooth script does, and `engine sample`'s default.
pub const DEFAULT_GUIDANCE_SCALE: f32 = 7.5;

/// What one prompt conditions on: its embedding, and the negative prompt's where guidance
/// applies (a scale other than 1).
pub struct Conditioning {
    pub cond: Tensor,
    pub uncond: Option<Tensor>,
    pub guidance: f32,
    /// Whether the prompt was cut to fit the text encoder's positions.
    pub truncated: bool,
}

impl Conditioning {
    pub fn new(clip: &ClipTextModel, tok: &ClipTokenizer, prompt: &str, negative: &str, guidance: f32) -> Result<Self> {
        let (cond, cut) = encode_prompts(clip, tok, &[prompt.to_string()])?;
        let uncond = if guidance != 1.0 { Some(encode_prompts(clip, tok, &[negative.to_string()])?.0) } else { None };
        Ok(Conditioning { cond, uncond, guidance, truncated: cut[0] })
    }
}

/// One image, the loop that `engine sample`, class-image generation and validation share: noise
/// of `latent_shape` from `rng` (times `sigma`, the sampler's initial noise scale), the sampler's
/// guided loop, the VAE decoder. Returns (height, width, RGB pixels).
#[allow(clippy::too_many_arguments)]
pub fn text_to_image(
    unet: &UNet2DConditionModel,
    vae: &AutoencoderKL,
    sampler: &Sampler,
    c: &Conditioning,
    latent_shape: &[usize],
    sigma: f32,
    rng: &mut Rng,
    on_step: impl FnMut(usize) -> Result<()>,
) -> Result<(usize, usize, Vec<u8>)> {
    let x0 = initial_latents(rng, latent_shape, sigma)?;
    let x = denoise(unet, sampler, x0, &c.cond, c.uncond.as_ref(), c.guidance, rng, on_step)?;
    Ok(decode_images(vae, &x)?.remove(0))
}

/// ε from the U-Net at step i, guided: ε_u + g (ε_c - ε_u) with `uncond` given and g ≠ 1.
pub fn guided_eps(
    unet: &UNet2DConditionModel,
    x_in: &Tensor,
    t: usize,
    cond: &Tensor,
    uncond: Option<&Tensor>,
    guidance: f32,
) -> Result<Tensor> {
    let b = x_in.dim(0);
    match uncond {
        Some(u) if guidance != 1.0 => {
            let x2 = cat(&[x_in, x_in], 0)?;
            let ctx = cat(&[u, cond], 0)?;
            let ts = Tensor::from_slice(&vec![t as f32; 2 * b], &[2 * b])?;
            let e = unet.forward(&x2, &ts, &ctx)?;
            let (eu, ec) = (e.narrow0(0, b)?, e.narrow0(b, b)?);
            eu.add(&ec.sub(&eu)?.scale(guidance)?)
        }
        _ => unet.forward(x_in, &Tensor::from_slice(&vec![t as f32; b], &[b])?, cond),
    }
}

/// The sampler's loop from `latents` (already scaled by the initial noise sigma) to x_0.
/// `on_step(i)` is called after each step (progress bars). Each step's latent sum goes into a
/// slot of a small GPU tensor that is read once at the end: latents that became NaN or Inf are
/// an error naming the first such step, without a readback per step.
#[allow(clippy::too_many_arguments)]
pub fn denoise(
    unet: &UNet2DConditionModel,
    sampler: &Sampler,
    latents: Tensor,
    cond: &Tensor,
    uncond: Option<&Tensor>,
    guidance: f32,
    rng: &mut Rng,
    mut on_step: impl FnMut(usize) -> Result<()>,
) -> Result<Tensor> {
    let mut x = latents;
    let steps = sampler.timesteps.len();
    let sums = Tensor::zeros(&[steps.max(1)])?;
    for (i, &t) in sampler.timesteps.iter().enumerate() {
        let x_in = sampler.scale_model_input(&x, i)?;
        let eps = guided_eps(unet, &x_in, t, cond, uncond, guidance)?;
        x = sampler.step(&eps, i, &x, rng)?;
        crate::ops::reduce::reduce_into(&x.reshape(&[x.numel()])?, 1, x.numel(), 1, 1.0, false, &sums, i)?;
        on_step(i)?;
    }
    if let Some(i) = sums.to_vec()?.iter().take(steps).position(|s| !s.is_finite()) {
        return Err(Error::invalid(
            "sample",
            format!(
                "the latents became non-finite (NaN or Inf) at step {} of {steps} (timestep {}); nothing was written. With finite weights this comes from the guidance scale ({guidance}) or the sampler settings",
                i + 1,
                sampler.timesteps[i]
            ),
        ));
    }
    Ok(x)
}

/// Initial latents: N(0, 1) noise from `rng` times the sampler's initial sigma.
pub fn initial_latents(rng: &mut Rng, shape: &[usize], sigma: f32) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut v = rng.normal(n);
    if sigma != 1.0 {
        v.iter_mut().for_each(|x| *x *= sigma);
    }
    Tensor::from_slice(&v, shape)
}

/// Latents (scaled, as the U-Net sees them) -> 8-bit RGB images, row-major [H, W, 3] each.
pub fn decode_images(vae: &AutoencoderKL, latents: &Tensor) -> Result<Vec<(usize, usize, Vec<u8>)>> {
    let z = latents.scale(1.0 / vae.config.scaling_factor as f32)?;
    let img = vae.decode(&z)?;
    let (b, c, h, w) = (img.dim(0), img.dim(1), img.dim(2), img.dim(3));
    if c != 3 {
        return Err(Error::invalid("decode", format!("the VAE makes {c}-channel images; RGB needs 3")));
    }
    let v = img.to_vec()?;
    let mut out = Vec::new();
    for i in 0..b {
        let mut px = vec![0u8; h * w * 3];
        for ch in 0..3 {
            for p in 0..h * w {
                // diffusers: (x / 2 + 0.5).clamp(0, 1), then round(x * 255).
                let x = (v[(i * 3 + ch) * h * w + p] / 2.0 + 0.5).clamp(0.0, 1.0);
                px[p * 3 + ch] = (x * 255.0).round() as u8;
            }
        }
        out.push((h, w, px));
    }
    Ok(out)
}

/// Everything one text-to-image run needs, loaded once.
pub struct Pipeline {
    pub unet: UNet2DConditionModel,
    pub vae: AutoencoderKL,
    pub clip: ClipTextModel,
    pub tokenizer: ClipTokenizer,
    pub schedule: Schedule,
}

impl Pipeline {
    pub fn load(model: &crate::models::Model) -> Result<Pipeline> {
        Self::load_with_lora(model, &[])
    }

    /// The pipeline with LoRA adapter files merged into the U-Net's and text encoder's weights as
    /// they load (file, scale): in either layout (diffusers/peft or kohya), stacked in order.
    pub fn load_with_lora(model: &crate::models::Model, lora: &[(std::path::PathBuf, f32)]) -> Result<Pipeline> {
        Self::load_in(model, lora, crate::tensor::DType::F32)
    }

    /// [`Pipeline::load_with_lora`] with every Linear/Conv2d weight stored as `dtype` (`engine
    /// sample --mixed-precision`: half the bytes of the weights; arithmetic stays f32). Adapters
    /// are merged in f32 before the weights are rounded.
    pub fn load_in(
        model: &crate::models::Model,
        lora: &[(std::path::PathBuf, f32)],
        dtype: crate::tensor::DType,
    ) -> Result<Pipeline> {
        use crate::models::lora::{check_all_used, merges};
        use crate::models::Adapt;
        let (unet_m, te_m) = merges(lora)?;
        let adapt =
            |m: &std::rc::Rc<crate::nn::LoraMerges>| Adapt { lora: None, merges: Some(m.clone()), frozen_dtype: dtype };
        let (unet, _) = model.unet_adapted(false, &adapt(&unet_m))?;
        let (clip, _) = model.text_encoder_adapted(false, &adapt(&te_m))?;
        check_all_used(&unet_m, "U-Net")?;
        check_all_used(&te_m, "text encoder")?;
        Ok(Pipeline {
            unet,
            vae: model.vae_in(dtype)?.0,
            clip,
            tokenizer: model.tokenizer()?,
            schedule: crate::diffusion::Schedule::of(model)?,
        })
    }

    /// Pixels per latent along a side (8 for SD).
    pub fn vae_scale(&self) -> usize {
        self.vae.config.downscale()
    }
}
