//! Stable Diffusion 1.x: the CLIP text encoder, the VAE and the U-Net, with module paths that
//! mirror diffusers/transformers so that weights load by name, and the model folder that holds them.

pub mod clip;
pub mod config;
pub mod emoji;
pub mod lora;
pub mod resnet;
pub mod single_file;
pub mod tokenizer;
pub mod unet;
pub mod vae;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::nn::{component_files, Loader, Source};
use crate::tensor::DType;
use crate::weights::SafeFile;
use config::{read_config, ClipConfig, ScheduleConfig, UNetConfig, VaeConfig};

pub use clip::ClipTextModel;
pub use lora::Adapt;
pub use tokenizer::ClipTokenizer;
pub use unet::UNet2DConditionModel;
pub use vae::AutoencoderKL;

/// Where a model's parts come from: a diffusers folder, or one original-layout checkpoint with
/// configs from weights.toml (or from a folder's config.json files).
pub enum Model {
    Folder(ModelDir),
    SingleFile {
        file: single_file::SingleFile,
        configs: Option<ModelDir>,
    },
    /// A model of weights.toml `[models.<name>]` with deterministic random weights
    /// (`builtin:tiny`). (`builtin:emoji`, which has trained weights, is a `Folder`.)
    Builtin {
        name: String,
        seed: u64,
    },
}

impl Model {
    /// A diffusers folder, or a `.safetensors` single-file checkpoint.
    pub fn open(path: &Path) -> Result<Model> {
        if let Some(name) = path.to_str().and_then(|s| s.strip_prefix("builtin:")) {
            if name == "emoji" {
                let mut dir = ModelDir::open(&emoji::folder()?)?;
                dir.name = Some("builtin:emoji".into());
                return Ok(Model::Folder(dir));
            }
            let seed = single_file::builtin_table(&format!("models.{name}.seed"))
                .ok()
                .and_then(|v| v.as_integer())
                .ok_or_else(|| {
                    Error::invalid(
                        "model",
                        format!("there is no built-in model `{name}`; there are `builtin:emoji` (trained on emoji) and `builtin:tiny` (random weights)"),
                    )
                })?;
            return Ok(Model::Builtin { name: name.to_string(), seed: seed as u64 });
        }
        if path.is_dir() {
            return Ok(Model::Folder(ModelDir::open(path)?));
        }
        if !path.exists() {
            return Err(Error::invalid("model", format!("{} does not exist", path.display())));
        }
        Ok(Model::SingleFile { file: single_file::SingleFile::open(path)?, configs: None })
    }

    /// A single-file checkpoint whose configs are not SD 1.5's but those of the folder `configs`.
    pub fn single_file_with_configs(path: &Path, configs: &Path) -> Result<Model> {
        Ok(Model::SingleFile { file: single_file::SingleFile::open(path)?, configs: Some(ModelDir::open(configs)?) })
    }

    pub fn unet_config(&self) -> Result<UNetConfig> {
        match self {
            Model::Folder(d) | Model::SingleFile { configs: Some(d), .. } => d.unet_config(),
            Model::SingleFile { .. } => single_file::builtin_config("sd15", "unet"),
            Model::Builtin { name, .. } => single_file::builtin_config(name, "unet"),
        }
    }
    pub fn vae_config(&self) -> Result<VaeConfig> {
        match self {
            Model::Folder(d) | Model::SingleFile { configs: Some(d), .. } => d.vae_config(),
            Model::SingleFile { .. } => single_file::builtin_config("sd15", "vae"),
            Model::Builtin { name, .. } => single_file::builtin_config(name, "vae"),
        }
    }
    pub fn clip_config(&self) -> Result<ClipConfig> {
        match self {
            Model::Folder(d) | Model::SingleFile { configs: Some(d), .. } => d.clip_config(),
            Model::SingleFile { .. } => single_file::builtin_config("sd15", "text_encoder"),
            Model::Builtin { name, .. } => single_file::builtin_config(name, "text_encoder"),
        }
    }

    fn source(&self, component: &str, stem: &str) -> Result<Source> {
        match self {
            Model::Folder(d) => d.source(component, stem),
            Model::SingleFile { file, .. } => file.source(component),
            // One seed per component, so that each part is the same whatever else is built.
            Model::Builtin { seed, .. } => Ok(Source::Random { seed: seed ^ crate::nn::fnv1a(component) }),
        }
    }

    pub fn unet(&self, trainable: bool) -> Result<(UNet2DConditionModel, Loader)> {
        self.unet_adapted(trainable, &Adapt::default())
    }

    /// The U-Net with LoRA adapters added (trainable) or merged in (from files), as `adapt` says.
    pub fn unet_adapted(&self, trainable: bool, adapt: &Adapt) -> Result<(UNet2DConditionModel, Loader)> {
        let cfg = self.unet_config()?;
        let clip = self.clip_config()?;
        if clip.hidden_size != cfg.cross_attention_dim() {
            return Err(Error::invalid(
                "model",
                format!(
                    "{}: the U-Net's cross_attention_dim is {} but the text encoder is {} wide; the parts do not belong together",
                    self.label(),
                    cfg.cross_attention_dim(),
                    clip.hidden_size
                ),
            ));
        }
        let vb = adapt.apply(Loader::new(self.source("unet", "diffusion_pytorch_model")?, trainable));
        Ok((UNet2DConditionModel::new(&vb, &cfg)?, vb))
    }

