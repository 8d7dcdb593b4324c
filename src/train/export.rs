//! Writing the fine-tuned model: a diffusers-layout folder that `StableDiffusionPipeline.
//! from_pretrained` and `engine sample` load, and optionally one original-layout (CompVis)
//! `.safetensors`. Every file is written to a temporary name and renamed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::models::single_file::to_compvis;
use crate::models::Model;
use crate::tensor::Tensor;
use crate::weights::{save, OutData};

/// A parameter as the export writes it: its name in the file, its shape there, and the GPU
/// tensor it is read back from when the writer reaches it.
pub type OutParam = (String, Vec<usize>, Tensor);

/// `params` as written: each tensor under its own name and shape.
pub fn out_params(params: &[(String, Tensor)]) -> Vec<OutParam> {
    params.iter().map(|(n, t)| (n.clone(), t.shape().to_vec(), t.clone())).collect()
}

/// Writes `params` as one safetensors file, streaming: each tensor is read back from the GPU
/// when the writer reaches it and dropped once written, so the host never holds more than one.
/// With `finite_only`, a non-finite tensor is an error ([`crate::nn::host_data`]); checkpoints pass false
/// (their weights were checked by AdamW's flags, and a moment may legitimately overflow).
pub fn save_params(path: &Path, params: &[OutParam], meta: &BTreeMap<String, String>, finite_only: bool) -> Result<()> {
    type Read<'a> = Box<dyn Fn() -> Result<Vec<f32>> + 'a>;
    let reads: Vec<Read> = params
        .iter()
        .map(|(n, _, t)| -> Read {
            if finite_only {
                Box::new(move || crate::nn::host_data(n, t))
            } else {
                Box::new(move || t.to_vec())
            }
        })
        .collect();
    let tensors: Vec<(String, Vec<usize>, OutData)> = params
        .iter()
        .zip(&reads)
        .map(|((n, s, _), read)| (n.clone(), s.clone(), OutData::Lazy(read.as_ref())))
        .collect();
    save(path, &tensors, meta)
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    crate::fsutil::write_bytes(path, (serde_json::to_string_pretty(v).unwrap() + "\n").as_bytes())
}

fn mkdir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|e| Error::io(format!("creating {}", p.display()), e))
}

/// Writes `out` as a diffusers Stable Diffusion folder.
pub fn write_diffusers(
    out: &Path,
    model: &Model,
    unet: &[OutParam],
    text_encoder: &[OutParam],
    vae: &[OutParam],
) -> Result<()> {
    let pt = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    for (dir, file, params, comp) in [
        ("unet", "diffusion_pytorch_model.safetensors", unet, "unet"),
        ("vae", "diffusion_pytorch_model.safetensors", vae, "vae"),
        ("text_encoder", "model.safetensors", text_encoder, "text_encoder"),
    ] {
        let d = out.join(dir);
        mkdir(&d)?;
        save_params(&d.join(file), params, &pt, true)?;
        let mut cfg = model.config_json(comp)?;
        if comp == "text_encoder" {
            if let serde_json::Value::Object(o) = &mut cfg {
                o.insert("architectures".into(), serde_json::json!(["CLIPTextModel"]));
                o.entry("torch_dtype").or_insert("float32".into());
            }
        }
        write_json(&d.join("config.json"), &cfg)?;
    }
    let sd = out.join("scheduler");
    mkdir(&sd)?;
    write_json(&sd.join("scheduler_config.json"), &model.config_json("scheduler")?)?;
    let td = out.join("tokenizer");
    mkdir(&td)?;
    match model {
        Model::Folder(d) => {
            for e in std::fs::read_dir(d.root.join("tokenizer"))
                .map_err(|e| Error::io("reading tokenizer/".to_string(), e))?
            {
                let e = e.map_err(|e| Error::io("reading tokenizer/".to_string(), e))?;
                std::fs::copy(e.path(), td.join(e.file_name()))
                    .map_err(|err| Error::io(format!("copying {}", e.path().display()), err))?;
            }
        }
        _ => {
            for (name, text) in [
                ("vocab.json", include_str!("../../assets/tokenizer/vocab.json")),
                ("merges.txt", include_str!("../../assets/tokenizer/merges.txt")),
                ("tokenizer_config.json", include_str!("../../assets/tokenizer/tokenizer_config.json")),
                ("special_tokens_map.json", include_str!("../../assets/tokenizer/special_tokens_map.json")),
            ] {
                std::fs::write(td.join(name), text).map_err(|e| Error::io(format!("writing {}", td.display()), e))?;
            }
        }
    }
    let scheduler_class =
        model.config_json("scheduler")?["_class_name"].as_str().unwrap_or("DDIMScheduler").to_string();
    let index = serde_json::json!({
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.31.0",
        "feature_extractor": [null, null],
        "requires_safety_checker": false,
        "safety_checker": [null, null],
        "scheduler": ["diffusers", scheduler_class],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    });
    write_json(&out.join("model_index.json"), &index)
}

