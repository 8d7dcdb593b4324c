//! Layers with named parameters, and the loader that fills them by name.
//!
//! As in candle's `VarBuilder`, a layer asks its loader for `weight` under a prefix that mirrors
//! the diffusers/transformers module path (`down_blocks.0.resnets.1.conv1.weight`), so weights load
//! with no renaming table; the loader checks each tensor's shape against what the config implies
//! and records it, in order, as a named parameter.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::ops::attention::attention;
use crate::ops::gemm::linear;
use crate::tensor::Tensor;
use crate::weights::SafeFile;

/// Where a model's tensors come from.
pub enum Source {
    /// One or more safetensors files (shards); `rename` maps a module path to the key in the file
    /// (the single-file CompVis layout, or a text encoder saved by transformers 5.x), absent where
    /// the file's keys are the module paths.
    Files { files: Vec<SafeFile>, rename: Option<HashMap<String, String>>, label: String },
    /// Deterministic random weights from a seed (full-size tests, the embedded tiny model).
    Random { seed: u64 },
}

/// Hands out parameters under a module path. Cheap to clone; clones share the record.
#[derive(Clone)]
pub struct Loader {
    source: Rc<Source>,
    prefix: String,
    trainable: bool,
    record: Rc<RefCell<Vec<(String, Tensor)>>>,
}

pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// torch's default initialisation, by kind of tensor: norm weights 1, biases 0, other weights
/// uniform in ±1/sqrt(fan_in) (nn.Linear/nn.Conv2d's bound), embedding tables N(0, 0.02)-sized.
fn random_tensor(seed: u64, name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    if name.ends_with("bias") {
        return vec![0.0; n];
    }
    if shape.len() == 1 {
        return vec![1.0; n];
    }
    let bound = if name.contains("embedding") { 0.02 * 3f32.sqrt() } else { 1.0 / ((n / shape[0]) as f32).sqrt() };
    // The seed's own SplitMix64 stream (rng.rs), started from the seed mixed with the name.
    let mut rng = crate::rng::Rng::from_state(seed ^ fnv1a(name));
    (0..n).map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound).collect()
}

impl Loader {
    pub fn new(source: Source, trainable: bool) -> Loader {
        Loader { source: Rc::new(source), prefix: String::new(), trainable, record: Rc::new(RefCell::new(Vec::new())) }
    }

    /// The loader for a sub-module: `pp("down_blocks").pp(0)` → `down_blocks.0.`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Loader {
        Loader { prefix: format!("{}{name}.", self.prefix), ..self.clone() }
    }

    /// The tensor `name` under this prefix, which must have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let data = match &*self.source {
            Source::Random { seed } => random_tensor(*seed, &full, shape),
            Source::Files { files, rename, label } => {
                let key = rename.as_ref().and_then(|r| r.get(&full)).unwrap_or(&full);
                let file = files.iter().find(|f| f.get(key).is_some()).ok_or_else(|| {
                    let via = if key != &full { format!(" (`{full}` in diffusers naming)") } else { String::new() };
                    Error::invalid(
                        "weights",
                        format!("{label} has no tensor `{key}`{via}; the config needs it with shape {shape:?}"),
                    )
                })?;
                let (got, data) = file.read_f32(key)?;
                // Old VAE checkpoints store attention projections as 1x1 convs: [C, C, 1, 1] for [C, C].
                let strip = |s: &[usize]| {
                    let mut v = s.to_vec();
                    while v.len() > 2 && v.last() == Some(&1) {
                        v.pop();
                    }
                    v
                };
                let bad = data.iter().filter(|v| !v.is_finite()).count();
                if bad > 0 {
                    return Err(Error::invalid(
                        "weights",
                        format!(
                            "{}: tensor `{key}` holds {bad} non-finite values (NaN or Inf) of {}: the file is damaged or was saved from a run that diverged; these weights cannot be used",
                            file.path.display(),
                            data.len()
                        ),
                    ));
                }
                if got != shape && strip(&got) != strip(shape) {
                    return Err(Error::invalid(
                        "weights",
                        format!(
                            "{}: tensor `{key}` has shape {got:?} but the config needs {shape:?}; the weights and config.json do not belong together",
                            file.path.display()
                        ),
                    ));
                }
                data
            }
        };
        let mut t = Tensor::from_slice(&data, shape)?;
        if self.trainable {
            t = t.requires_grad_();
        }
        self.record.borrow_mut().push((full, t.clone()));
        Ok(t)
    }

    /// Every parameter handed out so far, in order, with its full module path.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        self.record.borrow().clone()
    }

    pub fn label(&self) -> String {
        match &*self.source {
            Source::Random { seed } => format!("random weights (seed {seed})"),
            Source::Files { label, .. } => label.clone(),
        }
    }
}