    pub fn vae(&self) -> Result<AutoencoderKL> {
        Ok(self.vae_with_loader()?.0)
    }

    /// The VAE and its (frozen) parameters by name, for writing it back out.
    pub fn vae_with_loader(&self) -> Result<(AutoencoderKL, Loader)> {
        self.vae_in(DType::F32)
    }

    /// The VAE with its Linear/Conv2d weights stored as `dtype` (`--mixed-precision`).
    pub fn vae_in(&self, dtype: DType) -> Result<(AutoencoderKL, Loader)> {
        let vb = Loader::new(self.source("vae", "diffusion_pytorch_model")?, false).with_frozen_dtype(dtype);
        Ok((AutoencoderKL::new(&vb, &self.vae_config()?)?, vb))
    }

    /// The component config as JSON, as a diffusers folder would hold it (`unet`, `vae`,
    /// `text_encoder`, `scheduler`).
    pub fn config_json(&self, component: &str) -> Result<serde_json::Value> {
        let (file, class) = match component {
            "unet" => ("unet/config.json", "UNet2DConditionModel"),
            "vae" => ("vae/config.json", "AutoencoderKL"),
            "text_encoder" => ("text_encoder/config.json", "CLIPTextModel"),
            _ => ("scheduler/scheduler_config.json", "DDIMScheduler"),
        };
        let mut v: serde_json::Value = match self {
            Model::Folder(d) | Model::SingleFile { configs: Some(d), .. } => read_config(&d.root.join(file))?,
            Model::SingleFile { .. } | Model::Builtin { .. } => {
                let name = if let Model::Builtin { name, .. } = self { name.as_str() } else { "sd15" };
                let t = single_file::builtin_table(&format!("models.{name}.{component}"))?;
                serde_json::to_value(t).map_err(|e| Error::invalid("weights.toml", e.to_string()))?
            }
        };
        if let serde_json::Value::Object(o) = &mut v {
            if component == "text_encoder" {
                o.entry("model_type").or_insert("clip_text_model".into());
            } else {
                o.entry("_class_name").or_insert(class.into());
            }
        }
        Ok(v)
    }

    pub fn text_encoder(&self, trainable: bool) -> Result<(ClipTextModel, Loader)> {
        self.text_encoder_adapted(trainable, &Adapt::default())
    }

    /// The text encoder with LoRA adapters added or merged in, as `adapt` says.
    pub fn text_encoder_adapted(&self, trainable: bool, adapt: &Adapt) -> Result<(ClipTextModel, Loader)> {
        let vb = adapt.apply(Loader::new(self.source("text_encoder", "model")?, trainable));
        Ok((ClipTextModel::new(&vb, &self.clip_config()?)?, vb))
    }

    pub fn tokenizer(&self) -> Result<ClipTokenizer> {
        match self {
            Model::Folder(d) => d.tokenizer(),
            Model::SingleFile { .. } | Model::Builtin { .. } => ClipTokenizer::shipped(),
        }
    }

