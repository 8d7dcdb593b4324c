//! DreamBooth (Ruiz et al. 2022, "DreamBooth: Fine Tuning Text-to-Image Diffusion Models for
//! Subject-Driven Generation"): a rare-token identifier bound to the subject by fine-tuning on
//! 3-5 photos, with the autogenous class-specific prior-preservation loss — class images made by
//! the frozen model itself, and loss = MSE(instance half) + λ · MSE(class half) on the ε target.

pub mod args;
pub mod checkpoint;
pub mod data;
pub mod export;
pub mod measure;
pub mod plot;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::diffusion::pipeline::{text_to_image, Conditioning, DEFAULT_GUIDANCE_SCALE};
use crate::diffusion::{Sampler, SamplerKind, Schedule};
use crate::error::{Error, Result};
use crate::imageio::{save_png, writable_dir};
use crate::models::config::{UNetConfig, VaeConfig};
use crate::models::{Adapt, AutoencoderKL, ClipTextModel, ClipTokenizer, Model, UNet2DConditionModel};
use crate::nn::{Loader, LoraSpec};
use crate::ops::copy::cat;
use crate::ops::loss::mse_loss;
use crate::optim::{AdamW, GradClip, GradScaler};
use crate::rng::Rng;
use crate::tensor::Tensor;
pub use args::{TrainConfig, TrainOptions};

/// Salts that give each use of randomness its own stream, so that e.g. class-image generation
/// never shifts the training noise.
const SALT_CROP: u64 = 0xC809;
const SALT_CLASS: u64 = 0xC1A5;
const SALT_ORDER: u64 = 0x0DE5;
const SALT_VALID: u64 = 0x5A1D;
const SALT_IDENT: u64 = 0x1DE7;
const SALT_LORA: u64 = 0x10FA;
const SALT_DROPOUT: u64 = 0xD809;

/// `--identifier auto`, the paper's rare-token rule adapted to CLIP's BPE vocabulary: among the
/// vocabulary's whole-word tokens (`…</w>`) of one to three lower-case ASCII letters that
/// tokenize back to exactly that one token, take those in the rarest part of the vocabulary
/// (ids ≥ 40000: BPE merges are ordered by frequency, so late ids are rare words; `sks` is
/// 48136), sort them by id, and pick one with the seed.
pub fn auto_identifier(tok: &ClipTokenizer, seed: u64) -> Result<String> {
    let mut cands: Vec<(u32, String)> = tok
        .vocab()
        .into_iter()
        .filter(|(_, id)| *id >= 40000)
        .filter_map(|(t, id)| {
            let stem = t.strip_suffix("</w>")?.to_string();
            let ok = (1..=3).contains(&stem.len()) && stem.bytes().all(|b| b.is_ascii_lowercase());
            ok.then_some((id, stem))
        })
        .collect();
    cands.sort();
    cands.retain(|(id, stem)| tok.pieces(stem).map(|p| p == [*id]).unwrap_or(false));
    if cands.is_empty() {
        return Err(Error::invalid("train", "the vocabulary has no rare 1-3 letter token; give --identifier"));
    }
    let i = Rng::new(seed ^ SALT_IDENT).below(cands.len());
    Ok(cands[i].1.clone())
}

/// The rare tokens a prompt holds: its words that are one token of the vocabulary's rare part
/// (the ids `auto_identifier` draws from), with their ids.
pub fn rare_tokens(tok: &ClipTokenizer, prompt: &str) -> Result<Vec<(String, u32)>> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for word in prompt.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let w = word.to_lowercase();
        if let [id] = tok.pieces(&w)?[..] {
            if id >= 40000 && !out.iter().any(|(x, _)| *x == w) {
                out.push((w, id));
            }
        }
    }
    Ok(out)
}

/// The identifier `[V]` stands for, and what the user is told about it. A prompt without `[V]`
/// (diffusers' convention: "a photo of sks dog") is used as written; then the identifier is the
/// rare token it holds, and the user is warned when it holds none.
fn choose_identifier(cfg: &TrainConfig, tok: &ClipTokenizer) -> Result<String> {
    let chosen = || -> Result<String> {
        let id = if cfg.identifier == "auto" { auto_identifier(tok, cfg.seed)? } else { cfg.identifier.clone() };
        if tok.pieces(&id)?.len() != 1 {
            eprintln!("warning: the identifier `{id}` is more than one token; a rare single token binds better");
        }
        Ok(id)
    };
    if cfg.instance_prompt.contains("[V]") {
        let id = chosen()?;
        let how = if cfg.identifier == "auto" { " (chosen by --identifier auto with the seed)" } else { "" };
        eprintln!("identifier: `{id}`{how}; instance prompt: \"{}\"", replace_identifier(&cfg.instance_prompt, &id));
        return Ok(id);
    }
    let rare = rare_tokens(tok, &cfg.instance_prompt)?;
    let uses_v = cfg.validation_prompts().iter().any(|p| p.contains("[V]"));
    if let Some((word, id)) = rare.first() {
        eprintln!(
            "the instance prompt has no [V] and is used as written: \"{}\"; its rare token is `{word}` (id {id}){}",
            cfg.instance_prompt,
            if uses_v { ", which [V] in the validation prompt stands for" } else { "" }
        );
        if cfg.identifier != "auto" && cfg.identifier != *word {
            eprintln!("warning: --identifier {} is not used: the instance prompt has no [V]", cfg.identifier);
        }
        return Ok(word.clone());
    }
    eprintln!(
        "warning: the instance prompt \"{}\" has no [V] and no rare token (a word that is one token of id >= 40000, such as `sks`); DreamBooth binds the subject to a rare identifier: write [V] where it goes, or a rare word",
        cfg.instance_prompt
    );
    if uses_v {
        let id = chosen()?;
        eprintln!("[V] in the validation prompt stands for `{id}`");
        return Ok(id);
    }
    Ok(String::new())
}

/// A cached latent distribution of one training image (or its mirror image): mean and std.
struct Cached {
    mean: Vec<f32>,
    std: Vec<f32>,
}

/// What one run reports.
pub struct Summary {
    pub steps: usize,
    /// (step, instance loss, prior loss) for every step run, resumed ones included.
    pub losses: Vec<(usize, f64, f64)>,
    pub identifier: String,
    pub output_dir: PathBuf,
    /// Whether the run reached max_train_steps and wrote the model.
    pub finished: bool,
}

fn replace_identifier(prompt: &str, ident: &str) -> String {
    prompt.replace("[V]", ident)
}

fn encode_images(vae: &AutoencoderKL, pixels: &[Vec<f32>], res: usize) -> Result<Vec<Cached>> {
    let _g = crate::no_grad();
    let mut out = Vec::new();
    for px in pixels {
        let d = vae.encode(&Tensor::from_slice(px, &[1, 3, res, res])?)?;
        let std = d.logvar.iter().map(|l| (0.5 * l).exp()).collect();
        out.push(Cached { mean: d.mean.to_vec()?, std });
    }
    Ok(out)
}

