//! The original single-file Stable Diffusion 1.x checkpoint (CompVis/ldm key names): its keys are
//! mapped onto diffusers module paths through weights.toml's `[single_file]` tables, and its
//! configs come from weights.toml's `[models.sd15]` (the file carries none) or from a folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::nn::Source;
use crate::weights::SafeFile;

/// weights.toml, built into the binary.
pub const WEIGHTS_TOML: &str = include_str!("../../weights.toml");

#[derive(Deserialize)]
struct NameMap {
    prefix: String,
    #[serde(default)]
    modules: BTreeMap<String, String>,
    #[serde(default)]
    inner: BTreeMap<String, String>,
}

/// weights.toml, parsed once per process.
fn weights_toml() -> Result<&'static toml::Table> {
    static PARSED: std::sync::OnceLock<std::result::Result<toml::Table, String>> = std::sync::OnceLock::new();
    PARSED
        .get_or_init(|| WEIGHTS_TOML.parse::<toml::Table>().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::invalid("weights.toml", e.clone()))
}

/// A table of weights.toml by dotted path, e.g. `models.sd15.unet`.
pub fn builtin_table(path: &str) -> Result<toml::Value> {
    let mut v = toml::Value::Table(weights_toml()?.clone());
    for part in path.split('.') {
        v = v.get(part).cloned().ok_or_else(|| Error::invalid("weights.toml", format!("has no [{path}]")))?;
    }
    Ok(v)
}

/// A built-in config (weights.toml `[models.<model>.<component>]`) as a config struct.
pub fn builtin_config<T: for<'de> Deserialize<'de>>(model: &str, component: &str) -> Result<T> {
    builtin_table(&format!("models.{model}.{component}"))?
        .try_into()
        .map_err(|e| Error::invalid("weights.toml", format!("[models.{model}.{component}]: {e}")))
}

/// The longest key of `table` that `s` starts with, followed by a `.`.
fn longest<'a>(table: &'a BTreeMap<String, String>, s: &str) -> Option<(&'a String, &'a String)> {
    table
        .iter()
        .filter(|(k, _)| s.len() > k.len() && s.starts_with(k.as_str()) && s.as_bytes()[k.len()] == b'.')
        .max_by_key(|(k, _)| k.len())
}

/// The other side's name of `key` (prefix already removed): the longest `modules` entry it
/// starts with is replaced, then the longest `inner` entry of the remainder.
fn rename(map: &NameMap, key: &str) -> String {
    let Some((m, to)) = longest(&map.modules, key) else { return key.to_string() };
    let rest = &key[m.len() + 1..];
    let rest = match longest(&map.inner, rest) {
        Some((i, ito)) => format!("{ito}{}", &rest[i.len()..]),
        None => rest.to_string(),
    };
    format!("{to}.{rest}")
}

fn name_map(component: &str) -> Result<NameMap> {
    builtin_table(&format!("single_file.{component}"))?
        .try_into()
        .map_err(|e| Error::invalid("weights.toml", format!("[single_file.{component}]: {e}")))
}

/// The map from diffusers paths to checkpoint keys of `component` (`unet`, `vae`,
/// `text_encoder`): weights.toml's tables read backwards, through the same longest-prefix rule.
/// The text encoder's tables map the legacy layout (no `text_model.`) forward only; SD 1.5 files
/// use the modern one, so backwards only its prefix applies.
pub fn to_compvis(component: &str) -> Result<impl Fn(&str) -> String> {
    let map = name_map(component)?;
    let flip = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| (v.clone(), k.clone())).collect();
    let inverse = if component == "text_encoder" {
        NameMap { prefix: map.prefix, modules: BTreeMap::new(), inner: BTreeMap::new() }
    } else {
        NameMap { modules: flip(&map.modules), inner: flip(&map.inner), prefix: map.prefix }
    };
    Ok(move |name: &str| format!("{}{}", inverse.prefix, rename(&inverse, name)))
}

/// A single-file checkpoint, opened once per component.
pub struct SingleFile {
    pub path: PathBuf,
}

impl SingleFile {
    pub fn open(path: &Path) -> Result<SingleFile> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "ckpt" || ext == "pt" || ext == "bin" {
            return Err(Error::invalid(
                "model",
                format!("{} is a pickled PyTorch checkpoint; the engine reads .safetensors only (convert it, e.g. with diffusers' convert_original_stable_diffusion_to_diffusers.py or safetensors' convert tools)", path.display()),
            ));
        }
        let f = SafeFile::open(path)?;
        if !f.entries.keys().any(|k| k.starts_with("model.diffusion_model.")) {
            let sdxl = f.entries.keys().any(|k| k.starts_with("conditioner.embedders.1."));
            return Err(Error::invalid(
                "model",
                format!(
                    "{} is not an original Stable Diffusion 1.x checkpoint (no model.diffusion_model.* tensors){}",
                    path.display(),
                    if sdxl { "; it looks like SDXL, which is not supported" } else { "" }
                ),
            ));
        }
        if f.entries.keys().any(|k| k.starts_with("cond_stage_model.model.")) {
            return Err(Error::invalid(
                "model",
                format!("{} holds an OpenCLIP text encoder: that is Stable Diffusion 2.x, which is not supported; the engine supports SD 1.x", path.display()),
            ));
        }
        Ok(SingleFile { path: path.to_path_buf() })
    }

    /// The weight source of one component: `unet`, `vae` or `text_encoder`.
    pub fn source(&self, component: &str) -> Result<Source> {
        let map = name_map(component)?;
        let file = SafeFile::open(&self.path)?;
        let mut names = HashMap::new();
        for key in file.entries.keys() {
            if let Some(rest) = key.strip_prefix(&map.prefix) {
                names.insert(rename(&map, rest), key.clone());
            }
        }
        if names.is_empty() {
            return Err(Error::invalid(
                "model",
                format!("{} has no {component} tensors (none start with `{}`)", self.path.display(), map.prefix),
            ));
        }
        Ok(Source::Files {
            files: vec![file],
            rename: Some(names),
            label: format!("{} ({component})", self.path.display()),
        })
    }
}
