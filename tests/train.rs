//! `engine train` end to end on the built-in tiny model: the loss falls and the fine-tuned
//! model's samples of the instance prompt move toward the subject; a resumed run ends
//! bit-identical to one that never stopped; the output folder loads into `engine sample` and,
//! where Python with diffusers is installed, into diffusers with matching U-Net outputs.

use std::path::{Path, PathBuf};

use engine::diffusion::pipeline::{denoise, encode_prompts, initial_latents, Pipeline};
use engine::diffusion::{Sampler, SamplerKind};
use engine::models::Model;
use engine::rng::Rng;
use engine::train::{TrainConfig, TrainOptions};
use engine::Tensor;

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("engine-train-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(out: &Path, f: impl FnOnce(&mut TrainOptions)) -> TrainConfig {
    let mut o = TrainOptions { output_dir: Some(out.to_path_buf()), ..Default::default() };
    f(&mut o);
    o.resolve().unwrap()
}

/// Latents of the instance prompt sampled with `pipe` (DDIM, fixed seeds).
fn sample_latents(pipe: &Pipeline, prompt: &str, n: usize) -> Vec<Vec<f32>> {
    let _g = engine::no_grad();
    let (cond, _) = encode_prompts(&pipe.clip, &pipe.tokenizer, &[prompt.to_string()]).unwrap();
    let (uncond, _) = encode_prompts(&pipe.clip, &pipe.tokenizer, &[String::new()]).unwrap();
    let sampler = Sampler::new(&pipe.schedule, SamplerKind::Ddim, 20, 0.0).unwrap();
    (0..n)
        .map(|i| {
            let mut rng = Rng::new(1000 + i as u64);
            let x0 = initial_latents(&mut rng, &[1, 4, 8, 8], 1.0).unwrap();
            let x = denoise(&pipe.unet, &sampler, x0, &cond, Some(&uncond), 3.0, &mut rng, |_| Ok(())).unwrap();
            x.to_vec().unwrap()
        })
        .collect()
}

/// Mean over samples of the squared distance to the nearest instance latent.
fn distance(samples: &[Vec<f32>], targets: &[Vec<f32>]) -> f64 {
    samples
        .iter()
        .map(|s| {
            targets
                .iter()
                .map(|t| s.iter().zip(t).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / s.len() as f64)
                .fold(f64::MAX, f64::min)
        })
        .sum::<f64>()
        / samples.len() as f64
}

#[test]
fn dreambooth_on_the_tiny_model_learns_the_subject_and_its_output_loads_back() {
    let out = temp("learn");
    let cfg = config(&out, |o| {
        o.max_train_steps = Some(120);
        o.with_prior_preservation = Some(false);
        o.center_crop = Some(true);
        o.identifier = Some("sks".into());
        o.validation_prompt = Some("a photo of [V] dog".into());
        o.validation_steps = Some(1000);
        o.checkpointing_steps = Some(1000);
        o.sample_steps = Some(4);
        o.num_validation_images = Some(1);
    });
    let prompt = engine::train::instance_prompt(&cfg, "sks");

    // The instance latents (scaled as the U-Net sees them), from the frozen VAE.
    let base = Model::open(Path::new("builtin:tiny")).unwrap();
    let before = Pipeline::load(&base).unwrap();
    let targets: Vec<Vec<f32>> = {
        let _g = engine::no_grad();
        let mut crop = Rng::new(0);
        engine::train::data::embedded_dog()
            .unwrap()
            .iter()
            .map(|(_, img)| {
                let px = engine::train::data::prepare(img, 64, true, &mut crop);
                let d = before.vae.encode(&Tensor::from_slice(&px, &[1, 3, 64, 64]).unwrap()).unwrap();
                d.mean.to_vec().unwrap().iter().map(|v| v * 0.18215).collect()
            })
            .collect()
    };
    let d_before = distance(&sample_latents(&before, &prompt, 4), &targets);
    drop(before);

    let summary = engine::train::run(&cfg, false).unwrap();
    assert!(summary.finished && summary.steps == 120);
    // Mean instance loss of the first and last 30 steps (the loss is noisy: random timesteps).
    let mean = |s: &[(usize, f64, f64)]| s.iter().map(|x| x.1).sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&summary.losses[..30]), mean(&summary.losses[90..]));
    eprintln!("instance loss: first 30 steps {first:.4}, last 30 {last:.4}");
    assert!(last < 0.7 * first, "the loss did not fall clearly: {first} -> {last}");

    let trained = Model::open(&out).unwrap();
    let after = Pipeline::load(&trained).unwrap();
    let d_after = distance(&sample_latents(&after, &prompt, 4), &targets);
    eprintln!("distance of sampled latents to the nearest instance latent: before {d_before:.4}, after {d_after:.4}");
    assert!(d_after < 0.7 * d_before, "samples did not move toward the subject: {d_before} -> {d_after}");
    for f in [
        "model_index.json",
        "unet/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "tokenizer/vocab.json",
        "scheduler/scheduler_config.json",
        "loss.png",
        "validation_grid.png",
        "logs.jsonl",
    ] {
        assert!(out.join(f).is_file(), "no {f}");
    }

    // The folder loads into `engine sample`.
    let samples = out.join("samples");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["sample", "--prompt", &prompt, "--steps", "2", "--seed", "3", "--model"])
        .arg(&out)
        .arg("--out")
        .arg(&samples)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read_dir(&samples).unwrap().count(), 1);

    diffusers_check(&out, &after);
    std::fs::remove_dir_all(&out).unwrap();
}

