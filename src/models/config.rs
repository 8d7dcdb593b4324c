//! The models' own `config.json` files, with diffusers' and transformers' defaults for every
//! field they leave out. Fields we cannot honour are rejected by name, never silently ignored.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A field diffusers accepts as one value for every block or as a list with one per block.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum PerBlock<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> PerBlock<T> {
    pub fn expand(&self, n: usize, field: &str) -> Result<Vec<T>> {
        match self {
            PerBlock::One(v) => Ok(vec![v.clone(); n]),
            PerBlock::Many(v) if v.len() == n => Ok(v.clone()),
            PerBlock::Many(v) => {
                Err(Error::invalid("config", format!("{field} lists {} values but the model has {n} blocks", v.len())))
            }
        }
    }
}

pub fn read_config<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_str(&text).map_err(|e| Error::invalid("config", format!("{}: {e}", path.display())))
}

fn d_true() -> bool {
    true
}
fn d_in4() -> usize {
    4
}
fn d_groups() -> usize {
    32
}
fn d_silu() -> String {
    "silu".into()
}

/// diffusers `UNet2DConditionModel`'s configuration.
#[derive(Clone, Debug, Deserialize)]
pub struct UNetConfig {
    #[serde(default = "d_in4")]
    pub in_channels: usize,
    #[serde(default = "d_in4")]
    pub out_channels: usize,
    #[serde(default)]
    pub center_input_sample: bool,
    #[serde(default = "d_true")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: f64,
    #[serde(default = "UNetConfig::d_down")]
    pub down_block_types: Vec<String>,
    #[serde(default = "UNetConfig::d_mid")]
    pub mid_block_type: Option<String>,
    #[serde(default = "UNetConfig::d_up")]
    pub up_block_types: Vec<String>,
    #[serde(default = "UNetConfig::d_channels")]
    pub block_out_channels: Vec<usize>,
    #[serde(default = "UNetConfig::d_layers")]
    pub layers_per_block: PerBlock<usize>,
    #[serde(default = "UNetConfig::d_one_f")]
    pub downsample_padding: usize,
    #[serde(default = "UNetConfig::d_one")]
    pub mid_block_scale_factor: f64,
    #[serde(default = "d_silu")]
    pub act_fn: String,
    #[serde(default = "d_groups")]
    pub norm_num_groups: usize,
    #[serde(default = "UNetConfig::d_eps")]
    pub norm_eps: f64,
    #[serde(default = "UNetConfig::d_cross")]
    pub cross_attention_dim: PerBlock<usize>,
    #[serde(default = "UNetConfig::d_tlayers")]
    pub transformer_layers_per_block: PerBlock<usize>,
    #[serde(default = "UNetConfig::d_heads")]
    pub attention_head_dim: PerBlock<usize>,
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock<usize>>,
    #[serde(default)]
    pub use_linear_projection: bool,
    #[serde(default)]
    pub only_cross_attention: serde_json::Value,
    #[serde(default)]
    pub class_embed_type: Option<String>,
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    #[serde(default)]
    pub time_cond_proj_dim: Option<usize>,
    #[serde(default)]
    pub encoder_hid_dim: Option<usize>,
    #[serde(default)]
    pub resnet_time_scale_shift: Option<String>,
    #[serde(default)]
    pub time_embedding_type: Option<String>,
    #[serde(default)]
    pub dual_cross_attention: bool,
    #[serde(default = "UNetConfig::d_kernel")]
    pub conv_in_kernel: usize,
    #[serde(default = "UNetConfig::d_kernel")]
    pub conv_out_kernel: usize,
    #[serde(default)]
    pub sample_size: Option<usize>,
}

