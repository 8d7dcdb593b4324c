//! Training checkpoints: the trainable weights, AdamW's moments and step counts, the RNG state
//! and the loss history, in `checkpoint-<step>/` under the output directory. Written into a
//! temporary folder that is renamed only once complete, so a crash, Ctrl-C or a full disk never
//! leaves a checkpoint that loads wrong; older ones are deleted only after a new one is in place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::optim::{AdamState, AdamW, Blockwise8, GradScaler, Moments};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::train::export::save_params;
use crate::train::TrainConfig;
use crate::weights::{OutData, SafeFile};

const FORMAT: &str = "engine-checkpoint/1";

pub struct State {
    pub step: usize,
    pub rng: u64,
    pub losses: Vec<(usize, f64, f64)>,
    /// The fp16 loss scaler's state (`--mixed-precision fp16` runs).
    pub scaler: Option<GradScaler>,
}

pub fn step_of(p: &Path) -> Option<usize> {
    p.file_name()?.to_str()?.strip_prefix("checkpoint-")?.parse().ok()
}

/// The checkpoints in `out`, oldest first.
pub fn list(out: &Path) -> Vec<(usize, PathBuf)> {
    let mut v: Vec<(usize, PathBuf)> = std::fs::read_dir(out)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter_map(|p| step_of(&p).map(|s| (s, p))).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `latest` (the newest checkpoint in `out`) or a path, which must hold a checkpoint.
pub fn find(out: &Path, r: &str) -> Result<PathBuf> {
    let dir = if r == "latest" {
        list(out).pop().map(|(_, p)| p).ok_or_else(|| {
            Error::invalid(
                "train",
                format!("--resume-from-checkpoint latest: {} holds no checkpoint-* folder", out.display()),
            )
        })?
    } else {
        PathBuf::from(r)
    };
    if !dir.join("state.json").is_file() || !dir.join("params.safetensors").is_file() {
        return Err(Error::invalid(
            "train",
            format!("{} does not hold a checkpoint (state.json and params.safetensors)", dir.display()),
        ));
    }
    Ok(dir)
}

pub fn save(
    cfg: &TrainConfig,
    step: usize,
    params: &[(String, Tensor)],
    opt: &AdamW,
    rng: &Rng,
    losses: &[(usize, f64, f64)],
    scaler: Option<&GradScaler>,
) -> Result<PathBuf> {
    let out = &cfg.output_dir;
    let final_dir = out.join(format!("checkpoint-{step}"));
    let tmp = out.join(format!(".checkpoint-{step}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let r = (|| -> Result<()> {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        let mut weights = Vec::new();
        // (name, shape, f32 tensor) and (name, 8-bit moments, m or v)
        let mut moments_f32 = Vec::new();
        let mut moments_8 = Vec::new();
        let mut steps = BTreeMap::new();
        // Streamed to disk one tensor at a time (read back when the writer reaches it).
        for (name, p) in params {
            weights.push((name.clone(), p.shape().to_vec(), p.clone()));
            if let Some(st) = opt.state(p) {
                match &st.moments {
                    Moments::F32 { exp_avg, exp_avg_sq } => {
                        moments_f32.push((format!("exp_avg.{name}"), p.shape().to_vec(), exp_avg.clone()));
                        moments_f32.push((format!("exp_avg_sq.{name}"), p.shape().to_vec(), exp_avg_sq.clone()));
                    }
                    Moments::Blockwise8(b) => {
                        moments_f32.push((format!("absmax8.{name}"), b.absmax.shape().to_vec(), b.absmax.clone()));
                        moments_8.push((format!("exp_avg8.{name}"), b, true));
                        moments_8.push((format!("exp_avg_sq8.{name}"), b, false));
                    }
                }
                steps.insert(name.clone(), st.step);
            }
        }
        let meta = BTreeMap::from([("format".to_string(), FORMAT.to_string())]);
        save_params(&tmp.join("params.safetensors"), &weights, &meta, false)?;
        // 8-bit moments: their codes as U8, beside the f32 tensors (absmax and f32 moments).
        type Bytes<'a> = Box<dyn Fn() -> Result<Vec<u8>> + 'a>;
        type Floats<'a> = Box<dyn Fn() -> Result<Vec<f32>> + 'a>;
        let reads8: Vec<Bytes> = moments_8
            .iter()
            .map(|(_, b, m)| -> Bytes { Box::new(move || b.codes().map(|(qm, qv)| if *m { qm } else { qv })) })
            .collect();
        let reads32: Vec<Floats> =
            moments_f32.iter().map(|(_, _, t)| -> Floats { Box::new(move || t.to_vec()) }).collect();
        let mut out: Vec<(String, Vec<usize>, OutData)> = Vec::new();
        for ((n, shape, _), r) in moments_f32.iter().zip(&reads32) {
            out.push((n.clone(), shape.clone(), OutData::Lazy(r.as_ref())));
        }
        for ((n, b, _), r) in moments_8.iter().zip(&reads8) {
            out.push((n.clone(), vec![b.numel], OutData::LazyU8(r.as_ref())));
        }
        crate::weights::save(&tmp.join("optimizer.safetensors"), &out, &meta)?;
        let state = serde_json::json!({
            "format": FORMAT, "step": step, "rng": rng.state().to_string(), "seed": cfg.seed,
            "adam_steps": steps, "losses": losses,
            "max_train_steps": cfg.max_train_steps, "train_text_encoder": cfg.train_text_encoder,
            "lora": lora_settings(cfg),
            "mixed_precision": cfg.mixed_precision,
            "loss_scaler": scaler.map(|s| serde_json::json!({"scale": s.scale, "growth_tracker": s.growth_tracker,
                "growth_interval": s.growth_interval})),
        });
        let sp = tmp.join("state.json");
        std::fs::write(&sp, serde_json::to_string(&state).unwrap())
            .map_err(|e| Error::io(format!("writing {}", sp.display()), e))?;
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir)
                .map_err(|e| Error::io(format!("replacing {}", final_dir.display()), e))?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::invalid(
            "train",
            format!("writing checkpoint {} failed ({e}); earlier checkpoints are untouched", final_dir.display()),
        ));
    }
    if let Some(limit) = cfg.checkpoints_total_limit {
        let all = list(out);
        let extra = all.len().saturating_sub(limit.max(1));
        for (_, p) in all.into_iter().take(extra) {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    Ok(final_dir)
}

/// What a checkpoint of a --lora-rank run records of its adapters (null for a full fine-tune):
/// resuming with other adapters is refused before any tensor is read.
pub fn lora_settings(cfg: &TrainConfig) -> serde_json::Value {
    if cfg.lora_rank == 0 {
        return serde_json::Value::Null;
    }
    serde_json::json!({"rank": cfg.lora_rank, "alpha": cfg.lora_alpha, "modules": cfg.lora_modules})
}

/// Restores the weights into `params` and the moments into `opt`; returns the step, RNG state
/// and loss history. `lora` is this run's [`lora_settings`] and `mixed` its --mixed-precision,
/// which must be the checkpoint's.
pub fn load(
    dir: &Path,
    params: &[(String, Tensor)],
    opt: &mut AdamW,
    lora: &serde_json::Value,
    mixed: &str,
) -> Result<State> {
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(|e| Error::io(format!("reading {}", sp.display()), e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::invalid("train", format!("{}: {e}", sp.display())))?;
    if v["format"] != FORMAT {
        return Err(Error::invalid("train", format!("{} is not an {FORMAT} checkpoint", sp.display())));
    }
    let theirs = v.get("lora").unwrap_or(&serde_json::Value::Null);
    if theirs != lora {
        let say = |l: &serde_json::Value| match l {
            serde_json::Value::Null => "the whole U-Net".to_string(),
            l => format!(
                "LoRA adapters (--lora-rank {} --lora-alpha {} --lora-modules {})",
                l["rank"],
                l["alpha"],
                l["modules"].as_str().unwrap_or("?")
            ),
        };
        return Err(Error::invalid(
            "train",
            format!(
                "checkpoint {} trained {}, but this run trains {}: resume with the settings the run started with",
                dir.display(),
                say(theirs),
                say(lora)
            ),
        ));
    }
    // Checkpoints from before the flag trained in f32.
    let theirs = v.get("mixed_precision").and_then(|m| m.as_str()).unwrap_or("no");
    if theirs != mixed {
        return Err(Error::invalid(
            "train",
            format!(
                "checkpoint {} was trained with --mixed-precision {theirs}, this run asks for {mixed}: the precision changes what the run computes (the frozen weights' dtype, the U-Net's rounding, fp16's loss scale), so resume with --mixed-precision {theirs}",
                dir.display()
            ),
        ));
    }
    let weights = SafeFile::open(&dir.join("params.safetensors"))?;
    let moments = SafeFile::open(&dir.join("optimizer.safetensors"))?;
    for (name, p) in params {
        let e = weights.get(name).ok_or_else(|| {
            Error::invalid(
                "train",
                format!("checkpoint {} has no `{name}`: it was written by a run with other settings (--train-text-encoder?)", dir.display()),
            )
        })?;
        if e.shape != p.shape() {
            return Err(Error::invalid(
                "train",
                format!("checkpoint tensor `{name}` is {:?} but the model needs {:?}", e.shape, p.shape()),
            ));
        }
        p.write(&weights.read_f32(name)?.1)?;
        if let Some(step) = v["adam_steps"][name].as_u64() {
            let is8 = moments.get(&format!("exp_avg8.{name}")).is_some();
            if is8 != (opt.eight_bit && p.numel() >= crate::optim::MIN_8BIT_SIZE) {
                return Err(Error::invalid(
                    "train",
                    format!(
                        "checkpoint {} holds {} AdamW moments for `{name}` but this run uses {}: resume with the --use-8bit-adam setting the run started with",
                        dir.display(),
                        if is8 { "8-bit" } else { "f32" },
                        if is8 { "f32 ones" } else { "8-bit ones (--use-8bit-adam)" }
                    ),
                ));
            }
            let moments = if is8 {
                let m = moments.read_u8(&format!("exp_avg8.{name}"))?.1;
                let s = moments.read_u8(&format!("exp_avg_sq8.{name}"))?.1;
                let a = moments.read_f32(&format!("absmax8.{name}"))?.1;
                Moments::Blockwise8(Blockwise8::from_host(p.numel(), &m, &s, &a)?)
            } else {
                let m = moments.read_f32(&format!("exp_avg.{name}"))?.1;
                let s = moments.read_f32(&format!("exp_avg_sq.{name}"))?.1;
                Moments::F32 {
                    exp_avg: Tensor::from_slice(&m, p.shape())?,
                    exp_avg_sq: Tensor::from_slice(&s, p.shape())?,
                }
            };
            opt.set_state(p, AdamState { moments, step })?;
        }
    }
    let losses = v["losses"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((x[0].as_u64()? as usize, x[1].as_f64()?, x[2].as_f64().unwrap_or(0.0))))
                .collect()
        })
        .unwrap_or_default();
    let scaler = v.get("loss_scaler").filter(|s| !s.is_null()).map(|s| GradScaler {
        scale: s["scale"].as_f64().unwrap_or(65536.0) as f32,
        growth_tracker: s["growth_tracker"].as_u64().unwrap_or(0) as u32,
        growth_interval: s["growth_interval"].as_u64().unwrap_or(2000) as u32,
    });
    Ok(State {
        step: v["step"].as_u64().unwrap_or(0) as usize,
        rng: v["rng"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
        losses,
        scaler,
    })
}

/// Drops log lines after `step` (an interrupted run may have logged past its last checkpoint).
pub fn truncate_log(path: &Path, step: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s as usize <= step)
        })
        .collect();
    let body = if kept.is_empty() { String::new() } else { kept.join("\n") + "\n" };
    std::fs::write(path, body).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