/// Images (already prepared) -> cached latents, mirrored copies appended with `hflip`.
fn cache_latents(vae: &AutoencoderKL, pixels: Vec<Vec<f32>>, res: usize, hflip: bool) -> Result<Vec<Vec<Cached>>> {
    let plain = encode_images(vae, &pixels, res)?;
    let flipped = if hflip {
        let f: Vec<Vec<f32>> = pixels.iter().map(|p| data::hflip(p, res)).collect();
        Some(encode_images(vae, &f, res)?)
    } else {
        None
    };
    let mut out = Vec::new();
    let mut fl = flipped.map(|v| v.into_iter());
    for c in plain {
        let mut v = vec![c];
        if let Some(it) = fl.as_mut() {
            v.push(it.next().unwrap());
        }
        out.push(v);
    }
    Ok(out)
}

/// The index of sample k in a stream that walks through a fresh permutation of n items each
/// epoch; the permutation depends only on (seed, epoch), so a resumed run sees the same order.
fn ordered(seed: u64, n: usize, k: usize) -> usize {
    let (epoch, pos) = (k / n, k % n);
    let mut perm: Vec<usize> = (0..n).collect();
    let mut r = Rng::new(seed ^ SALT_ORDER ^ (epoch as u64).wrapping_mul(0x9E37_79B9));
    for i in (1..n).rev() {
        perm.swap(i, r.below(i + 1));
    }
    perm[pos]
}

/// Generates the class images that `dir` is missing, with the frozen model.
#[allow(clippy::too_many_arguments)]
fn ensure_class_images(
    cfg: &TrainConfig,
    unet: &UNet2DConditionModel,
    clip: &ClipTextModel,
    tok: &ClipTokenizer,
    vae: &AutoencoderKL,
    schedule: &Schedule,
    progress: bool,
) -> Result<()> {
    let dir = &cfg.class_data_dir;
    writable_dir(dir)?;
    let have = data::load_dir(dir, "class").map(|v| v.len()).unwrap_or(0);
    if have >= cfg.num_class_images {
        return Ok(());
    }
    let missing = cfg.num_class_images - have;
    eprintln!("generating {missing} class images of \"{}\" into {} ...", cfg.class_prompt, dir.display());
    let bar = crate::progress::bar(progress, missing as u64, "class images");
    let seeds: Vec<u64> =
        (have..cfg.num_class_images).map(|i| cfg.seed ^ SALT_CLASS ^ (i as u64).wrapping_mul(0x2545_F491)).collect();
    let models = (unet, clip, tok, vae, schedule);
    sample_images(cfg, &cfg.class_prompt, models, &seeds, |k, (h, w, px)| {
        let path = dir.join(format!("class-{:05}.png", have + k));
        save_png(&path, w, h, &px, &[("prompt", cfg.class_prompt.clone()), ("Software", "engine train".into())])?;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(())
}

/// The frozen or training models that sampling needs, as the stages hold them.
type Models<'a> = (&'a UNet2DConditionModel, &'a ClipTextModel, &'a ClipTokenizer, &'a AutoencoderKL, &'a Schedule);

/// One image of `prompt` per seed with the models as they are now (DDIM with --sample-steps,
/// the default guidance scale, as diffusers' DreamBooth script samples), handed to `each` with
/// its position.
fn sample_images(
    cfg: &TrainConfig,
    prompt: &str,
    (unet, clip, tok, vae, schedule): Models,
    seeds: &[u64],
    mut each: impl FnMut(usize, (usize, usize, Vec<u8>)) -> Result<()>,
) -> Result<()> {
    let _g = crate::no_grad();
    let c = Conditioning::new(clip, tok, prompt, "", DEFAULT_GUIDANCE_SCALE)?;
    let sampler = Sampler::new(schedule, SamplerKind::Ddim, cfg.sample_steps, 0.0)?;
    let sigma = sampler.init_noise_sigma(&schedule.config.timestep_spacing);
    let lat = cfg.resolution / vae.config.downscale();
    let shape = [1, unet.config.in_channels, lat, lat];
    for (k, &seed) in seeds.iter().enumerate() {
        let mut rng = Rng::new(seed);
        each(k, text_to_image(unet, vae, &sampler, &c, &shape, sigma, &mut rng, |_| Ok(()))?)?;
    }
    Ok(())
}

/// Samples `--num-validation-images` images of each validation prompt with the current
/// weights: `validation/step-SSSSSS-I.png`, or `step-SSSSSS-P-I.png` for prompt P of several.
/// Every prompt gets the same seeds, so that a row of the grid compares like with like.
#[allow(clippy::too_many_arguments)]
fn validate(
    cfg: &TrainConfig,
    prompts: &[String],
    unet: &UNet2DConditionModel,
    clip: &ClipTextModel,
    tok: &ClipTokenizer,
    vae: &AutoencoderKL,
    schedule: &Schedule,
    step: usize,
) -> Result<()> {
    let dir = cfg.output_dir.join("validation");
    writable_dir(&dir)?;
    let seeds: Vec<u64> = (0..cfg.num_validation_images as u64).map(|i| cfg.seed ^ SALT_VALID ^ i).collect();
    for (p, prompt) in prompts.iter().enumerate() {
        sample_images(cfg, prompt, (unet, clip, tok, vae, schedule), &seeds, |i, (h, w, px)| {
            let text = [("prompt", prompt.to_string()), ("step", step.to_string())];
            let name = if prompts.len() == 1 {
                format!("step-{step:06}-{i}.png")
            } else {
                format!("step-{step:06}-{p}-{i}.png")
            };
            save_png(&dir.join(name), w, h, &px, &text)
        })?;
    }
    Ok(())
}

/// Builds the batch's latents on the host: z = (mean + std · n) · scaling_factor.
fn sample_latents(items: &[&Cached], shape: &[usize], sf: f32, rng: &mut Rng) -> Result<Tensor> {
    let mut v = Vec::new();
    for c in items {
        let n = rng.normal(c.mean.len());
        v.extend(c.mean.iter().zip(&c.std).zip(&n).map(|((m, s), e)| (m + s * e) * sf));
    }
    Tensor::from_slice(&v, shape)
}

/// Runs DreamBooth as `cfg` says: its stages in order, each handing the next what it made.
/// Out of GPU memory, the error says which of the run's settings would lower the peak.
pub fn run(cfg: &TrainConfig, progress: bool) -> Result<Summary> {
    run_stages(cfg, progress).map_err(|e| match e {
        Error::OutOfMemory(m) => Error::OutOfMemory(format!("{m}; {}", cfg.memory_hint())),
        e => e,
    })
}

fn run_stages(cfg: &TrainConfig, progress: bool) -> Result<Summary> {
    let p = prepare(cfg)?;
    let nets = load_models(cfg, &p)?;
    let caches = cache(cfg, &p, &nets, progress)?;
    let state = init_state(cfg, &p, &nets)?;
    // Latents and (frozen) text states are cached: the VAE and a frozen text encoder leave the GPU.
    nets.release_frozen();
    let trained = train_loop(cfg, &p, &nets, &caches, state, progress)?;
    finish(cfg, &p, &nets, trained)
}

/// After this run's first step on a GPU, with tuning off: how many of the step's kernel shape
/// classes ran their default variants for want of a tuned choice, and how to tune them. The
/// defaults are the kernels that won on lavapipe and the H200's first run; on the H200 the
/// tuner's choices ran conv2d up to 1.9x and GEMM up to 1.5x faster (BENCHMARKS.md, "GPU
/// numbers"). Counted, not guessed from the cache file: `engine bench --tune` fills it with
/// the suites' classes, whose dtypes and sizes a training step (bf16 under mixed precision,
/// two images with prior preservation) mostly does not share. CPU adapters say nothing: their
/// defaults are their tuned choices.
fn untuned_gpu_note() -> Result<Option<String>> {
    let ctx = Tensor::ctx()?;
    let tuner = crate::gpu::tune::tuner()?;
    let n = tuner.untuned_classes();
    if ctx.caps.cpu || tuner.enabled() || n == 0 {
        return Ok(None);
    }
    let file = crate::gpu::tune::cache_path()?.map_or("memory".to_string(), |p| p.display().to_string());
    Ok(Some(format!(
        "note: {n} kernel shape classes of this run (caching and the first step) ran their default variants \
         on {}, never tuned there: ENGINE_TUNE=1 on a run times each class's variants once (its first step \
         takes longer) and keeps the fastest in {file} for every later run of these settings",
        ctx.info.name
    )))
}

/// What `prepare` settles before any GPU work.
struct Prepared {
    model: Model,
    ucfg: UNetConfig,
    vcfg: VaeConfig,
    instance_images: Vec<(PathBuf, image::DynamicImage)>,
    /// The checkpoint to resume from (`--resume-from-checkpoint`), found and checked.
    resume: Option<PathBuf>,
    tok: ClipTokenizer,
    identifier: String,
    /// The instance prompt with the identifier in place.
    instance_prompt: String,
}

/// Takes the settings; checks everything that needs no GPU — the output directory, the model's
/// configs against --resolution, the instance images, the resume point — and produces the model,
/// the instance images, the checkpoint to resume from, the tokenizer, the identifier and the
/// instance prompt.
fn prepare(cfg: &TrainConfig) -> Result<Prepared> {
    // Everything that needs no GPU first: output, model, images, resume point.
    writable_dir(&cfg.output_dir)?;
    let model = Model::open(&cfg.pretrained_model)?;
    let ucfg = model.unet_config()?;
    let vcfg = model.vae_config()?;
    model.clip_config()?;
    let multiple = vcfg.downscale() << (ucfg.block_out_channels.len() - 1);
    if !cfg.resolution.is_multiple_of(multiple) {
        return Err(Error::invalid(
            "train",
            format!("--resolution {} must be a multiple of {multiple} for this model", cfg.resolution),
        ));
    }
    let instance_images = match &cfg.instance_data_dir {
        Some(d) => data::load_dir(d, "instance")?,
        None => data::embedded_dog()?,
    };
    data::warn_small(&instance_images, cfg.resolution);
    if cfg.lr_warmup_steps >= cfg.max_train_steps && cfg.lr_scheduler != "constant" {
        eprintln!(
            "warning: --lr-warmup-steps {} is not below --max-train-steps {}: the learning rate never reaches --learning-rate {:e}",
            cfg.lr_warmup_steps, cfg.max_train_steps, cfg.learning_rate
        );
    }
    if instance_images.is_empty() {
        return Err(Error::invalid(
            "train",
            format!(
                "no usable images in the instance directory {}",
                cfg.instance_data_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default()
            ),
        ));
    }
    crate::models::check_image_size(
        &vcfg,
        cfg.resolution,
        cfg.resolution,
        &format!("--resolution {}", cfg.resolution),
    )?;
    if cfg.save_single_file {
        export::single_file_supported(&model)?;
    }
    let resume = match &cfg.resume_from_checkpoint {
        Some(r) => Some(checkpoint::find(&cfg.output_dir, r)?),
        None => None,
    };
    if let Some(step) = resume.as_deref().and_then(checkpoint::step_of) {
        if step > cfg.max_train_steps {
            return Err(Error::invalid(
                "train",
                format!(
                    "the checkpoint to resume from is at step {step}, past --max-train-steps {}: give --max-train-steps above {step} to train on, or {step} to write the model from it",
                    cfg.max_train_steps
                ),
            ));
        }
        if step == cfg.max_train_steps {
            eprintln!(
                "the checkpoint is at step {step} = --max-train-steps: nothing to train; writing the model from it"
            );
        }
    }
    let tok = model.tokenizer()?;
    let identifier = choose_identifier(cfg, &tok)?;
    let instance_prompt = replace_identifier(&cfg.instance_prompt, &identifier);
    for p in [&instance_prompt, &cfg.class_prompt] {
        if tok.encode(p)?.truncated {
            eprintln!("warning: \"{p}\" is longer than {} tokens; the rest is cut", tok.max_length - 2);
        }
    }
    Ok(Prepared { model, ucfg, vcfg, instance_images, resume, tok, identifier, instance_prompt })
}

/// The scheduler and the three networks on the GPU, with the loaders that hold their parameters.
/// A network the run needs only now and then (the VAE, a frozen text encoder): loaded from the
/// model when asked for and dropped again by `release`, so that it holds no GPU memory while
/// the U-Net trains (it comes back for validation samples and the export).
struct OnDemand<'a, T> {
    load: Box<dyn Fn() -> Result<(T, Loader)> + 'a>,
    held: std::cell::RefCell<Option<std::rc::Rc<(T, Loader)>>>,
    /// False for a network being trained: it is never dropped.
    releasable: bool,
}

