//! `engine parity CASE_DIR`: checks the engine against a reference case written by
//! `tools/make_reference.py` (format: shared/reference-format.md) — what diffusers and
//! transformers compute for the same model, weights and inputs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diffusion::pipeline::denoise;
use crate::diffusion::{Sampler, SamplerKind};
use crate::error::{Error, Result};
use crate::models::{Model, ModelDir};
use crate::ops::loss::mse_loss;
use crate::optim::{clip_grad_norm, AdamW};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::weights::SafeFile;

/// Tolerances on rel_err = max|engine - expected| / max|expected| (README, "Parity").
pub const TOL_FORWARD: f64 = 1e-5;
pub const TOL_GRAD: f64 = 1e-4;
/// The `lora` section's, looser as the format asks: its gradients reach A and B through the whole
/// U-Net and a rank-r bottleneck, where float32 sums of many terms lose more than elsewhere.
pub const TOL_LORA_FORWARD: f64 = 1e-4;
pub const TOL_LORA_GRAD: f64 = 1e-3;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub section: String,
    pub tensor: String,
    pub shape: Vec<usize>,
    pub max_abs_err: f64,
    pub rel_err: f64,
    pub tolerance: f64,
    pub pass: bool,
}

pub struct Report {
    pub rows: Vec<Row>,
    /// (section, why) for each section not checked.
    pub skipped: Vec<(String, String)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.rows.is_empty() && self.rows.iter().all(|r| r.pass)
    }
}

struct Case {
    file: SafeFile,
    model: Model,
}

impl Case {
    fn has(&self, name: &str) -> bool {
        self.file.get(name).is_some()
    }
    fn f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        self.file.read_f32(name)
    }
    fn tensor(&self, name: &str) -> Result<Tensor> {
        let (s, d) = self.f32(name)?;
        Tensor::from_slice(&d, &s)
    }
    fn ints(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>)> {
        self.file.read_i64(name)
    }
    fn meta_f64(&self, key: &str) -> Result<f64> {
        let v = self.file.metadata.get(key).ok_or_else(|| {
            Error::invalid("parity", format!("{}: metadata has no `{key}`", self.file.path.display()))
        })?;
        v.parse().map_err(|_| Error::invalid("parity", format!("metadata `{key}` = {v:?} is not a number")))
    }
}

fn compare(section: &str, tensor: &str, shape: &[usize], got: &[f32], want: &[f32], tol: f64) -> Row {
    let mut max_abs = 0f64;
    let mut max_ref = 0f64;
    let mut finite = got.len() == want.len();
    for (g, w) in got.iter().zip(want) {
        if !g.is_finite() {
            finite = false;
        }
        max_abs = max_abs.max((*g as f64 - *w as f64).abs());
        max_ref = max_ref.max((*w as f64).abs());
    }
    let rel = max_abs / max_ref.max(1e-6);
    Row {
        section: section.into(),
        tensor: tensor.into(),
        shape: shape.to_vec(),
        max_abs_err: if finite { max_abs } else { f64::INFINITY },
        rel_err: if finite { rel } else { f64::INFINITY },
        tolerance: tol,
        pass: finite && rel <= tol,
    }
}

fn exact(section: &str, tensor: &str, shape: &[usize], got: &[i64], want: &[i64]) -> Row {
    let max_abs = if got.len() != want.len() {
        f64::INFINITY
    } else {
        got.iter().zip(want).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max)
    };
    let max_ref = want.iter().map(|v| v.abs() as f64).fold(0.0, f64::max).max(1e-6);
    Row {
        section: section.into(),
        tensor: tensor.into(),
        shape: shape.to_vec(),
        max_abs_err: max_abs,
        rel_err: max_abs / max_ref,
        tolerance: 0.0,
        pass: max_abs == 0.0,
    }
}

