//! LoRA adapter files in the two layouts people generate images with:
//!
//! - diffusers/peft (`pytorch_lora_weights.safetensors`, what `train_dreambooth_lora.py` writes
//!   and `StableDiffusionPipeline.load_lora_weights` reads): `unet.<module>.lora_A.weight`
//!   [r, in], `unet.<module>.lora_B.weight` [out, r], `text_encoder.<module>.…`; the scale is
//!   1 (alpha = r) unless the file says otherwise, so the engine writes B·(alpha/r) there;
//! - kohya (A1111, ComfyUI, `train_network.py`): `lora_unet_<module with _ for .>.lora_down.weight`,
//!   `.lora_up.weight`, `.alpha` (a scalar; the scale is alpha / r), `lora_te_…` for the text
//!   encoder, with `ss_*` training metadata in the header.
//!
//! Reading accepts both, and diffusers' older `…lora.down.weight` / `lora_linear_layer` names; the
//! adapters become [`LoraMerges`] that the loader adds to the weights they adapt as those load.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::nn::{Loader, LoraDelta, LoraMerges, LoraSpec};
use crate::tensor::{DType, Tensor};
use crate::weights::{save, OutData, SafeFile};

/// How a network's weights load: trainable adapters or files merged in, and the storage dtype
/// of its frozen Linear/Conv2d weights (`--mixed-precision`).
#[derive(Default, Clone)]
pub struct Adapt {
    pub lora: Option<Arc<LoraSpec>>,
    pub merges: Option<Rc<LoraMerges>>,
    pub frozen_dtype: DType,
}

impl Adapt {
    pub fn apply(&self, vb: Loader) -> Loader {
        let vb = vb.with_frozen_dtype(self.frozen_dtype);
        let vb = match &self.lora {
            Some(spec) => vb.with_lora(spec.clone()),
            None => vb,
        };
        match &self.merges {
            Some(m) => vb.with_merges(m.clone()),
            None => vb,
        }
    }
}

/// The two layouts an adapter file is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoraFormat {
    Diffusers,
    Kohya,
}

/// Which network an adapter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Unet,
    TextEncoder,
}

impl Part {
    fn kohya_prefix(self) -> &'static str {
        match self {
            Part::Unet => "lora_unet_",
            Part::TextEncoder => "lora_te_",
        }
    }
    fn diffusers_prefix(self) -> &'static str {
        match self {
            Part::Unet => "unet.",
            Part::TextEncoder => "text_encoder.",
        }
    }
}

/// One trained adapter: its module path and its A and B tensors (as the loader made them).
pub struct Adapter<'a> {
    pub part: Part,
    pub module: String,
    pub a: &'a Tensor,
    pub b: &'a Tensor,
}

/// Pairs a loader's `adapters()` (A then B of each module) into [`Adapter`]s.
pub fn pair(part: Part, adapters: &[(String, Tensor)]) -> Vec<Adapter<'_>> {
    adapters
        .chunks(2)
        .filter_map(|ab| {
            let module = ab[0].0.strip_suffix(".lora_A.weight")?;
            (ab.len() == 2 && ab[1].0 == format!("{module}.lora_B.weight")).then(|| Adapter {
                part,
                module: module.to_string(),
                a: &ab[0].1,
                b: &ab[1].1,
            })
        })
        .collect()
}

/// Writes `adapters` as one safetensors file in `format`, atomically. `rank` and `alpha` are the
/// run's; `metadata` goes into the header (kohya's `ss_*` keys for that layout).
pub fn write(
    path: &Path,
    format: LoraFormat,
    adapters: &[Adapter],
    rank: usize,
    alpha: f32,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let scale = alpha / rank as f32;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for ad in adapters {
        let read = |name: &str, t: &Tensor| crate::nn::host_data(name, t);
        let (a, b) = (
            read(&format!("{}.lora_A.weight", ad.module), ad.a)?,
            read(&format!("{}.lora_B.weight", ad.module), ad.b)?,
        );
        match format {
            LoraFormat::Diffusers => {
                let name = format!("{}{}", ad.part.diffusers_prefix(), ad.module);
                // diffusers reads alpha = r (scale 1) from a file without adapter metadata: the
                // scale goes into B, so that every loader computes the same W + (alpha/r)·B·A.
                let b: Vec<f32> = b.iter().map(|v| v * scale).collect();
                tensors.push((format!("{name}.lora_A.weight"), ad.a.shape().to_vec(), a));
                tensors.push((format!("{name}.lora_B.weight"), ad.b.shape().to_vec(), b));
            }
            LoraFormat::Kohya => {
                let name = format!("{}{}", ad.part.kohya_prefix(), LoraMerges::key(&ad.module));
                tensors.push((format!("{name}.alpha"), vec![], vec![alpha]));
                tensors.push((format!("{name}.lora_down.weight"), ad.a.shape().to_vec(), a));
                tensors.push((format!("{name}.lora_up.weight"), ad.b.shape().to_vec(), b));
            }
        }
    }
    let out: Vec<(String, Vec<usize>, OutData)> =
        tensors.iter().map(|(n, s, d)| (n.clone(), s.clone(), OutData::F32(d))).collect();
    let mut meta = metadata.clone();
    meta.insert("format".into(), "pt".into());
    save(path, &out, &meta)
}

/// The adapters of one file, per network, keyed as [`LoraMerges::key`] has it.
pub struct LoraFile {
    pub unet: HashMap<String, LoraDelta>,
    pub text_encoder: HashMap<String, LoraDelta>,
    pub format: LoraFormat,
}