/// The files of one component folder: `<stem>.safetensors`, else its `.fp16` variant, else the
/// shards listed by `<stem>.safetensors.index.json`.
pub fn component_files(dir: &std::path::Path, stem: &str) -> Result<Vec<SafeFile>> {
    let plain = dir.join(format!("{stem}.safetensors"));
    let fp16 = dir.join(format!("{stem}.fp16.safetensors"));
    let index = dir.join(format!("{stem}.safetensors.index.json"));
    if plain.is_file() {
        return Ok(vec![SafeFile::open(&plain)?]);
    }
    if fp16.is_file() {
        return Ok(vec![SafeFile::open(&fp16)?]);
    }
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(format!("reading {}", index.display()), e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::invalid("weights", format!("{}: {e}", index.display())))?;
        let mut names: Vec<String> = v["weight_map"]
            .as_object()
            .ok_or_else(|| Error::invalid("weights", format!("{} has no weight_map", index.display())))?
            .values()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        return names.iter().map(|n| SafeFile::open(&dir.join(n))).collect();
    }
    let bin = dir.join(format!("{stem}.bin"));
    let hint = if bin.is_file() || dir.join("pytorch_model.bin").is_file() {
        " (only a PyTorch .bin is there: convert it to safetensors, e.g. with diffusers' save_pretrained(safe_serialization=True))"
    } else {
        ""
    };
    Err(Error::invalid("weights", format!("{} holds no {stem}.safetensors{hint}", dir.display())))
}

/// torch.nn.Linear.
#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn new(vb: &Loader, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
        let weight = vb.get("weight", &[out_dim, in_dim])?;
        let bias = if bias { Some(vb.get("bias", &[out_dim])?) } else { None };
        Ok(Linear { weight, bias })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        linear(x, &self.weight, self.bias.as_ref())
    }
}

/// torch.nn.Conv2d with square kernels, symmetric padding.
#[derive(Clone)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2d {
    pub fn new(vb: &Loader, cin: usize, cout: usize, k: usize, stride: usize, padding: usize) -> Result<Conv2d> {
        let weight = vb.get("weight", &[cout, cin, k, k])?;
        let bias = Some(vb.get("bias", &[cout])?);
        Ok(Conv2d { weight, bias, stride, padding })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d(&self.weight, self.bias.as_ref(), self.stride, self.padding)
    }
}

/// torch.nn.GroupNorm (affine).
#[derive(Clone)]
pub struct GroupNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub groups: usize,
    pub eps: f32,
}

impl GroupNorm {
    pub fn new(vb: &Loader, groups: usize, channels: usize, eps: f64) -> Result<GroupNorm> {
        if groups == 0 || !channels.is_multiple_of(groups) {
            return Err(Error::invalid(
                "config",
                format!(
                    "{}: {channels} channels do not split into norm_num_groups = {groups}",
                    vb.prefix.trim_end_matches('.')
                ),
            ));
        }
        Ok(GroupNorm {
            weight: vb.get("weight", &[channels])?,
            bias: vb.get("bias", &[channels])?,
            groups,
            eps: eps as f32,
        })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.group_norm(self.groups, &self.weight, &self.bias, self.eps)
    }
}

/// torch.nn.LayerNorm over the last axis (affine).
#[derive(Clone)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f32,
}

impl LayerNorm {
    pub fn new(vb: &Loader, dim: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm { weight: vb.get("weight", &[dim])?, bias: vb.get("bias", &[dim])?, eps: eps as f32 })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(&self.weight, &self.bias, self.eps)
    }
}

/// Multi-head scaled dot-product attention of q [B, Nq, H·Dh] with k, v [B, Nk, H·Dh]
/// -> [B, Nq, H·Dh], through [`attention`] (which picks its form: any head width, including
/// the VAE's single 512-wide head, without storing the whole [Nq, Nk] score matrix).
pub fn multi_head_attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, causal: bool) -> Result<Tensor> {
    let (b, nq, c) = (q.dim(0), q.dim(1), q.dim(2));
    let nk = k.dim(1);
    if heads == 0 || !c.is_multiple_of(heads) {
        return Err(Error::invalid("attention", format!("{c} channels do not split into {heads} heads")));
    }
    let dh = c / heads;
    let split = |t: &Tensor, n: usize| -> Result<Tensor> {
        if heads == 1 {
            return Ok(t.clone());
        }
        t.reshape(&[b, n, heads, dh])?.permute(&[0, 2, 1, 3])?.reshape(&[b * heads, n, dh])
    };
    let (qh, kh, vh) = (split(q, nq)?, split(k, nk)?, split(v, nk)?);
    let scale = 1.0 / (dh as f32).sqrt();
    let o = attention(&qh, &kh, &vh, causal, scale)?;
    if heads == 1 {
        return Ok(o);
    }
    o.reshape(&[b, heads, nq, dh])?.permute(&[0, 2, 1, 3])?.reshape(&[b, nq, c])
}