/// Runs every section whose tensors the case holds.
pub fn run(case_dir: &Path, mut progress: impl FnMut(&str)) -> Result<Report> {
    let file = SafeFile::open(&case_dir.join("reference.safetensors"))?;
    if file.metadata.get("format").map(String::as_str) != Some("engine-reference/1") {
        return Err(Error::invalid(
            "parity",
            format!("{}: metadata `format` is not engine-reference/1", file.path.display()),
        ));
    }
    let case = Case { file, model: Model::Folder(ModelDir::open(&case_dir.join("model"))?) };
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    type Section = fn(&Case, &mut Vec<Row>) -> Result<()>;
    let sections: [(&str, &str, Section); 12] = [
        ("tokenizer", "tokenizer.input_ids", tokenizer),
        ("clip", "clip.input_ids", clip),
        ("vae encode", "vae.encode.sample", vae_encode),
        ("vae decode", "vae.decode.latents", vae_decode),
        ("unet", "unet.sample", unet),
        ("scheduler", "scheduler.alphas_cumprod", scheduler),
        ("ddim", "ddim.timesteps", ddim),
        ("samplers", "sampler.model_output", samplers),
        ("pipeline", "pipeline.latents", pipeline),
        ("train", "train.latents", train),
        ("lora", "lora.sample", lora),
        ("mixed", "mixed.loss", mixed),
    ];
    for (name, key, f) in sections {
        if case.has(key) {
            progress(name);
            f(&case, &mut rows)?;
        } else {
            skipped.push((name.to_string(), "not in this case".to_string()));
        }
    }
    Ok(Report { rows, skipped })
}

fn tokenizer(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let prompts: Vec<String> = serde_json::from_str(
        case.file
            .metadata
            .get("tokenizer.prompts")
            .ok_or_else(|| Error::invalid("parity", "no tokenizer.prompts metadata"))?,
    )
    .map_err(|e| Error::invalid("parity", format!("tokenizer.prompts: {e}")))?;
    let (shape, want) = case.ints("tokenizer.input_ids")?;
    let tok = case.model.tokenizer()?;
    let mut got = Vec::new();
    for p in &prompts {
        got.extend(tok.encode(p)?.ids.iter().map(|&i| i as i64));
    }
    rows.push(exact("tokenizer", "tokenizer.input_ids", &shape, &got, &want));
    Ok(())
}

fn clip(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let (shape, ids) = case.ints("clip.input_ids")?;
    let ids: Vec<Vec<u32>> = ids.chunks(shape[1]).map(|c| c.iter().map(|&i| i as u32).collect()).collect();
    let (model, _) = case.model.text_encoder(false)?;
    let _g = crate::no_grad();
    let out = model.forward(&ids)?;
    let (s, want) = case.f32("clip.last_hidden_state")?;
    rows.push(compare("clip", "clip.last_hidden_state", &s, &out.to_vec()?, &want, TOL_FORWARD));
    Ok(())
}

fn vae_encode(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let vae = case.model.vae()?;
    let _g = crate::no_grad();
    let dist = vae.encode(&case.tensor("vae.encode.sample")?)?;
    let (s, want) = case.f32("vae.encode.mean")?;
    rows.push(compare("vae encode", "vae.encode.mean", &s, &dist.mean.to_vec()?, &want, TOL_FORWARD));
    let (s, want) = case.f32("vae.encode.logvar")?;
    rows.push(compare("vae encode", "vae.encode.logvar", &s, &dist.logvar, &want, TOL_FORWARD));
    Ok(())
}

fn vae_decode(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let vae = case.model.vae()?;
    let _g = crate::no_grad();
    let out = vae.decode(&case.tensor("vae.decode.latents")?)?;
    let (s, want) = case.f32("vae.decode.sample")?;
    rows.push(compare("vae decode", "vae.decode.sample", &s, &out.to_vec()?, &want, TOL_FORWARD));
    Ok(())
}

fn timesteps(case: &Case, name: &str) -> Result<(Vec<usize>, Tensor)> {
    let (_, t) = case.ints(name)?;
    let t: Vec<usize> = t.iter().map(|&v| v.max(0) as usize).collect();
    let tf: Vec<f32> = t.iter().map(|&v| v as f32).collect();
    let tt = Tensor::from_slice(&tf, &[tf.len()])?;
    Ok((t, tt))
}

fn unet(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let (model, _) = case.model.unet(false)?;
    let _g = crate::no_grad();
    let (_, t) = timesteps(case, "unet.timestep")?;
    let out = model.forward(&case.tensor("unet.sample")?, &t, &case.tensor("unet.encoder_hidden_states")?)?;
    let (s, want) = case.f32("unet.out")?;
    rows.push(compare("unet", "unet.out", &s, &out.to_vec()?, &want, TOL_FORWARD));
    Ok(())
}

fn scheduler(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let schedule = crate::diffusion::Schedule::of(&case.model)?;
    let (s, want) = case.f32("scheduler.alphas_cumprod")?;
    rows.push(compare("scheduler", "scheduler.alphas_cumprod", &s, &schedule.alphas_cumprod, &want, TOL_FORWARD));
    let (ts, _) = timesteps(case, "scheduler.add_noise.timesteps")?;
    let out =
        schedule.add_noise(&case.tensor("scheduler.add_noise.x0")?, &case.tensor("scheduler.add_noise.noise")?, &ts)?;
    let (s, want) = case.f32("scheduler.add_noise.out")?;
    rows.push(compare("scheduler", "scheduler.add_noise.out", &s, &out.to_vec()?, &want, TOL_FORWARD));
    Ok(())
}