/// Reads an adapter file in either layout; each adapter's scale is (alpha / r) · `user_scale`
/// (alpha from the file where it has one, else r).
pub fn read(path: &Path, user_scale: f32) -> Result<LoraFile> {
    let f = SafeFile::open(path)?;
    let bad = |why: String| Error::invalid("lora", format!("{}: {why}", path.display()));
    // (part, module key) -> (A, B, alpha)
    type Parts = (Option<(Vec<usize>, Vec<f32>)>, Option<(Vec<usize>, Vec<f32>)>, Option<f32>);
    let mut found: BTreeMap<(u8, String), Parts> = BTreeMap::new();
    let mut kohya = false;
    const DOWN: [&str; 4] =
        [".lora_A.weight", ".lora.down.weight", ".lora_linear_layer.down.weight", ".lora_down.weight"];
    const UP: [&str; 4] = [".lora_B.weight", ".lora.up.weight", ".lora_linear_layer.up.weight", ".lora_up.weight"];
    for name in f.entries.keys() {
        let (part, rest) = if let Some(r) = name.strip_prefix("lora_unet_") {
            kohya = true;
            (Part::Unet, r.to_string())
        } else if let Some(r) = name.strip_prefix("lora_te_") {
            kohya = true;
            (Part::TextEncoder, r.to_string())
        } else if let Some(r) = name.strip_prefix("unet.").or_else(|| name.strip_prefix("base_model.model.")) {
            (Part::Unet, r.to_string())
        } else if let Some(r) = name.strip_prefix("text_encoder.") {
            (Part::TextEncoder, r.to_string())
        } else if name.starts_with("lora_te1_") || name.starts_with("lora_te2_") {
            return Err(bad(format!("`{name}` is an SDXL adapter (two text encoders); the engine runs SD 1.x")));
        } else {
            return Err(bad(format!(
                "tensor `{name}` is not a LoRA adapter in the diffusers/peft (`unet.….lora_A.weight`) or kohya (`lora_unet_….lora_down.weight`) layout"
            )));
        };
        let (module, role) = if let Some(m) = DOWN.iter().find_map(|s| rest.strip_suffix(s)) {
            (m, 0)
        } else if let Some(m) = UP.iter().find_map(|s| rest.strip_suffix(s)) {
            (m, 1)
        } else if let Some(m) = rest.strip_suffix(".alpha") {
            (m, 2)
        } else {
            return Err(bad(format!(
                "tensor `{name}` is neither an adapter's down/A nor up/B weight nor its alpha (LoCon, LoHa and DoRA adapters are not read)"
            )));
        };
        let key = (part as u8, LoraMerges::key(module));
        let slot = found.entry(key).or_insert((None, None, None));
        match role {
            0 => slot.0 = Some(f.read_f32(name)?),
            1 => slot.1 = Some(f.read_f32(name)?),
            _ => slot.2 = Some(f.read_f32(name)?.1.first().copied().ok_or_else(|| bad(format!("`{name}` is empty")))?),
        }
    }
    let file_label = path.display().to_string();
    let mut out = LoraFile {
        unet: HashMap::new(),
        text_encoder: HashMap::new(),
        format: if kohya { LoraFormat::Kohya } else { LoraFormat::Diffusers },
    };
    for ((part, key), (a, b, alpha)) in found {
        let (Some((sa, a)), Some((sb, b))) = (a, b) else {
            return Err(bad(format!("the adapter of `{key}` lacks its down/A or its up/B weight")));
        };
        let rank = sa[0];
        if sb.len() < 2 || sb[1] != rank || a.len() % rank.max(1) != 0 {
            return Err(bad(format!("the adapter of `{key}` has A {sa:?} and B {sb:?}: their ranks disagree")));
        }
        let scale = alpha.map_or(1.0, |al| al / rank as f32) * user_scale;
        let d = LoraDelta { a, b, rank, scale, file: file_label.clone() };
        if part == Part::Unet as u8 {
            out.unet.insert(key, d);
        } else {
            out.text_encoder.insert(key, d);
        }
    }
    if out.unet.is_empty() && out.text_encoder.is_empty() {
        return Err(bad("holds no LoRA adapters".into()));
    }
    Ok(out)
}

/// The adapters of several files (`engine sample --lora A --lora B`), stacked per network.
pub fn merges(files: &[(std::path::PathBuf, f32)]) -> Result<(Rc<LoraMerges>, Rc<LoraMerges>)> {
    let (mut unet, mut te) = (LoraMerges::default(), LoraMerges::default());
    for (path, scale) in files {
        let f = read(path, *scale)?;
        for (k, d) in f.unet {
            unet.by_module.entry(k).or_default().push(d);
        }
        for (k, d) in f.text_encoder {
            te.by_module.entry(k).or_default().push(d);
        }
    }
    Ok((Rc::new(unet), Rc::new(te)))
}

/// After the networks loaded: an error naming the adapters that adapted nothing (a file for
/// another architecture, or a layout this reader misnamed), rather than a silent no-op.
pub fn check_all_used(m: &LoraMerges, network: &str) -> Result<()> {
    let used = m.used.borrow();
    let mut unused: Vec<(&String, &String)> =
        m.by_module.iter().filter(|(k, _)| !used.contains(*k)).map(|(k, d)| (k, &d[0].file)).collect();
    unused.sort();
    if let Some((k, file)) = unused.first() {
        return Err(Error::invalid(
            "lora",
            format!(
                "{file}: {} adapters match no module of the {network}, first `{k}`; the file was made for another model",
                unused.len()
            ),
        ));
    }
    Ok(())
}