impl<'a, T> OnDemand<'a, T> {
    fn new(load: Box<dyn Fn() -> Result<(T, Loader)> + 'a>, releasable: bool) -> Result<Self> {
        let held = std::cell::RefCell::new(Some(std::rc::Rc::new(load()?)));
        Ok(OnDemand { load, held, releasable })
    }

    /// The network, loaded again if it was released.
    fn get(&self) -> Result<std::rc::Rc<(T, Loader)>> {
        if let Some(n) = self.held.borrow().as_ref() {
            return Ok(n.clone());
        }
        let n = std::rc::Rc::new((self.load)()?);
        *self.held.borrow_mut() = Some(n.clone());
        Ok(n)
    }

    /// Drops the network's weights from the GPU (once no caller holds it).
    fn release(&self) {
        if self.releasable {
            *self.held.borrow_mut() = None;
        }
    }
}

struct Nets<'a> {
    schedule: Schedule,
    unet: UNet2DConditionModel,
    unet_vb: Loader,
    /// With --lora-rank: the adapters' specs (U-Net, and the text encoder's when it trains),
    /// through which the loop turns dropout on for its steps.
    lora: Vec<Arc<LoraSpec>>,
    /// The text encoder: trained with --train-text-encoder (then always held), else frozen.
    clip: OnDemand<'a, ClipTextModel>,
    /// The frozen VAE.
    vae: OnDemand<'a, AutoencoderKL>,
}

impl Nets<'_> {
    /// The frozen networks leave the GPU (after the latents and text states are cached, and
    /// after each validation).
    fn release_frozen(&self) {
        self.clip.release();
        self.vae.release();
    }
}