    /// The scheduler config: the folder's scheduler_config.json, or SD 1.5's (single files) or
    /// the built-in model's from weights.toml; with where it came from, for errors.
    pub fn schedule_config(&self) -> Result<(ScheduleConfig, String)> {
        match self {
            Model::Folder(d) | Model::SingleFile { configs: Some(d), .. } => {
                let p = need_dir(&d.root, "scheduler")?.join("scheduler_config.json");
                Ok((read_config(&p)?, p.display().to_string()))
            }
            Model::SingleFile { .. } => {
                Ok((single_file::builtin_config("sd15", "scheduler")?, "weights.toml [models.sd15.scheduler]".into()))
            }
            Model::Builtin { name, .. } => {
                Ok((single_file::builtin_config(name, "scheduler")?, format!("weights.toml [models.{name}.scheduler]")))
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            Model::Folder(d) => d.name.clone().unwrap_or_else(|| d.root.display().to_string()),
            Model::SingleFile { file, .. } => file.path.display().to_string(),
            Model::Builtin { name, .. } => format!("builtin:{name}"),
        }
    }
}

/// The text encoder's parameters are named as transformers 4.x saves `CLIPTextModel` (and as
/// every SD 1.x release holds them): `text_model.embeddings.…`. transformers 5.x saves the same
/// model without the `text_model.` prefix. Which layout a file has is decided by the keys present:
/// for a file of the unprefixed layout, the map from the engine's names to the file's keys.
fn text_model_layout(files: &[SafeFile]) -> Option<HashMap<String, String>> {
    let has = |k: &str| files.iter().any(|f| f.get(k).is_some());
    if has("text_model.embeddings.token_embedding.weight") || !has("embeddings.token_embedding.weight") {
        return None;
    }
    Some(files.iter().flat_map(|f| f.entries.keys()).map(|k| (format!("text_model.{k}"), k.clone())).collect())
}

/// The largest side an image may have, in pixels: far beyond any size SD 1.x was trained for
/// (512), and small enough that the host's copy of one image stays under 4 GB.
pub const MAX_IMAGE_SIDE: usize = 16384;

/// Refuses an image size before anything is allocated: a side above [`MAX_IMAGE_SIDE`], or a
/// VAE activation at full resolution (its widest level, batch 1, f32) larger than one buffer
/// of the adapter may be. `flags` names what the user set ("--resolution 70000").
pub fn check_image_size(vae: &VaeConfig, h: usize, w: usize, flags: &str) -> Result<()> {
    if h > MAX_IMAGE_SIDE || w > MAX_IMAGE_SIDE {
        return Err(Error::invalid(
            "size",
            format!("{flags}: {h}x{w} pixels is above the engine's limit of {MAX_IMAGE_SIDE} a side (SD 1.x is trained at 512)"),
        ));
    }
    let widest = vae.block_out_channels.iter().copied().max().unwrap_or(1);
    let full = vae.block_out_channels.first().copied().unwrap_or(1);
    // The decoder's last level runs `full` channels at full resolution; the widest level at
    // its own resolution is never larger for SD's VAE, but check the larger of the two.
    let levels = vae.block_out_channels.len().saturating_sub(1) as u32;
    let bytes = ((full * h * w).max((widest * h * w) >> (2 * levels)) * 4) as u64;
    let ctx = crate::tensor::Tensor::ctx()?;
    let limit = ctx.limits.max_buffer_size;
    if bytes > limit {
        return Err(Error::invalid(
            "size",
            format!(
                "{flags}: at {h}x{w} pixels one VAE activation ([1, {full}, {h}, {w}] in f32) needs {}, but this adapter ({}) allows buffers of at most {}; choose a smaller size",
                crate::fsutil::human_bytes(bytes),
                ctx.info.name,
                crate::fsutil::human_bytes(limit)
            ),
        ));
    }
    Ok(())
}

/// A diffusers-layout model folder (`model_index.json`, one sub-folder per component).
pub struct ModelDir {
    pub root: PathBuf,
    /// What to call it when that is not its path (`builtin:emoji`).
    pub name: Option<String>,
}

fn need_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let d = root.join(name);
    if !d.is_dir() {
        return Err(Error::invalid(
            "model",
            format!("{} has no {name}/ folder; a diffusers Stable Diffusion folder holds unet/, vae/, text_encoder/, tokenizer/ and scheduler/", root.display()),
        ));
    }
    Ok(d)
}

impl ModelDir {
    pub fn open(root: &Path) -> Result<ModelDir> {
        if !root.is_dir() {
            return Err(Error::invalid("model", format!("{} is not a directory", root.display())));
        }
        let index = root.join("model_index.json");
        if index.is_file() {
            let v: serde_json::Value = read_config(&index)?;
            if let Some(class) = v.get("_class_name").and_then(|c| c.as_str()) {
                if class.contains("XL") || v.get("text_encoder_2").is_some() {
                    return Err(Error::invalid(
                        "model",
                        format!(
                            "{} is a {class} (Stable Diffusion XL); the engine supports Stable Diffusion 1.x",
                            root.display()
                        ),
                    ));
                }
            }
        } else if !root.join("unet").is_dir() {
            return Err(Error::invalid(
                "model",
                format!("{} has no model_index.json and no unet/: not a diffusers model folder", root.display()),
            ));
        }
        Ok(ModelDir { root: root.to_path_buf(), name: None })
    }

    pub fn unet_config(&self) -> Result<UNetConfig> {
        let p = need_dir(&self.root, "unet")?.join("config.json");
        let c: UNetConfig = read_config(&p)?;
        c.check(&p)?;
        Ok(c)
    }

    pub fn vae_config(&self) -> Result<VaeConfig> {
        let p = need_dir(&self.root, "vae")?.join("config.json");
        let c: VaeConfig = read_config(&p)?;
        c.check(&p)?;
        Ok(c)
    }

    pub fn clip_config(&self) -> Result<ClipConfig> {
        let p = need_dir(&self.root, "text_encoder")?.join("config.json");
        let c: ClipConfig = read_config(&p)?;
        c.check(&p)?;
        if c.hidden_size == 1024 {
            return Err(Error::invalid(
                "config",
                format!("{}: a 1024-wide text encoder is Stable Diffusion 2.x's OpenCLIP-H; the engine supports Stable Diffusion 1.x (CLIP ViT-L/14, width 768)", p.display()),
            ));
        }
        Ok(c)
    }

    fn source(&self, component: &str, stem: &str) -> Result<Source> {
        let dir = need_dir(&self.root, component)?;
        let files = component_files(&dir, stem)?;
        let label = format!("{}/{stem}.safetensors", dir.display());
        let rename = if component == "text_encoder" { text_model_layout(&files) } else { None };
        Ok(Source::Files { files, rename, label })
    }

    pub fn tokenizer(&self) -> Result<ClipTokenizer> {
        ClipTokenizer::from_dir(&need_dir(&self.root, "tokenizer")?)
    }
}