/// Loads the output folder with diffusers (where Python has it) and compares U-Net outputs.
fn diffusers_check(out: &Path, pipe: &Pipeline) {
    let python = std::env::var("ENGINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/check_diffusers_load.py");
    let probe = std::process::Command::new(&python).args(["-c", "import diffusers, torch"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED the diffusers load check: `{python} -c 'import diffusers, torch'` fails (set ENGINE_PYTHON to a Python with tools/requirements.txt installed)");
        return;
    }
    let result = out.join("diffusers_unet.safetensors");
    let r = std::process::Command::new(&python).arg(&script).arg(out).arg(&result).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let f = engine::weights::SafeFile::open(&result).unwrap();
    let get = |n: &str| {
        let (s, d) = f.read_f32(n).unwrap();
        Tensor::from_slice(&d, &s).unwrap()
    };
    let _g = engine::no_grad();
    let got =
        pipe.unet.forward(&get("sample"), &get("timestep"), &get("encoder_hidden_states")).unwrap().to_vec().unwrap();
    let (_, want) = f.read_f32("out").unwrap();
    let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("diffusers loads the output folder: U-Net max |engine - diffusers| = {err:.3e} (max |out| {max:.3})");
    assert!(err <= 1e-4 * max.max(1e-6), "U-Net outputs differ: {err} vs max {max}");
}

#[test]
fn a_resumed_run_ends_bit_identical_to_one_that_never_stopped() {
    let (a, b) = (temp("straight"), temp("resumed"));
    let opts = |o: &mut TrainOptions| {
        o.max_train_steps = Some(6);
        o.with_prior_preservation = Some(true);
        o.num_class_images = Some(2);
        o.sample_steps = Some(2);
        o.hflip = Some(true);
        o.train_text_encoder = Some(true);
        o.gradient_accumulation_steps = Some(2);
        o.lr_scheduler = Some("cosine".into());
        o.lr_warmup_steps = Some(2);
        o.checkpointing_steps = Some(100);
        o.validation_prompt = Some(String::new());
        o.validation_steps = Some(1000);
        o.num_validation_images = Some(0);
    };
    engine::train::run(&config(&a, opts), false).unwrap();
    // The same run stopped after 3 steps (a checkpoint is written on stopping), then resumed.
    let first = engine::train::run(
        &config(&b, |o| {
            opts(o);
            o.stop_after = Some(3);
        }),
        false,
    )
    .unwrap();
    assert!(!first.finished && b.join("checkpoint-3/state.json").is_file());
    assert!(!b.join("unet").exists());
    let second = engine::train::run(
        &config(&b, |o| {
            opts(o);
            o.resume_from_checkpoint = Some("latest".into());
        }),
        false,
    )
    .unwrap();
    assert!(second.finished && second.steps == 3 && second.losses.len() == 6);
    for f in ["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"] {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs after resuming");
    }
    let la = std::fs::read_to_string(a.join("logs.jsonl")).unwrap();
    let lb = std::fs::read_to_string(b.join("logs.jsonl")).unwrap();
    let losses = |s: &str| {
        s.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(losses(&la), losses(&lb));

    // A resume path that holds no checkpoint is an error, before any work.
    let err = engine::train::run(
        &config(&b, |o| {
            opts(o);
            o.resume_from_checkpoint = Some(a.join("unet").display().to_string());
        }),
        false,
    );
    assert!(err.err().unwrap().to_string().contains("does not hold a checkpoint"));
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}