/// Takes the prepared model; produces the noise schedule and the U-Net (trainable), the text
/// encoder (trainable with --train-text-encoder) and the VAE, loaded onto the GPU.
fn load_models<'a>(cfg: &TrainConfig, p: &'a Prepared) -> Result<Nets<'a>> {
    let schedule = crate::diffusion::Schedule::of(&p.model)?;
    let train_te = cfg.train_text_encoder;
    let m = &p.model;
    // --mixed-precision: the frozen networks' matrices in half.
    let dtype = cfg.frozen_dtype();
    let frozen = Adapt { frozen_dtype: dtype, ..Default::default() };
    let vae = OnDemand::new(Box::new(move || m.vae_in(dtype)), true)?;
    let Some((unet_spec, te_spec)) = lora_specs(cfg) else {
        let (mut unet, unet_vb) = p.model.unet(true)?;
        unet.gradient_checkpointing = cfg.gradient_checkpointing;
        let clip = OnDemand::new(Box::new(move || m.text_encoder_adapted(train_te, &frozen)), !train_te)?;
        return Ok(Nets { schedule, unet, unet_vb, lora: Vec::new(), clip, vae });
    };
    // LoRA: the base weights frozen (in the --mixed-precision dtype), adapters trainable.
    let adapt = |spec: &Arc<LoraSpec>| Adapt { lora: Some(spec.clone()), ..frozen.clone() };
    let (mut unet, unet_vb) = p.model.unet_adapted(false, &adapt(&unet_spec))?;
    unet.gradient_checkpointing = cfg.gradient_checkpointing;
    let te_adapt = if train_te { adapt(&te_spec) } else { frozen.clone() };
    let clip = OnDemand::new(Box::new(move || m.text_encoder_adapted(false, &te_adapt)), !train_te)?;
    let lora = if train_te { vec![unet_spec, te_spec] } else { vec![unet_spec] };
    Ok(Nets { schedule, unet, unet_vb, lora, clip, vae })
}

/// The LoRA specs of a --lora-rank run (U-Net, text encoder), None for a full fine-tune.
pub fn lora_specs(cfg: &TrainConfig) -> Option<(Arc<LoraSpec>, Arc<LoraSpec>)> {
    if cfg.lora_rank == 0 {
        return None;
    }
    let (unet, te): (&[&str], &[&str]) = if cfg.lora_modules == "transformer" {
        (&LoraSpec::UNET_TRANSFORMER, &LoraSpec::CLIP_TRANSFORMER)
    } else {
        (&LoraSpec::UNET_ATTENTION, &LoraSpec::CLIP_ATTENTION)
    };
    let spec = |targets: &[&str], salt: u64| {
        let (r, a, d) = (cfg.lora_rank, cfg.lora_alpha as f32, cfg.lora_dropout as f32);
        Arc::new(LoraSpec::new(r, a, d, targets, cfg.seed ^ salt))
    };
    Some((spec(unet, SALT_LORA), spec(te, SALT_LORA ^ 1)))
}

/// What every step reads without computing it again.
struct Caches {
    /// Per instance image: its latent distribution, and its mirror image's with --hflip.
    inst: Vec<Vec<Cached>>,
    /// The same for the class images; empty without prior preservation.
    class: Vec<Vec<Cached>>,
    ids_inst: Vec<u32>,
    ids_class: Vec<u32>,
    /// The prompts' text embeddings (instance, class) when the text encoder is frozen.
    cached_text: Option<(Tensor, Tensor)>,
}

/// Takes the prepared images and prompts and the loaded networks; generates the class images
/// that are missing (with prior preservation), and produces the cached latents of the instance
/// and class images and the prompts' token ids, with their text embeddings when the text
/// encoder is frozen.
fn cache(cfg: &TrainConfig, p: &Prepared, nets: &Nets, progress: bool) -> Result<Caches> {
    let Prepared { vcfg, instance_images, tok, instance_prompt, .. } = p;
    let Nets { schedule, unet, .. } = nets;
    let (clip, vae) = (nets.clip.get()?, nets.vae.get()?);
    let (clip, vae) = (&clip.0, &vae.0);
    if cfg.with_prior_preservation {
        ensure_class_images(cfg, unet, clip, tok, vae, schedule, progress)?;
    }
    let res = cfg.resolution;
    let mut crop_rng = Rng::new(cfg.seed ^ SALT_CROP);
    let prep = |imgs: &[(PathBuf, image::DynamicImage)], rng: &mut Rng| -> Vec<Vec<f32>> {
        imgs.iter().map(|(_, i)| data::prepare(i, res, cfg.center_crop, rng)).collect()
    };
    let inst_px = prep(instance_images, &mut crop_rng);
    let inst = cache_latents(vae, inst_px, res, cfg.hflip)?;
    let class = if cfg.with_prior_preservation {
        let imgs = data::load_dir(&cfg.class_data_dir, "class")?;
        let imgs: Vec<_> = imgs.into_iter().take(cfg.num_class_images).collect();
        data::warn_small(&imgs, res);
        let px = prep(&imgs, &mut crop_rng);
        cache_latents(vae, px, res, cfg.hflip)?
    } else {
        Vec::new()
    };
    eprintln!(
        "{} instance images, {} class images, latents cached ({}x{})",
        inst.len(),
        class.len(),
        res / vcfg.downscale(),
        res / vcfg.downscale()
    );

    let ids_inst = tok.encode(instance_prompt)?.ids;
    let ids_class = tok.encode(&cfg.class_prompt)?.ids;
    let cached_text = if cfg.train_text_encoder {
        None
    } else {
        let _g = crate::no_grad();
        Some((clip.forward(std::slice::from_ref(&ids_inst))?, clip.forward(std::slice::from_ref(&ids_class))?))
    };
    Ok(Caches { inst, class, ids_inst, ids_class, cached_text })
}

/// The trained parameters, their optimizer, the training RNG and the loss history at step
/// `start`, and the per-step log.
struct TrainState {
    params: Vec<(String, Tensor)>,
    tensors: Vec<Tensor>,
    opt: AdamW,
    rng: Rng,
    start: usize,
    losses: Vec<(usize, f64, f64)>,
    /// fp16's dynamic loss scale (`--mixed-precision fp16` only).
    scaler: Option<GradScaler>,
    log: std::fs::File,
    log_path: PathBuf,
}

/// Takes the loaded networks and the resume point; checks that the output disk has room for
/// the end of the run, and produces the training state: fresh at step 0, or restored from the
/// checkpoint, with logs.jsonl cut back to that step and opened for appending.
fn init_state(cfg: &TrainConfig, p: &Prepared, nets: &Nets) -> Result<TrainState> {
    let Nets { unet_vb, .. } = nets;
    let (clip, vae) = (nets.clip.get()?, nets.vae.get()?);
    let (clip_vb, vae_vb) = (&clip.1, &vae.1);
    // The trained tensors: the networks' parameters, or with --lora-rank their adapters only.
    let trained = |vb: &Loader| if cfg.lora_rank > 0 { vb.adapters() } else { vb.parameters() };
    let mut params: Vec<(String, Tensor)> = trained(unet_vb);
    if cfg.train_text_encoder {
        params.extend(trained(clip_vb).into_iter().map(|(n, t)| (format!("text_encoder.{n}"), t)));
    }
    let tensors: Vec<Tensor> = params.iter().map(|(_, t)| t.clone()).collect();
    let mut opt = AdamW::new(cfg.learning_rate);
    opt.beta1 = cfg.adam_beta1;
    opt.beta2 = cfg.adam_beta2;
    opt.eps = cfg.adam_epsilon;
    opt.weight_decay = cfg.adam_weight_decay;
    opt.eight_bit = cfg.use_8bit_adam;

    check_disk_room(cfg, &params, &[unet_vb, clip_vb, vae_vb])?;
    let mut rng = Rng::new(cfg.seed);
    let mut start = 0;
    let mut losses: Vec<(usize, f64, f64)> = Vec::new();
    let mut scaler = (cfg.frozen_dtype() == crate::tensor::DType::F16).then(GradScaler::default);
    if let Some(dir) = &p.resume {
        let st = checkpoint::load(dir, &params, &mut opt, &checkpoint::lora_settings(cfg), &cfg.mixed_precision)?;
        if st.step > cfg.max_train_steps {
            return Err(Error::invalid(
                "train",
                format!("{} is at step {}, past --max-train-steps {}", dir.display(), st.step, cfg.max_train_steps),
            ));
        }
        start = st.step;
        rng = Rng::from_state(st.rng);
        losses = st.losses;
        if scaler.is_some() {
            scaler = Some(st.scaler.unwrap_or_default());
        }
        eprintln!("resumed from {} at step {start}", dir.display());
    }
    let log_path = cfg.output_dir.join("logs.jsonl");
    checkpoint::truncate_log(&log_path, start)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
    Ok(TrainState { params, tensors, opt, rng, start, losses, scaler, log, log_path })
}