impl UNetConfig {
    fn d_down() -> Vec<String> {
        ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
            .map(String::from)
            .to_vec()
    }
    fn d_mid() -> Option<String> {
        Some("UNetMidBlock2DCrossAttn".into())
    }
    fn d_up() -> Vec<String> {
        ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"].map(String::from).to_vec()
    }
    fn d_channels() -> Vec<usize> {
        vec![320, 640, 1280, 1280]
    }
    fn d_layers() -> PerBlock<usize> {
        PerBlock::One(2)
    }
    fn d_one_f() -> usize {
        1
    }
    fn d_one() -> f64 {
        1.0
    }
    fn d_eps() -> f64 {
        1e-5
    }
    fn d_cross() -> PerBlock<usize> {
        PerBlock::One(1280)
    }
    fn d_tlayers() -> PerBlock<usize> {
        PerBlock::One(1)
    }
    fn d_heads() -> PerBlock<usize> {
        PerBlock::One(8)
    }
    fn d_kernel() -> usize {
        3
    }

    /// Rejects what the engine does not implement, naming the field and what is supported.
    pub fn check(&self, path: &Path) -> Result<()> {
        let p = path.display();
        let unsupported = |what: String| {
            Error::invalid(
                "config",
                format!("{p}: {what}. The engine supports the Stable Diffusion 1.x family (UNet2DConditionModel with CrossAttnDownBlock2D/DownBlock2D, UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D/UpBlock2D, a CLIP text encoder); SD 2.x, SDXL and their variants are not supported yet"),
            )
        };
        if self.addition_embed_type.is_some() || self.encoder_hid_dim.is_some() {
            return Err(unsupported(
                "addition_embed_type/encoder_hid_dim are set, which is SDXL's (or another model's) extra conditioning"
                    .into(),
            ));
        }
        if let Some(c) = &self.class_embed_type {
            return Err(unsupported(format!("class_embed_type `{c}` (class-conditioned U-Nets)")));
        }
        if self.time_cond_proj_dim.is_some() {
            return Err(unsupported("time_cond_proj_dim is set (latent consistency models)".into()));
        }
        if self.resnet_time_scale_shift.as_deref().is_some_and(|s| s != "default") {
            return Err(unsupported("resnet_time_scale_shift other than `default`".into()));
        }
        if self.time_embedding_type.as_deref().is_some_and(|s| s != "positional") {
            return Err(unsupported("time_embedding_type other than `positional`".into()));
        }
        if self.act_fn != "silu" {
            return Err(unsupported(format!("act_fn `{}`", self.act_fn)));
        }
        if self.dual_cross_attention
            || self.only_cross_attention.as_bool() == Some(true)
            || self.only_cross_attention.is_array()
        {
            return Err(unsupported("dual_cross_attention / only_cross_attention".into()));
        }
        if matches!(self.cross_attention_dim, PerBlock::Many(_)) {
            return Err(unsupported("a per-block cross_attention_dim".into()));
        }
        if self.cross_attention_dim() == 1024 {
            return Err(unsupported("cross_attention_dim 1024 is Stable Diffusion 2.x's OpenCLIP text encoder".into()));
        }
        let n = self.block_out_channels.len();
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err(Error::invalid(
                "config",
                format!("{p}: block_out_channels, down_block_types and up_block_types must have the same length"),
            ));
        }
        for t in &self.down_block_types {
            if t != "CrossAttnDownBlock2D" && t != "DownBlock2D" {
                return Err(unsupported(format!("down block type `{t}`")));
            }
        }
        for t in &self.up_block_types {
            if t != "CrossAttnUpBlock2D" && t != "UpBlock2D" {
                return Err(unsupported(format!("up block type `{t}`")));
            }
        }
        if self.mid_block_type.as_deref() != Some("UNetMidBlock2DCrossAttn") {
            return Err(unsupported(format!("mid block type {:?}", self.mid_block_type)));
        }
        if self.conv_in_kernel.is_multiple_of(2) || self.conv_out_kernel.is_multiple_of(2) {
            return Err(unsupported("an even conv_in_kernel/conv_out_kernel".into()));
        }
        self.heads()?;
        self.layers_per_block.expand(n, "layers_per_block")?;
        self.transformer_layers_per_block.expand(n, "transformer_layers_per_block")?;
        Ok(())
    }

    pub fn cross_attention_dim(&self) -> usize {
        match &self.cross_attention_dim {
            PerBlock::One(c) => *c,
            PerBlock::Many(v) => v[0],
        }
    }

    /// Heads per block. diffusers' historical quirk: for this model `attention_head_dim` is the
    /// number of heads, unless `num_attention_heads` is given.
    pub fn heads(&self) -> Result<Vec<usize>> {
        let n = self.block_out_channels.len();
        match &self.num_attention_heads {
            Some(h) => h.expand(n, "num_attention_heads"),
            None => self.attention_head_dim.expand(n, "attention_head_dim"),
        }
    }
}

