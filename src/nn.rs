//! Layers with named parameters, and the loader that fills them by name.
//!
//! As in candle's `VarBuilder`, a layer asks its loader for `weight` under a prefix that mirrors
//! the diffusers/transformers module path (`down_blocks.0.resnets.1.conv1.weight`), so weights load
//! with no renaming table; the loader checks each tensor's shape against what the config implies
//! and records it, in order, as a named parameter.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::ops::attention::attention;
use crate::ops::cast::autocast_input;
use crate::ops::gemm::linear;
use crate::tensor::{DType, Tensor};
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
    /// Trainable LoRA adapters to add to the modules the spec names (`engine train --lora-rank`).
    lora: Option<Arc<LoraSpec>>,
    /// The adapters handed out so far (`<module>.lora_A.weight`, `<module>.lora_B.weight`).
    adapters: Rc<RefCell<Vec<(String, Tensor)>>>,
    /// Adapter files merged into the weights as they load (`engine sample --lora`).
    merges: Option<Rc<LoraMerges>>,
    /// The storage of frozen Linear and Conv2d weights (`--mixed-precision`): the matrices
    /// that hold nearly all of the U-Net's and the VAE's bytes, read in half by GEMM and conv.
    /// Norms, biases and embedding tables stay f32 (their kernels read f32): under 1% of the
    /// U-Net, but CLIP's token embedding is 38 M of its 123 M parameters.
    frozen_dtype: DType,
}

/// Which modules get LoRA adapters (Hu et al. 2021, as peft adds them), and how they start.
#[derive(Debug)]
pub struct LoraSpec {
    /// r: the inner width of each adapter.
    pub rank: usize,
    /// The adapter's output is scaled by alpha / r.
    pub alpha: f32,
    /// Dropout on the adapter's input (peft's `lora_dropout`), during training only.
    pub dropout: f32,
    /// Module names matched against the end of each module path (`to_q`, `to_out.0`, ...).
    pub targets: Vec<String>,
    /// A is drawn from this seed and the module's path; B starts at zero.
    pub seed: u64,
    /// Mixed into each dropout mask: the trainer sets it per step, so that a step's masks are
    /// the same when gradient checkpointing recomputes a block, and new at the next step.
    pub dropout_seed: AtomicU64,
    /// Dropout applies only while this is set (the trainer's steps; never validation samples).
    pub training: AtomicBool,
}