/// The training state where the loop stopped.
struct Trained {
    state: TrainState,
    /// The step the loop stopped after: --max-train-steps, or fewer with --stop-after.
    end: usize,
    /// When the loop began: the run's time, reported at the end.
    t0: Instant,
}

/// Takes everything above and the training state; samples the untouched model's validation
/// images (on a fresh run), then runs the steps from `start` to `end` — each one loss, backward
/// pass and AdamW update per micro-step's batch, a line in logs.jsonl, and validation images
/// and checkpoints where due — and produces the state after the last step.
fn train_loop(
    cfg: &TrainConfig,
    p: &Prepared,
    nets: &Nets,
    caches: &Caches,
    state: TrainState,
    progress: bool,
) -> Result<Trained> {
    let Prepared { ucfg, vcfg, tok, identifier, .. } = p;
    let Nets { schedule, unet, .. } = nets;
    let Caches { inst, class, ids_inst, ids_class, cached_text } = caches;
    // The validation samples, with the frozen networks loaded for them and released after.
    let validation_prompts: Vec<String> =
        cfg.validation_prompts().iter().map(|p| replace_identifier(p, identifier)).collect();
    let validate_at = |s: usize| -> Result<()> {
        if validation_prompts.is_empty() {
            return Ok(());
        }
        let (clip, vae) = (nets.clip.get()?, nets.vae.get()?);
        validate(cfg, &validation_prompts, unet, &clip.0, tok, &vae.0, schedule, s)?;
        drop((clip, vae));
        nets.release_frozen();
        Ok(())
    };
    // The trained text encoder (held throughout), when there is one.
    let trained_clip = if cached_text.is_none() { Some(nets.clip.get()?) } else { None };
    let TrainState { params, tensors, mut opt, mut rng, start, mut losses, mut scaler, mut log, log_path } = state;
    let b = cfg.train_batch_size;
    let lat = cfg.resolution / vcfg.downscale();
    let lc = ucfg.in_channels;
    let sf = vcfg.scaling_factor as f32;
    let t_max = schedule.config.num_train_timesteps;
    let lambda = cfg.prior_loss_weight as f32;
    let end = cfg.stop_after.map_or(cfg.max_train_steps, |n| (start + n).min(cfg.max_train_steps));
    let bar = crate::progress::bar(false, 0, "");
    let bar = if progress {
        let bar = indicatif::ProgressBar::new(cfg.max_train_steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} eta {eta}")
                .unwrap()
                .progress_chars("=> "),
        );
        bar.set_position(start as u64);
        bar
    } else {
        bar
    };
    // Samples of the untouched model, the first row of the validation grid (their randomness is
    // a stream of its own, so training is the same with or without them).
    if start == 0 && !validation_prompts.is_empty() && cfg.num_validation_images > 0 && end > 0 {
        bar.suspend(|| validate_at(0))?;
    }
    let t0 = Instant::now();
    let ctx = Tensor::ctx()?;
    for step in start..end {
        // The pool's peak during this step (activations, gradients, AdamW), not just what is
        // live once they are freed: what a GPU must hold for the step.
        ctx.pool.reset_peak();
        let lr = cfg.lr_at(step);
        opt.lr = lr;
        let (mut li_sum, mut lp_sum) = (0.0, 0.0);
        // fp16: GradScaler's unscale and clip, and the unscaled gradients' norm, read with the
        // losses (whether the update is skipped: one sync per step, not two).
        let mut fp16_clip: Option<(GradClip, f32)> = None;
        // The micro-steps' losses (instance, prior), read together after the last backward.
        let mut pending: Vec<Tensor> = Vec::new();
        for micro in 0..cfg.gradient_accumulation_steps {
            // --mixed-precision: the step's Linear and Conv2d layers round their inputs to half
            // and keep them so for backward (which runs under the same guard; a checkpointed
            // block's recomputation keeps the dtype it was made with).
            let _autocast = crate::autograd::autocast(cfg.frozen_dtype());
            let k0 = (step * cfg.gradient_accumulation_steps + micro) * b;
            let mut items: Vec<&Cached> = Vec::new();
            for j in 0..b {
                let i = ordered(cfg.seed, inst.len(), k0 + j);
                let v = if inst[i].len() > 1 { rng.below(2) } else { 0 };
                items.push(&inst[i][v]);
            }
            if !class.is_empty() {
                for j in 0..b {
                    let i = ordered(cfg.seed ^ SALT_CLASS, class.len(), k0 + j);
                    let v = if class[i].len() > 1 { rng.below(2) } else { 0 };
                    items.push(&class[i][v]);
                }
            }
            let n = items.len();
            let shape = [n, lc, lat, lat];
            let latents = sample_latents(&items, &shape, sf, &mut rng)?;
            let noise = Tensor::from_slice(&rng.normal(n * lc * lat * lat), &shape)?;
            let ts: Vec<usize> = (0..n).map(|_| rng.below(t_max)).collect();
            let noisy = schedule.add_noise(&latents, &noise, &ts)?;
            let tt = Tensor::from_slice(&ts.iter().map(|&t| t as f32).collect::<Vec<_>>(), &[n])?;
            // LoRA dropout: on for this micro-step, with masks of its own (the same when a
            // checkpointed block is recomputed); drawn from no RNG stream the run uses.
            for spec in &nets.lora {
                spec.dropout_seed.store(
                    cfg.seed ^ SALT_DROPOUT ^ (k0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    Ordering::Relaxed,
                );
                spec.training.store(true, Ordering::Relaxed);
            }
            let ehs = match cached_text {
                Some((ei, ec)) => {
                    let mut parts = vec![ei; b];
                    if !class.is_empty() {
                        parts.extend(vec![ec; b]);
                    }
                    cat(&parts, 0)?
                }
                None => {
                    let mut ids = vec![ids_inst.clone(); b];
                    if !class.is_empty() {
                        ids.extend(vec![ids_class.clone(); b]);
                    }
                    trained_clip.as_ref().expect("held when not cached").0.forward(&ids)?
                }
            };
            let pred = unet.forward(&noisy, &tt, &ehs)?;
            let li = mse_loss(&pred.narrow0(0, b)?, &noise.narrow0(0, b)?)?;
            let (loss, lp) = if class.is_empty() {
                (li.clone(), None)
            } else {
                let lp = mse_loss(&pred.narrow0(b, b)?, &noise.narrow0(b, b)?)?;
                (li.add(&lp.scale(lambda)?)?, Some(lp))
            };
            let scale = 1.0 / cfg.gradient_accumulation_steps as f32;
            let loss = if scale != 1.0 { loss.scale(scale)? } else { loss };
            // fp16: backward from the loss times the scale (a power of two: exact), undone
            // before clipping.
            let loss = match &scaler {
                Some(s) => loss.scale(s.scale)?,
                None => loss,
            };
            pending.push(li.detach().reshape(&[1])?);
            if let Some(lp) = &lp {
                pending.push(lp.detach().reshape(&[1])?);
            }
            // One readback per step, after its last backward: every micro-step's losses, whether
            // an earlier update made a parameter non-finite (the optimizer's flag, written by the
            // last step's AdamW), and under fp16 the gradients' norm. A fused backward pass
            // (no accumulation) updates the weights as it goes, so it reads them first.
            let read_stats = |pending: &mut Vec<Tensor>, li_sum: &mut f64, lp_sum: &mut f64, norm: Option<&Tensor>| {
                let mut parts = std::mem::take(pending);
                let losses = parts.len();
                if let Some(n) = norm {
                    parts.push(n.reshape(&[1])?);
                }
                if let Some(f) = opt.nonfinite_flags() {
                    parts.push(f.narrow0(0, 1)?);
                }
                let stats = cat(&parts.iter().collect::<Vec<_>>(), 0)?.to_vec()?;
                for micro in stats[..losses].chunks(1 + usize::from(lp.is_some())) {
                    *li_sum += micro[0] as f64;
                    if let Some(p) = micro.get(1) {
                        *lp_sum += *p as f64;
                    }
                }
                if opt.nonfinite_flags().is_some() && stats[stats.len() - 1] != 0.0 {
                    return Err(nonfinite_update(&opt, &params, step, cfg));
                }
                Ok(norm.map(|_| stats[losses]))
            };
            let last = micro + 1 == cfg.gradient_accumulation_steps;
            if cfg.fused_backward_pass {
                read_stats(&mut pending, &mut li_sum, &mut lp_sum, None)?;
                if !li_sum.is_finite() || !lp_sum.is_finite() {
                    return Err(nonfinite_loss(cfg, li_sum + cfg.prior_loss_weight * lp_sum, step, lr));
                }
                crate::optim::fused_backward(&loss, &tensors, &mut opt, cfg.max_grad_norm as f32)?;
            } else {
                loss.backward()?;
                if last {
                    let clip = match &scaler {
                        Some(s) => Some(GradClip::of_params(&tensors, cfg.max_grad_norm as f32, 1.0 / s.scale)?),
                        None => None,
                    };
                    let norm = clip.as_ref().map(GradClip::norm).transpose()?;
                    fp16_clip = clip.zip(read_stats(&mut pending, &mut li_sum, &mut lp_sum, norm.as_ref())?);
                }
            }
            for spec in &nets.lora {
                spec.training.store(false, Ordering::Relaxed);
            }
        }
        let acc = cfg.gradient_accumulation_steps as f64;
        let (li, lp) = (li_sum / acc, lp_sum / acc);
        if !li.is_finite() || !lp.is_finite() {
            return Err(nonfinite_loss(cfg, li + cfg.prior_loss_weight * lp, step, lr));
        }
        // The scale this step's backward used (logged), and whether fp16 overflowed in it.
        let loss_scale = scaler.map(|s| s.scale);
        let mut skipped = false;
        if !cfg.fused_backward_pass {
            match &mut scaler {
                Some(s) => {
                    // GradScaler: unscale and clip inside the update; an Inf or NaN anywhere makes
                    // the norm (read with the losses) non-finite: skip the update.
                    let (clip, norm) = fp16_clip.take().expect("made after fp16's last backward");
                    skipped = !norm.is_finite();
                    if !skipped {
                        opt.step_clipped(&tensors, Some(&clip))?;
                    }
                    s.update(skipped);
                    if skipped {
                        bar.suspend(|| {
                            eprintln!(
                                "step {}: fp16 gradients overflowed at loss scale {}; update skipped, scale now {}",
                                step + 1,
                                loss_scale.unwrap_or(0.0),
                                s.scale
                            )
                        });
                    }
                }
                None => {
                    // clip_grad_norm_ folded into the update (the same bits, a pass fewer).
                    let clip = GradClip::of_params(&tensors, cfg.max_grad_norm as f32, 1.0)?;
                    opt.step_clipped(&tensors, Some(&clip))?;
                }
            }
            for t in &tensors {
                t.zero_grad();
            }
        }
        losses.push((step + 1, li, lp));
        let done = step + 1 - start;
        let secs = t0.elapsed().as_secs_f64();
        let pool = ctx.pool.stats();
        let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
        let (gpu, gpu_peak) = (gib(pool.live_bytes), gib(pool.peak_bytes));
        let mut line = serde_json::json!({"step": step + 1, "loss": li + cfg.prior_loss_weight * lp, "loss_instance": li,
            "loss_prior": lp, "lr": lr, "seconds": secs, "gpu_gib": gpu, "gpu_peak_gib": gpu_peak});
        if let Some(scale) = loss_scale {
            line["loss_scale"] = scale.into();
            line["skipped"] = skipped.into();
        }
        writeln!(log, "{line}").map_err(|e| Error::io(format!("writing {}", log_path.display()), e))?;
        bar.set_message(format!(
            "loss {:.4} lr {lr:.2e} {:.2} it/s GPU peak {gpu_peak:.2} GiB",
            li + cfg.prior_loss_weight * lp,
            done as f64 / secs.max(1e-9)
        ));
        bar.set_position((step + 1) as u64);
        if progress && step == start {
            if let Some(note) = untuned_gpu_note()? {
                bar.suspend(|| eprintln!("{note}"));
            }
        }

        let s = step + 1;
        if !validation_prompts.is_empty() && (s.is_multiple_of(cfg.validation_steps) || s == cfg.max_train_steps) {
            bar.suspend(|| validate_at(s))?;
        }
        let stopping = s == end && s < cfg.max_train_steps;
        if s.is_multiple_of(cfg.checkpointing_steps) || stopping || s == cfg.max_train_steps {
            // Never a checkpoint of non-finite weights; and the final state is always saved
            // before the export, so that a failed export loses nothing.
            if !opt.nonfinite_params()?.is_empty() {
                return Err(nonfinite_update(&opt, &params, step + 1, cfg));
            }
            let dir = checkpoint::save(cfg, s, &params, &opt, &rng, &losses, scaler.as_ref())?;
            // The final state's checkpoint is the export's insurance, removed after it unless asked for.
            if s.is_multiple_of(cfg.checkpointing_steps) || stopping {
                bar.suspend(|| eprintln!("checkpoint {}", dir.display()));
            }
        }
    }
    bar.finish_and_clear();
    Ok(Trained { state: TrainState { params, tensors, opt, rng, start, losses, scaler, log, log_path }, end, t0 })
}