/// The whole model as `out` will hold it — the diffusers folder and, with `single_file`,
/// `model.safetensors` — built in a temporary sibling (`out/.export.tmp`) and moved into place
/// only once every file is complete, `model_index.json` last: a failed export (a full disk)
/// leaves `out` as it was, with no partial component under its final name.
pub fn write_model(
    out: &Path,
    model: &Model,
    unet: &[OutParam],
    text_encoder: &[OutParam],
    vae: &[OutParam],
    single_file: bool,
) -> Result<()> {
    let staging = out.join(".export.tmp");
    let _ = std::fs::remove_dir_all(&staging);
    let r = (|| {
        mkdir(&staging)?;
        write_diffusers(&staging, model, unet, text_encoder, vae)?;
        if single_file {
            write_single_file(&staging.join("model.safetensors"), model, unet, text_encoder, vae)?;
        }
        let mut names = vec!["unet", "vae", "text_encoder", "tokenizer", "scheduler"];
        if single_file {
            names.push("model.safetensors");
        }
        names.push("model_index.json");
        for name in names {
            let (from, to) = (staging.join(name), out.join(name));
            if to.is_dir() {
                std::fs::remove_dir_all(&to).map_err(|e| Error::io(format!("replacing {}", to.display()), e))?;
            }
            std::fs::rename(&from, &to)
                .map_err(|e| Error::io(format!("moving {} to {}", from.display(), to.display()), e))?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    r
}

/// Whether `model` has the topology of the original single-file layout (`--save-single-file`),
/// asked before training so that a run never ends on this error.
pub fn single_file_supported(model: &Model) -> Result<()> {
    let (u, v) = (model.unet_config()?, model.vae_config()?);
    let sd1 = u.block_out_channels.len() == 4
        && u.layers_per_block.expand(4, "layers_per_block")? == [2, 2, 2, 2]
        && u.down_block_types
            == ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
        && v.block_out_channels.len() == 4
        && v.layers_per_block == 2;
    if !sd1 {
        return Err(Error::invalid(
            "train",
            "--save-single-file writes the original SD 1.x layout, which fixes four U-Net levels (three with cross-attention) and two layers per block; this model has another shape — use the diffusers folder",
        ));
    }
    Ok(())
}

/// One original-layout checkpoint. Only for SD 1.x's own topology (four levels, two layers per
/// block), which is what weights.toml's name map describes.
pub fn write_single_file(
    path: &Path,
    model: &Model,
    unet: &[OutParam],
    text_encoder: &[OutParam],
    vae: &[OutParam],
) -> Result<()> {
    single_file_supported(model)?;
    let mut tensors: Vec<OutParam> = Vec::new();
    for (comp, params) in [("unet", unet), ("text_encoder", text_encoder), ("vae", vae)] {
        let compvis = to_compvis(comp)?;
        for (n, s, d) in params {
            let key = compvis(n);
            // The original VAE keeps its attention projections as 1x1 convolutions.
            let shape = if comp == "vae" && key.contains(".mid.attn_1.") && s.len() == 2 {
                vec![s[0], s[1], 1, 1]
            } else {
                s.clone()
            };
            tensors.push((key, shape, d.clone()));
        }
    }
    save_params(path, &tensors, &BTreeMap::from([("format".to_string(), "pt".to_string())]), true)
}