fn d_vae_down() -> Vec<String> {
    vec!["DownEncoderBlock2D".into()]
}
fn d_vae_up() -> Vec<String> {
    vec!["UpDecoderBlock2D".into()]
}
fn d_vae_ch() -> Vec<usize> {
    vec![64]
}
fn d_one_us() -> usize {
    1
}
fn d_three() -> usize {
    3
}
fn d_scaling() -> f64 {
    0.18215
}

/// diffusers `AutoencoderKL`'s configuration.
#[derive(Clone, Debug, Deserialize)]
pub struct VaeConfig {
    #[serde(default = "d_three")]
    pub in_channels: usize,
    #[serde(default = "d_three")]
    pub out_channels: usize,
    #[serde(default = "d_vae_down")]
    pub down_block_types: Vec<String>,
    #[serde(default = "d_vae_up")]
    pub up_block_types: Vec<String>,
    #[serde(default = "d_vae_ch")]
    pub block_out_channels: Vec<usize>,
    #[serde(default = "d_one_us")]
    pub layers_per_block: usize,
    #[serde(default = "d_silu")]
    pub act_fn: String,
    #[serde(default = "d_in4")]
    pub latent_channels: usize,
    #[serde(default = "d_groups")]
    pub norm_num_groups: usize,
    #[serde(default = "d_scaling")]
    pub scaling_factor: f64,
    #[serde(default)]
    pub shift_factor: Option<f64>,
    #[serde(default = "d_true")]
    pub mid_block_add_attention: bool,
    #[serde(default)]
    pub sample_size: Option<serde_json::Value>,
}

impl VaeConfig {
    pub fn check(&self, path: &Path) -> Result<()> {
        let p = path.display();
        let bad = |what: String| {
            Error::invalid("config", format!("{p}: {what}; the engine supports AutoencoderKL with DownEncoderBlock2D/UpDecoderBlock2D blocks and SiLU (Stable Diffusion 1.x's VAE)"))
        };
        if self.block_out_channels.is_empty()
            || self.down_block_types.len() != self.block_out_channels.len()
            || self.up_block_types.len() != self.block_out_channels.len()
        {
            return Err(
                bad("block_out_channels, down_block_types and up_block_types must have the same length".into()),
            );
        }
        if let Some(t) = self.down_block_types.iter().find(|t| *t != "DownEncoderBlock2D") {
            return Err(bad(format!("down block type `{t}`")));
        }
        if let Some(t) = self.up_block_types.iter().find(|t| *t != "UpDecoderBlock2D") {
            return Err(bad(format!("up block type `{t}`")));
        }
        if self.act_fn != "silu" {
            return Err(bad(format!("act_fn `{}`", self.act_fn)));
        }
        if self.shift_factor.is_some_and(|s| s != 0.0) {
            return Err(bad("a shift_factor (SD3/Flux VAEs)".into()));
        }
        Ok(())
    }

    /// Pixels per latent along each side: 2^(levels - 1).
    pub fn downscale(&self) -> usize {
        1 << (self.block_out_channels.len() - 1)
    }
}