/// The error for a loss that became NaN or Inf at `step` (0-based): nothing was updated from it.
fn nonfinite_loss(cfg: &TrainConfig, loss: f64, step: usize, lr: f64) -> Error {
    Error::invalid(
        "train",
        format!(
            "the loss became {loss} at step {}; the weights are still finite (the update was not applied): lower --learning-rate (now {lr:e}){}{}",
            step + 1,
            if cfg.mixed_precision == "fp16" {
                " or use --mixed-precision bf16 (fp16 overflows above 65504 in the forward pass, where loss scaling cannot help; bf16 has f32's range)"
            } else {
                ""
            },
            last_checkpoint_hint(cfg)
        ),
    )
}

/// Takes the trained state; where the run reached --max-train-steps, writes the model (the
/// final checkpoint, already saved, is its insurance and is removed after it unless it was due
/// anyway), the loss curve, the validation grid and the report; else says how to continue.
/// Produces the run's summary.
fn finish(cfg: &TrainConfig, p: &Prepared, nets: &Nets, trained: Trained) -> Result<Summary> {
    let Prepared { model, identifier, .. } = p;
    let Nets { unet_vb, .. } = nets;
    let Trained { state: TrainState { start, losses, .. }, end, t0 } = trained;
    let steps_run = end - start;
    let finished = end == cfg.max_train_steps;
    if finished {
        let r = if cfg.lora_rank > 0 {
            write_lora(cfg, p, nets, end)
        } else {
            // Streamed: each parameter is read back when its file reaches it.
            let out = |vb: &crate::nn::Loader| export::out_params(&vb.parameters());
            // Frozen networks held in half (--mixed-precision) are written from the files as they
            // hold them (loaded afresh in f32, as diffusers' script reloads them), never rounded.
            let half = cfg.frozen_dtype() != crate::tensor::DType::F32;
            let vae = if half { std::rc::Rc::new(model.vae_with_loader()?) } else { nets.vae.get()? };
            let clip = if half && !cfg.train_text_encoder {
                std::rc::Rc::new(model.text_encoder(false)?)
            } else {
                nets.clip.get()?
            };
            let (u, t, v) = (out(unet_vb), out(&clip.1), out(&vae.1));
            export::write_model(&cfg.output_dir, model, &u, &t, &v, cfg.save_single_file)
        };
        if let Err(e) = r {
            let (step, dir) = checkpoint::list(&cfg.output_dir).pop().unwrap_or((end, cfg.output_dir.clone()));
            return Err(Error::invalid(
                "train",
                format!(
                    "training finished, but writing the model failed: {e}. Nothing was lost: {} holds the weights of step {step}; once the cause is fixed, write the model again with the same command plus --resume-from-checkpoint {} (no step is trained again)",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
        // The final checkpoint was the export's insurance; keep it only where the user asked
        // for one at this step.
        if steps_run > 0 && !end.is_multiple_of(cfg.checkpointing_steps) {
            let _ = std::fs::remove_dir_all(cfg.output_dir.join(format!("checkpoint-{end}")));
        }
        let pts: Vec<plot::StepPoint> = losses
            .iter()
            .map(|&(s, li, lp)| plot::StepPoint {
                step: s,
                loss: li + cfg.prior_loss_weight * lp,
                instance: li,
                prior: lp,
                lr: cfg.lr_at(s - 1),
            })
            .collect();
        let title = run_title(cfg, model, identifier);
        plot::loss_curve(&cfg.output_dir.join("loss.png"), &title, &pts, cfg.with_prior_preservation)?;
        write_validation_grid(cfg, &title)?;
        report_outputs(cfg, steps_run, t0.elapsed().as_secs_f64(), identifier);
    } else {
        eprintln!("stopped after step {end} of {}; continue with --resume-from-checkpoint latest", cfg.max_train_steps);
    }
    Ok(Summary {
        steps: steps_run,
        losses,
        identifier: identifier.clone(),
        output_dir: cfg.output_dir.clone(),
        finished,
    })
}

/// The adapter files of a --lora-rank run, in the layouts --lora-format asks for:
/// `pytorch_lora_weights.safetensors` (diffusers/peft naming) and `lora_kohya.safetensors`
/// (kohya naming with its `ss_*` metadata).
fn write_lora(cfg: &TrainConfig, p: &Prepared, nets: &Nets, steps: usize) -> Result<()> {
    use crate::models::lora::{pair, write, LoraFormat, Part};
    let unet_adapters = nets.unet_vb.adapters();
    let te_adapters = if cfg.train_text_encoder { nets.clip.get()?.1.adapters() } else { Vec::new() };
    let mut adapters = pair(Part::Unet, &unet_adapters);
    adapters.extend(pair(Part::TextEncoder, &te_adapters));
    let (rank, alpha) = (cfg.lora_rank, cfg.lora_alpha as f32);
    let res = cfg.resolution;
    let image_dir = cfg.instance_data_dir.as_ref().map_or("(embedded dog photos)".into(), |d| d.display().to_string());
    let mut subsets = vec![serde_json::json!({"class_tokens": p.instance_prompt, "is_reg": false, "num_repeats": 1,
        "image_dir": image_dir, "img_count": p.instance_images.len()})];
    if cfg.with_prior_preservation {
        subsets.push(serde_json::json!({"class_tokens": cfg.class_prompt, "is_reg": true, "num_repeats": 1,
            "image_dir": cfg.class_data_dir.display().to_string(), "img_count": cfg.num_class_images}));
    }
    let datasets = serde_json::json!([{"resolution": [res, res], "batch_size_per_device": cfg.train_batch_size,
        "subsets": subsets}]);
    let kohya_meta: std::collections::BTreeMap<String, String> = [
        ("ss_network_module", "networks.lora".to_string()),
        ("ss_network_dim", rank.to_string()),
        ("ss_network_alpha", format!("{}", cfg.lora_alpha)),
        ("ss_network_dropout", format!("{}", cfg.lora_dropout)),
        ("ss_base_model_version", "sd_v1".into()),
        ("ss_v2", "False".into()),
        ("ss_sd_model_name", p.model.label()),
        ("ss_resolution", format!("({res}, {res})")),
        ("ss_max_train_steps", cfg.max_train_steps.to_string()),
        ("ss_steps", steps.to_string()),
        ("ss_learning_rate", format!("{}", cfg.learning_rate)),
        ("ss_lr_scheduler", cfg.lr_scheduler.clone()),
        ("ss_lr_warmup_steps", cfg.lr_warmup_steps.to_string()),
        ("ss_max_grad_norm", format!("{}", cfg.max_grad_norm)),
        ("ss_seed", cfg.seed.to_string()),
        ("ss_prior_loss_weight", format!("{}", cfg.prior_loss_weight)),
        ("ss_num_train_images", p.instance_images.len().to_string()),
        ("ss_num_reg_images", if cfg.with_prior_preservation { cfg.num_class_images } else { 0 }.to_string()),
        (
            "ss_network_train_unet_only",
            (!cfg.train_text_encoder).to_string().replace("true", "True").replace("false", "False"),
        ),
        ("ss_datasets", datasets.to_string()),
        (
            "ss_training_comment",
            format!(
                "engine DreamBooth LoRA; instance prompt \"{}\"; --lora-modules {}",
                p.instance_prompt, cfg.lora_modules
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let both = cfg.lora_format == "both";
    if both || cfg.lora_format == "diffusers" {
        let path = cfg.output_dir.join("pytorch_lora_weights.safetensors");
        write(&path, LoraFormat::Diffusers, &adapters, rank, alpha, &Default::default())?;
    }
    if both || cfg.lora_format == "kohya" {
        let path = cfg.output_dir.join("lora_kohya.safetensors");
        write(&path, LoraFormat::Kohya, &adapters, rank, alpha, &kohya_meta)?;
    }
    Ok(())
}

/// Refuses to start when the output disk cannot hold what the end of the run writes: the final
/// checkpoint (trained weights and both AdamW moments) beside the exported model (twice with
/// `--save-single-file`), all f32.
fn check_disk_room(cfg: &TrainConfig, trained: &[(String, Tensor)], parts: &[&crate::nn::Loader]) -> Result<()> {
    let Some(free) = crate::fsutil::free_bytes(&cfg.output_dir) else { return Ok(()) };
    let numel = |ps: &[(String, Tensor)]| ps.iter().map(|(_, t)| t.numel() as u64).sum::<u64>();
    let model: u64 = if cfg.lora_rank > 0 {
        numel(trained) * 4 * if cfg.lora_format == "both" { 2 } else { 1 }
    } else {
        parts.iter().map(|l| numel(&l.parameters())).sum::<u64>() * 4
    };
    let export = model * if cfg.save_single_file { 2 } else { 1 };
    let checkpoint = numel(trained) * 4 * 3;
    let need = export + checkpoint;
    if need > free {
        return Err(Error::invalid(
            "train",
            format!(
                "the output disk ({}) has {} free, but the end of this run writes {} (the model {}{}, and its final checkpoint {}); free some space or choose another --output-dir",
                cfg.output_dir.display(),
                crate::fsutil::human_bytes(free),
                crate::fsutil::human_bytes(need),
                crate::fsutil::human_bytes(model),
                if cfg.save_single_file { " twice: folder and single file" } else { "" },
                crate::fsutil::human_bytes(checkpoint)
            ),
        ));
    }
    Ok(())
}

/// The error for an update that made parameters non-finite, naming the first few.
fn nonfinite_update(opt: &AdamW, params: &[(String, Tensor)], step: usize, cfg: &TrainConfig) -> Error {
    let names: Vec<String> = match opt.nonfinite_params() {
        Ok(idx) => idx.iter().take(3).map(|&i| format!("`{}`", params[i].0)).collect(),
        Err(e) => vec![format!("(the flags could not be read: {e})")],
    };
    Error::invalid(
        "train",
        format!(
            "the optimizer step {step} made parameters non-finite (NaN or Inf), first {}; nothing was exported from them. Lower --learning-rate (now {:e}) or --max-grad-norm{}",
            names.join(", "),
            cfg.learning_rate,
            last_checkpoint_hint(cfg)
        ),
    )
}

/// "; checkpoint-N holds the last good weights" where a checkpoint exists.
fn last_checkpoint_hint(cfg: &TrainConfig) -> String {
    match checkpoint::list(&cfg.output_dir).last() {
        Some((step, dir)) => format!("; {} holds the weights of step {step}", dir.display()),
        None => String::new(),
    }
}

/// "DreamBooth on <model>, identifier `sks`": the title of the run's pictures.
fn run_title(cfg: &TrainConfig, model: &Model, identifier: &str) -> String {
    let name = cfg.output_dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let ident = if identifier.is_empty() { "no identifier".to_string() } else { format!("identifier `{identifier}`") };
    let prior = if cfg.with_prior_preservation {
        format!(", prior preservation (weight {})", cfg.prior_loss_weight)
    } else {
        String::new()
    };
    format!("{name}: DreamBooth on {}, {ident}{prior}", model.label())
}

/// All validation images (`validation/step-SSSSSS-I.png`), one row per validation step.
fn write_validation_grid(cfg: &TrainConfig, title: &str) -> Result<()> {
    let dir = cfg.output_dir.join("validation");
    let Ok(rd) = std::fs::read_dir(&dir) else { return Ok(()) };
    let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut samples = Vec::new();
    for f in &files {
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let Some(step) = name.strip_prefix("step-").and_then(|r| r.split('-').next()).and_then(|s| s.parse().ok())
        else {
            continue;
        };
        let Ok(img) = image::open(f) else { continue };
        let prompt = crate::imageio::png_text(f)
            .ok()
            .and_then(|t| t.into_iter().find(|(k, _)| k == "prompt").map(|(_, v)| v))
            .unwrap_or_default();
        let img = img.to_rgb8();
        let (width, height) = (img.width() as usize, img.height() as usize);
        samples.push(plot::Sample { step, prompt, height, width, rgb: img.into_raw() });
    }
    plot::validation_grid(&cfg.output_dir.join("validation_grid.png"), title, &samples)
}

/// What a finished run prints: where each output went, and the command that samples from it.
fn report_outputs(cfg: &TrainConfig, steps_run: usize, secs: f64, identifier: &str) {
    let out = &cfg.output_dir;
    let o = |p: &str| out.join(p).display().to_string();
    eprintln!("finished: {steps_run} steps in {secs:.0} s this run; the outputs are in {}", out.display());
    let lora_files: Vec<String> =
        [("diffusers", "pytorch_lora_weights.safetensors"), ("kohya", "lora_kohya.safetensors")]
            .iter()
            .filter(|(f, _)| cfg.lora_rank > 0 && (cfg.lora_format == *f || cfg.lora_format == "both"))
            .map(|(_, n)| o(n))
            .collect();
    if cfg.lora_rank > 0 {
        for f in &lora_files {
            eprintln!("  LoRA adapters:            {f}");
        }
    } else {
        eprintln!(
            "  model (diffusers folder): {}  (unet/ text_encoder/ vae/ tokenizer/ scheduler/ model_index.json)",
            out.display()
        );
    }
    if cfg.save_single_file {
        eprintln!("  single-file checkpoint:   {}", o("model.safetensors"));
    }
    eprintln!("  loss curve:               {}", o("loss.png"));
    eprintln!("  per-step log:             {}", o("logs.jsonl"));
    if !cfg.validation_prompts().is_empty() && cfg.num_validation_images > 0 {
        eprintln!("  validation samples:       {} and {}", o("validation/"), o("validation_grid.png"));
    }
    let prompt = match cfg.validation_prompts().last() {
        Some(p) => replace_identifier(p, identifier),
        None => replace_identifier(&cfg.instance_prompt, identifier),
    };
    eprintln!("sample from it:");
    let (model, lora) = match lora_files.first() {
        Some(f) => (cfg.pretrained_model.display().to_string(), format!(" --lora {}", shell_quote(f))),
        None => (out.display().to_string(), String::new()),
    };
    eprintln!(
        "  engine sample --model {}{lora} --prompt {} --out {}",
        shell_quote(&model),
        shell_quote(&prompt),
        shell_quote(&o("samples"))
    );
}

/// `s` as one POSIX shell word.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-:=+,".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The instance prompt with the identifier in place (for tests and `engine sample`).
pub fn instance_prompt(cfg: &TrainConfig, identifier: &str) -> String {
    replace_identifier(&cfg.instance_prompt, identifier)
}