fn ddim(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let schedule = crate::diffusion::Schedule::of(&case.model)?;
    let steps = case.meta_f64("ddim.num_inference_steps")? as usize;
    let eta = case.meta_f64("ddim.eta")?;
    let sampler = Sampler::new(&schedule, SamplerKind::Ddim, steps, eta)?;
    let (s, want) = case.ints("ddim.timesteps")?;
    let got: Vec<i64> = sampler.timesteps.iter().map(|&t| t as i64).collect();
    rows.push(exact("ddim", "ddim.timesteps", &s, &got, &want));
    let (_, t) = case.ints("ddim.step.timestep")?;
    let i = sampler.timesteps.iter().position(|&x| x as i64 == t[0]).ok_or_else(|| {
        Error::invalid("parity", format!("ddim.step.timestep {} is not among the engine's timesteps", t[0]))
    })?;
    let mut rng = Rng::new(0);
    let out = sampler.step(&case.tensor("ddim.step.model_output")?, i, &case.tensor("ddim.step.sample")?, &mut rng)?;
    let (s, want) = case.f32("ddim.step.prev_sample")?;
    rows.push(compare("ddim", "ddim.step.prev_sample", &s, &out.to_vec()?, &want, TOL_FORWARD));
    Ok(())
}

/// Engine-specific: one step of DDIM with eta > 0, DDPM and Euler ancestral, with diffusers'
/// noise injected; Euler's timesteps, initial sigma and input scaling.
fn samplers(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let schedule = crate::diffusion::Schedule::of(&case.model)?;
    let steps = case.meta_f64("sampler.num_inference_steps")? as usize;
    let i = case.meta_f64("sampler.index")? as usize;
    let eta = case.meta_f64("sampler.eta")?;
    let (mo, x, noise) =
        (case.tensor("sampler.model_output")?, case.tensor("sampler.sample")?, case.tensor("sampler.noise")?);
    for (kind, eta, name) in [
        (SamplerKind::Ddim, eta, "ddim_eta"),
        (SamplerKind::Ddpm, 0.0, "ddpm"),
        (SamplerKind::EulerAncestral, 0.0, "euler_a"),
    ] {
        let sampler = Sampler::new(&schedule, kind, steps, eta)?;
        let key = format!("sampler.{name}.timesteps");
        if case.has(&key) {
            let (s, want) = case.ints(&key)?;
            let got: Vec<i64> = sampler.timesteps.iter().map(|&t| t as i64).collect();
            rows.push(exact("samplers", &key, &s, &got, &want));
        }
        if kind == SamplerKind::EulerAncestral {
            let key = "sampler.euler_a.init_noise_sigma";
            let (s, want) = case.f32(key)?;
            let got = [sampler.init_noise_sigma(&schedule.config.timestep_spacing)];
            rows.push(compare("samplers", key, &s, &got, &want, TOL_FORWARD));
            let key = "sampler.euler_a.scaled_input";
            let (s, want) = case.f32(key)?;
            rows.push(compare("samplers", key, &s, &sampler.scale_model_input(&x, i)?.to_vec()?, &want, TOL_FORWARD));
        }
        let out = sampler.step_with_noise(&mo, i, &x, &mut |_| Ok(noise.clone()))?;
        let key = format!("sampler.{name}.prev_sample");
        let (s, want) = case.f32(&key)?;
        rows.push(compare("samplers", &key, &s, &out.to_vec()?, &want, TOL_FORWARD));
    }
    Ok(())
}

fn pipeline(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let schedule = crate::diffusion::Schedule::of(&case.model)?;
    let steps = case.meta_f64("pipeline.num_inference_steps")? as usize;
    let guidance = case.meta_f64("pipeline.guidance_scale")? as f32;
    let sampler = Sampler::new(&schedule, SamplerKind::Ddim, steps, 0.0)?;
    let (unet, _) = case.model.unet(false)?;
    let _g = crate::no_grad();
    let (cond, uncond) = (case.tensor("pipeline.cond")?, case.tensor("pipeline.uncond")?);
    let mut rng = Rng::new(0);
    let x =
        denoise(&unet, &sampler, case.tensor("pipeline.latents")?, &cond, Some(&uncond), guidance, &mut rng, |_| {
            Ok(())
        })?;
    let (s, want) = case.f32("pipeline.latents_out")?;
    rows.push(compare("pipeline", "pipeline.latents_out", &s, &x.to_vec()?, &want, TOL_FORWARD));
    Ok(())
}