fn d_quick_gelu() -> String {
    "quick_gelu".into()
}
fn d_ln_eps() -> f64 {
    1e-5
}
fn d_77() -> usize {
    77
}

/// transformers `CLIPTextConfig`.
#[derive(Clone, Debug, Deserialize)]
pub struct ClipConfig {
    #[serde(default = "ClipConfig::d_vocab")]
    pub vocab_size: usize,
    #[serde(default = "ClipConfig::d_hidden")]
    pub hidden_size: usize,
    #[serde(default = "ClipConfig::d_inter")]
    pub intermediate_size: usize,
    #[serde(default = "ClipConfig::d_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "ClipConfig::d_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "d_77")]
    pub max_position_embeddings: usize,
    #[serde(default = "d_quick_gelu")]
    pub hidden_act: String,
    #[serde(default = "d_ln_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
}

impl ClipConfig {
    fn d_vocab() -> usize {
        49408
    }
    fn d_hidden() -> usize {
        512
    }
    fn d_inter() -> usize {
        2048
    }
    fn d_layers() -> usize {
        12
    }
    fn d_heads() -> usize {
        8
    }

    pub fn check(&self, path: &Path) -> Result<()> {
        let p = path.display();
        if let Some(a) = self.architectures.as_ref().and_then(|a| a.first()) {
            if a != "CLIPTextModel" {
                return Err(Error::invalid(
                    "config",
                    format!("{p}: architecture `{a}`; the engine supports CLIPTextModel (SD 1.x's text encoder), not SDXL's CLIPTextModelWithProjection or others"),
                ));
            }
        }
        if !["quick_gelu", "gelu"].contains(&self.hidden_act.as_str()) {
            return Err(Error::invalid(
                "config",
                format!("{p}: hidden_act `{}`; quick_gelu and gelu are supported", self.hidden_act),
            ));
        }
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::invalid(
                "config",
                format!("{p}: hidden_size {} does not split into {} heads", self.hidden_size, self.num_attention_heads),
            ));
        }
        Ok(())
    }
}

// The scheduler config (`scheduler/scheduler_config.json`), read here with the other configs;
// diffusion::Schedule turns it into the noise schedule.

fn d_t() -> usize {
    1000
}
fn d_b0() -> f64 {
    0.0001
}
fn d_b1() -> f64 {
    0.02
}
fn d_linear() -> String {
    "linear".into()
}
fn d_eps() -> String {
    "epsilon".into()
}

/// The fields of a diffusers scheduler config that define the schedule.
#[derive(Clone, Debug, Deserialize)]
pub struct ScheduleConfig {
    #[serde(default = "d_t")]
    pub num_train_timesteps: usize,
    #[serde(default = "d_b0")]
    pub beta_start: f64,
    #[serde(default = "d_b1")]
    pub beta_end: f64,
    #[serde(default = "d_linear")]
    pub beta_schedule: String,
    #[serde(default)]
    pub trained_betas: Option<Vec<f64>>,
    #[serde(default = "d_eps")]
    pub prediction_type: String,
    #[serde(default)]
    pub steps_offset: usize,
    #[serde(default = "d_leading")]
    pub timestep_spacing: String,
    /// DDIM: whether ᾱ after the last step is 1 or ᾱ_0 (diffusers' default is true; SD 1.x's
    /// config says false).
    #[serde(default = "d_true")]
    pub set_alpha_to_one: bool,
    /// Clip the predicted x0 to ±clip_sample_range. DDIMScheduler's class default is true, but
    /// every SD 1.x scheduler config sets it false and PNDM (SD 1.5's) has no such step, so an
    /// absent field means false here.
    #[serde(default)]
    pub clip_sample: bool,
    #[serde(default = "d_one")]
    pub clip_sample_range: f64,
    #[serde(default)]
    pub thresholding: bool,
}

fn d_leading() -> String {
    "leading".into()
}
fn d_one() -> f64 {
    1.0
}