impl LoraSpec {
    /// The adapted modules by default: the attention projections of every transformer block
    /// (diffusers' `train_dreambooth_lora.py` for the U-Net, peft's for CLIP).
    pub const UNET_ATTENTION: [&'static str; 4] = ["to_q", "to_k", "to_v", "to_out.0"];
    /// kohya's `train_network.py`: every linear and 1x1 conv inside a `Transformer2DModel`.
    pub const UNET_TRANSFORMER: [&'static str; 8] =
        ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out"];
    pub const CLIP_ATTENTION: [&'static str; 4] = ["q_proj", "k_proj", "v_proj", "out_proj"];
    /// kohya's for the text encoder: `CLIPAttention` and `CLIPMLP`.
    pub const CLIP_TRANSFORMER: [&'static str; 6] = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"];

    pub fn new(rank: usize, alpha: f32, dropout: f32, targets: &[&str], seed: u64) -> LoraSpec {
        LoraSpec {
            rank,
            alpha,
            dropout,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            seed,
            dropout_seed: AtomicU64::new(0),
            training: AtomicBool::new(false),
        }
    }

    fn adapts(&self, module: &str) -> bool {
        self.targets.iter().any(|t| module == t || module.strip_suffix(t.as_str()).is_some_and(|m| m.ends_with('.')))
    }
}

/// LoRA adapters read from files, to be added to the weights they adapt as those load: per
/// module, in the form `LoraMerges::key` gives it, each file's (A [r, in], B [out, r], scale).
#[derive(Default, Debug)]
pub struct LoraMerges {
    pub by_module: HashMap<String, Vec<LoraDelta>>,
    /// Modules merged so far (to report adapters that matched nothing).
    pub used: RefCell<std::collections::HashSet<String>>,
}

#[derive(Debug, Clone)]
pub struct LoraDelta {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub rank: usize,
    /// (alpha / r) times the user's --lora-scale.
    pub scale: f32,
    /// Which file it came from, for messages.
    pub file: String,
}

impl LoraMerges {
    /// The name both file layouts reduce to: the module path with `_` for `.`
    /// (`down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q`), as kohya writes it.
    pub fn key(module: &str) -> String {
        module.replace('.', "_")
    }
}

pub fn fnv1a(s: &str) -> u64 {
    fnv1a_extend(FNV1A_OFFSET, s.as_bytes())
}

/// FNV-1a's starting state.
pub const FNV1A_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a continued from the state `h` over `bytes` (a hash of several pieces).
pub fn fnv1a_extend(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
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
        Loader {
            source: Rc::new(source),
            prefix: String::new(),
            trainable,
            record: Rc::new(RefCell::new(Vec::new())),
            lora: None,
            adapters: Rc::new(RefCell::new(Vec::new())),
            merges: None,
            frozen_dtype: DType::F32,
        }
    }

    /// This loader, storing frozen Linear and Conv2d weights as `dtype` (rounded to nearest
    /// even as they load; exact where the file holds that dtype). Trainable weights stay f32.
    pub fn with_frozen_dtype(self, dtype: DType) -> Loader {
        Loader { frozen_dtype: dtype, ..self }
    }

    /// This loader, adding trainable adapters to the modules `spec` names.
    pub fn with_lora(self, spec: Arc<LoraSpec>) -> Loader {
        Loader { lora: Some(spec), ..self }
    }

    /// This loader, adding the adapters of `merges` to the weights they adapt as they load.
    pub fn with_merges(self, merges: Rc<LoraMerges>) -> Loader {
        Loader { merges: Some(merges), ..self }
    }

    /// The LoRA adapter of the module this loader stands for, where the spec names it: A drawn
    /// as peft does (kaiming-uniform with a = sqrt(5), i.e. U(±1/sqrt(in))), B zero, so that the
    /// adapted model starts equal to the base. A 1x1 conv's adapter is stored as convs are
    /// (A [r, in, 1, 1], B [out, r, 1, 1]), a linear's as [r, in] and [out, r]. Recorded in
    /// `adapters()`, always trainable.
    pub fn adapter(&self, in_dim: usize, out_dim: usize, conv: bool) -> Result<Option<Lora>> {
        let Some(spec) = &self.lora else { return Ok(None) };
        let module = self.prefix.trim_end_matches('.');
        if !spec.adapts(module) {
            return Ok(None);
        }
        let r = spec.rank;
        let tail: &[usize] = if conv { &[1, 1] } else { &[] };
        let (a_shape, b_shape) = ([&[r, in_dim][..], tail].concat(), [&[out_dim, r][..], tail].concat());
        let a_name = format!("{module}.lora_A.weight");
        let a = Tensor::from_slice(&random_tensor(spec.seed, &a_name, &a_shape), &a_shape)?.requires_grad_();
        let b = Tensor::zeros(&b_shape)?.requires_grad_();
        let mut rec = self.adapters.borrow_mut();
        rec.push((a_name, a.clone()));
        rec.push((format!("{module}.lora_B.weight"), b.clone()));
        Ok(Some(Lora { a, b, scale: spec.alpha / r as f32, spec: spec.clone(), key: fnv1a(module) }))
    }

    /// Every LoRA adapter handed out so far, A then B per module, with its full name.
    pub fn adapters(&self) -> Vec<(String, Tensor)> {
        self.adapters.borrow().clone()
    }

    /// The loader for a sub-module: `pp("down_blocks").pp(0)` → `down_blocks.0.`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Loader {
        Loader { prefix: format!("{}{name}.", self.prefix), ..self.clone() }
    }

    /// The tensor `name` under this prefix, which must have `shape`, in f32.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_as(name, shape, DType::F32)
    }

    /// The weight matrix of a Linear or Conv2d: stored in the loader's frozen dtype when it is
    /// not trainable.
    pub fn get_matrix(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let dtype = if self.trainable { DType::F32 } else { self.frozen_dtype };
        self.get_as(name, shape, dtype)
    }

    fn get_as(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
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
        let data = self.merged(&full, data, shape)?;
        let mut t = Tensor::from_slice_as(&data, shape, dtype)?;
        if self.trainable {
            t = t.requires_grad_();
        }
        self.record.borrow_mut().push((full, t.clone()));
        Ok(t)
    }

    /// `data` (the weight `full`, of `shape`) plus scale·B·A of every adapter file that adapts
    /// its module; a linear's [out, in] and a 1x1 conv's [out, in, 1, 1] are the same matrix.
    fn merged(&self, full: &str, mut data: Vec<f32>, shape: &[usize]) -> Result<Vec<f32>> {
        let Some(merges) = &self.merges else { return Ok(data) };
        let Some(module) = full.strip_suffix(".weight") else { return Ok(data) };
        let key = LoraMerges::key(module);
        let Some(deltas) = merges.by_module.get(&key) else { return Ok(data) };
        let (out, inn) = (shape[0], shape[1..].iter().product::<usize>());
        for d in deltas {
            if d.a.len() != d.rank * inn || d.b.len() != out * d.rank {
                return Err(Error::invalid(
                    "lora",
                    format!(
                        "{}: the adapter of `{module}` has A of {} and B of {} values at rank {}, but the model's weight is {shape:?}; the adapter was trained for another model",
                        d.file,
                        d.a.len(),
                        d.b.len(),
                        d.rank
                    ),
                ));
            }
            for o in 0..out {
                let row = &mut data[o * inn..(o + 1) * inn];
                for k in 0..d.rank {
                    let bk = d.scale * d.b[o * d.rank + k];
                    if bk != 0.0 {
                        for (w, a) in row.iter_mut().zip(&d.a[k * inn..(k + 1) * inn]) {
                            *w += bk * a;
                        }
                    }
                }
            }
        }
        merges.used.borrow_mut().insert(key);
        Ok(data)
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

/// The host data of parameter `name`, read back from the GPU; a non-finite value is an error
/// that names the tensor, so that no file is ever written from weights that are NaN or Inf
/// (the file being written is removed, as every failed write's is).
pub fn host_data(name: &str, t: &Tensor) -> Result<Vec<f32>> {
    let data = t.to_vec()?;
    let bad = data.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return Err(Error::invalid(
            "export",
            format!("parameter `{name}` holds {bad} non-finite values (NaN or Inf); nothing was written from it"),
        ));
    }
    Ok(data)
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

/// A LoRA adapter on one module (Hu et al. 2021; peft's `LoraLayer`): the module's output plus
/// scale · B·A·dropout(x), with A [r, in] and B [out, r] trained and the module's own weights
/// frozen. Forward keeps (through autograd) x's dropped copy and A·x for the gradients of B and A.
#[derive(Clone)]
pub struct Lora {
    pub a: Tensor,
    pub b: Tensor,
    /// alpha / r.
    pub scale: f32,
    spec: Arc<LoraSpec>,
    /// The module path's hash: with the step's seed, picks this module's dropout mask.
    key: u64,
}

impl Lora {
    /// x [..., in] -> scale · B·A·dropout(x) [..., out]; `x_in` is x as the base layer took it
    /// (rounded under --mixed-precision): the adapter shares it where no dropout applies.
    fn delta(&self, x: &Tensor, x_in: &Tensor) -> Result<Tensor> {
        let x = self.dropout(x)?.unwrap_or_else(|| x_in.clone());
        linear(&linear(&x, &self.a, None)?, &self.b, None)?.scale(self.scale)
    }

    /// x [B, in, H, W] -> the same delta over channels, for a 1x1 convolution [B, out, H, W]
    /// (A [r, in, 1, 1], B [out, r, 1, 1]).
    fn delta_conv(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.dropout(x)?.unwrap_or_else(|| x.clone());
        x.conv2d(&self.a, None, 1, 0)?.conv2d(&self.b, None, 1, 0)?.scale(self.scale)
    }

    /// Inverted dropout (kept values scaled by 1 / (1 - p)) during training steps, with a
    /// mask drawn on the GPU from the step's seed and the module: the same mask when the block
    /// is recomputed for gradient checkpointing. None where it is off (sampling, p = 0).
    fn dropout(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let p = self.spec.dropout;
        if p <= 0.0 || !self.spec.training.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let seed = self.spec.dropout_seed.load(Ordering::Relaxed) ^ self.key;
        // The mask multiplies in f32: an input already rounded by autocast (an attention block's
        // shared input) is widened, exactly.
        Ok(Some(x.cast(DType::F32)?.mul(&crate::ops::elementwise::dropout_mask(x.shape(), p, seed)?)?))
    }
}

/// torch.nn.Linear, with a LoRA adapter where the loader adds one.
#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<Lora>,
}

impl Linear {
    pub fn new(vb: &Loader, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
        let weight = vb.get_matrix("weight", &[out_dim, in_dim])?;
        let bias = if bias { Some(vb.get("bias", &[out_dim])?) } else { None };
        Ok(Linear { weight, bias, lora: vb.adapter(in_dim, out_dim, false)? })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // Under --mixed-precision, one half copy of x serves the base and the adapter.
        let x_in = &autocast_input(x)?;
        let y = linear(x_in, &self.weight, self.bias.as_ref())?;
        match &self.lora {
            Some(l) => y.add(&l.delta(x, x_in)?),
            None => Ok(y),
        }
    }
}

/// torch.nn.Conv2d with square kernels, symmetric padding; a 1x1 one (stride 1) takes a LoRA
/// adapter where the loader adds one (kohya adapts `proj_in`/`proj_out` so).
#[derive(Clone)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: usize,
    pub padding: usize,
    pub lora: Option<Lora>,
}

impl Conv2d {
    pub fn new(vb: &Loader, cin: usize, cout: usize, k: usize, stride: usize, padding: usize) -> Result<Conv2d> {
        let weight = vb.get_matrix("weight", &[cout, cin, k, k])?;
        let bias = Some(vb.get("bias", &[cout])?);
        let lora = if (k, stride, padding) == (1, 1, 0) { vb.adapter(cin, cout, true)? } else { None };
        Ok(Conv2d { weight, bias, stride, padding, lora })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv2d(&self.weight, self.bias.as_ref(), self.stride, self.padding)?;
        match &self.lora {
            Some(l) => y.add(&l.delta_conv(x)?),
            None => Ok(y),
        }
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