/// The train section's forward and backward on a fresh f32 U-Net, its Linear and Conv2d layers
/// under `autocast(dtype)` (f32: none): the U-Net's loader (parameters with their gradients)
/// and the instance, prior and total losses.
/// `dtype` f16 backpropagates from the loss times GradScaler's initial scale, as an fp16 run
/// (and the reference's PyTorch step) does: gradients that fp16's products round to half would
/// otherwise flush to zero. The gradients are left scaled ([`loss_scale`] divides them back).
fn train_step(case: &Case, dtype: crate::tensor::DType) -> Result<(crate::nn::Loader, [Tensor; 3])> {
    let schedule = crate::diffusion::Schedule::of(&case.model)?;
    let (model, vb) = case.model.unet(true)?;
    let latents = case.tensor("train.latents")?;
    let noise = case.tensor("train.noise")?;
    let (ts, tt) = timesteps(case, "train.timesteps")?;
    let ehs = case.tensor("train.encoder_hidden_states")?;
    let lambda = case.meta_f64("train.prior_loss_weight")? as f32;
    let b = latents.dim(0) / 2;
    let noisy = schedule.add_noise(&latents, &noise, &ts)?;
    let _autocast = crate::autograd::autocast(dtype);
    let pred = model.forward(&noisy, &tt, &ehs)?;
    let li = mse_loss(&pred.narrow0(0, b)?, &noise.narrow0(0, b)?)?;
    let lp = mse_loss(&pred.narrow0(b, b)?, &noise.narrow0(b, b)?)?;
    let loss = li.add(&lp.scale(lambda)?)?;
    loss.scale(loss_scale(dtype))?.backward()?;
    Ok((vb, [li, lp, loss]))
}

/// What [`train_step`] scales the loss by in `dtype`: GradScaler's initial 2^16 for f16, else 1
/// (a power of two: scaling and dividing back are exact).
fn loss_scale(dtype: crate::tensor::DType) -> f32 {
    if dtype == crate::tensor::DType::F16 {
        crate::optim::GradScaler::default().scale
    } else {
        1.0
    }
}

/// The gradient parameter `name` received, read back.
fn grad_of(name: &str, p: &Tensor) -> Result<Vec<f32>> {
    p.grad().ok_or_else(|| Error::invalid("parity", format!("parameter `{name}` received no gradient")))?.to_vec()
}

/// One DreamBooth step with prior preservation: loss, every U-Net gradient, and the parameter
/// change after gradient clipping and AdamW.
fn train(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let (vb, [li, lp, loss]) = train_step(case, crate::tensor::DType::F32)?;
    for (name, t) in [("train.loss_instance", &li), ("train.loss_prior", &lp), ("train.loss", &loss)] {
        let (s, want) = case.f32(name)?;
        rows.push(compare("train", name, &s, &t.to_vec()?, &want, TOL_FORWARD));
    }

    let params = vb.parameters();
    let mut before = BTreeMap::new();
    for (name, p) in &params {
        let key = format!("train.grad.{name}");
        let (s, want) = case.f32(&key)?;
        rows.push(compare("train", &key, &s, &grad_of(name, p)?, &want, TOL_GRAD));
        before.insert(name.clone(), p.to_vec()?);
    }
    // The step starts from the reference gradients, so that the delta rows check clipping and
    // AdamW alone: AdamW's first step, lr·g/(|g| + eps), amplifies a gradient difference by up to
    // lr/eps where |g| is near eps, which would turn float32 rounding of a gradient into a
    // difference of lr itself. The gradient rows above check the gradients.
    for (name, p) in &params {
        p.set_grad(Some(case.tensor(&format!("train.grad.{name}"))?))?;
    }
    let tensors: Vec<Tensor> = params.iter().map(|(_, p)| p.clone()).collect();
    clip_grad_norm(&tensors, case.meta_f64("train.max_grad_norm")? as f32)?;
    let mut opt = AdamW::new(case.meta_f64("adamw.lr")?);
    opt.beta1 = case.meta_f64("adamw.beta1")?;
    opt.beta2 = case.meta_f64("adamw.beta2")?;
    opt.eps = case.meta_f64("adamw.eps")?;
    opt.weight_decay = case.meta_f64("adamw.weight_decay")?;
    opt.step(&tensors)?;
    for (name, p) in &params {
        let key = format!("train.delta.{name}");
        let (s, want) = case.f32(&key)?;
        let after = p.to_vec()?;
        let delta: Vec<f32> = after.iter().zip(&before[name]).map(|(a, b)| a - b).collect();
        rows.push(compare("train", &key, &s, &delta, &want, TOL_GRAD));
    }
    Ok(())
}

