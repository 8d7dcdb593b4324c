//! Stable Diffusion 1.x: the CLIP text encoder, the VAE and the U-Net, with module paths that
//! mirror diffusers/transformers so that weights load by name, and the model folder that holds them.

pub mod clip;
pub mod config;
pub mod tokenizer;
pub mod unet;
pub mod vae;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::nn::{component_files, Loader, Source};
use config::{read_config, ClipConfig, UNetConfig, VaeConfig};

pub use clip::ClipTextModel;
pub use tokenizer::ClipTokenizer;
pub use unet::UNet2DConditionModel;
pub use vae::AutoencoderKL;

/// A diffusers-layout model folder (`model_index.json`, one sub-folder per component).
pub struct ModelDir {
    pub root: PathBuf,
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
                        format!("{} is a {class} (Stable Diffusion XL); the engine supports Stable Diffusion 1.x", root.display()),
                    ));
                }
            }
        } else if !root.join("unet").is_dir() {
            return Err(Error::invalid(
                "model",
                format!("{} has no model_index.json and no unet/: not a diffusers model folder", root.display()),
            ));
        }
        Ok(ModelDir { root: root.to_path_buf() })
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
        Ok(Source::files(files, format!("{}/{stem}.safetensors", dir.display())))
    }

    /// The U-Net and its parameters by diffusers name (trainable: they require grad).
    pub fn unet(&self, trainable: bool) -> Result<(UNet2DConditionModel, Loader)> {
        let cfg = self.unet_config()?;
        let vb = Loader::new(self.source("unet", "diffusion_pytorch_model")?, trainable);
        let m = UNet2DConditionModel::new(&vb, &cfg)?;
        check_cross(&cfg, self)?;
        Ok((m, vb))
    }

    pub fn vae(&self) -> Result<AutoencoderKL> {
        let cfg = self.vae_config()?;
        let vb = Loader::new(self.source("vae", "diffusion_pytorch_model")?, false);
        AutoencoderKL::new(&vb, &cfg)
    }

    pub fn text_encoder(&self, trainable: bool) -> Result<(ClipTextModel, Loader)> {
        let cfg = self.clip_config()?;
        let vb = Loader::new(self.source("text_encoder", "model")?, trainable);
        Ok((ClipTextModel::new(&vb, &cfg)?, vb))
    }

    pub fn tokenizer(&self) -> Result<ClipTokenizer> {
        ClipTokenizer::from_dir(&need_dir(&self.root, "tokenizer")?)
    }
}

/// The U-Net's cross-attention width must be the text encoder's width.
fn check_cross(cfg: &UNetConfig, dir: &ModelDir) -> Result<()> {
    if let Ok(clip) = dir.clip_config() {
        if clip.hidden_size != cfg.cross_attention_dim() {
            return Err(Error::invalid(
                "model",
                format!(
                    "{}: the U-Net's cross_attention_dim is {} but the text encoder is {} wide; the parts do not belong together",
                    dir.root.display(),
                    cfg.cross_attention_dim(),
                    clip.hidden_size
                ),
            ));
        }
    }
    Ok(())
}