/// The train section's step with the engine's mixed precision (`autograd::autocast` in the
/// case's `mixed.dtype`, f32 master weights): its loss and every U-Net gradient are measured
/// against the float64 `train.*` tensors, as PyTorch's autocast (`mixed.*`) is; a tensor passes
/// when the engine's rel_err is at most twice PyTorch's plus 1e-4 (the row's tolerance).
fn mixed(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let dtype = match case.file.metadata.get("mixed.dtype").map(String::as_str) {
        Some("bfloat16") => crate::tensor::DType::BF16,
        Some("float16") => crate::tensor::DType::F16,
        other => {
            return Err(Error::invalid(
                "parity",
                format!("{}: metadata `mixed.dtype` is {other:?}, not bfloat16 or float16", case.file.path.display()),
            ))
        }
    };
    let (vb, [_, _, loss]) = train_step(case, dtype)?;
    // rel_err of `got` against the float64 reference `exact`; the row's tolerance from PyTorch's.
    let row = |tensor: &str, exact: &str, torch: &str, got: &[f32]| -> Result<Row> {
        let (s, want) = case.f32(exact)?;
        let theirs = compare("mixed", torch, &s, &case.f32(torch)?.1, &want, 0.0).rel_err;
        Ok(compare("mixed", tensor, &s, got, &want, 2.0 * theirs + 1e-4))
    };
    rows.push(row("mixed.loss", "train.loss", "mixed.loss", &loss.to_vec()?)?);
    let unscale = 1.0 / loss_scale(dtype);
    for (name, p) in vb.parameters() {
        let key = format!("mixed.grad.{name}");
        let grad: Vec<f32> = grad_of(&name, &p)?.iter().map(|g| g * unscale).collect();
        rows.push(row(&key, &format!("train.grad.{name}"), &key, &grad)?);
    }
    Ok(())
}

/// The U-Net with the case's LoRA adapters (A and B from the file, on the modules it names):
/// output, MSE loss against `lora.noise`, and the gradient of every A and B (base frozen).
fn lora(case: &Case, rows: &mut Vec<Row>) -> Result<()> {
    let rank = case.meta_f64("lora.rank")? as usize;
    let alpha = case.meta_f64("lora.alpha")? as f32;
    let modules: Vec<&str> = case.file.entries.keys().filter_map(|k| k.strip_prefix("lora.A.")).collect();
    let spec = std::sync::Arc::new(crate::nn::LoraSpec::new(rank, alpha, 0.0, &modules, 0));
    let adapt = crate::models::Adapt { lora: Some(spec), merges: None, ..Default::default() };
    let (model, vb) = case.model.unet_adapted(false, &adapt)?;
    let adapters = vb.adapters();
    if adapters.len() != 2 * modules.len() {
        return Err(Error::invalid(
            "parity",
            format!(
                "the case adapts {} modules, the engine's U-Net found {} of them",
                modules.len(),
                adapters.len() / 2
            ),
        ));
    }
    let key = |name: &str| -> String {
        match name.strip_suffix(".lora_A.weight") {
            Some(m) => format!("A.{m}"),
            None => format!("B.{}", name.trim_end_matches(".lora_B.weight")),
        }
    };
    for (name, t) in &adapters {
        t.write(&case.f32(&format!("lora.{}", key(name)))?.1)?;
    }
    let (_, tt) = timesteps(case, "lora.timestep")?;
    let out = model.forward(&case.tensor("lora.sample")?, &tt, &case.tensor("lora.encoder_hidden_states")?)?;
    let loss = mse_loss(&out, &case.tensor("lora.noise")?)?;
    loss.backward()?;
    for (name, t) in [("lora.out", &out), ("lora.loss", &loss)] {
        let (s, want) = case.f32(name)?;
        rows.push(compare("lora", name, &s, &t.to_vec()?, &want, TOL_LORA_FORWARD));
    }
    for (name, t) in &adapters {
        let k = format!("lora.grad.{}", key(name));
        let (s, want) = case.f32(&k)?;
        let got = t.grad().ok_or_else(|| Error::invalid("parity", format!("adapter `{name}` received no gradient")))?;
        rows.push(compare("lora", &k, &s, &got.to_vec()?, &want, TOL_LORA_GRAD));
    }
    Ok(())
}
