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

/// Runs `tools/check_diffusers_load.py ARGS… RESULT` with `python` when it has `modules`, and
/// opens what it wrote; None (the check is skipped, and says so) where that Python lacks them.
fn python_check(
    python: &str,
    modules: &str,
    args: &[&std::ffi::OsStr],
    result: &Path,
) -> Option<engine::weights::SafeFile> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/check_diffusers_load.py");
    let probe = std::process::Command::new(python).args(["-c", &format!("import {modules}")]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED a check through {modules}: `{python} -c 'import {modules}'` fails (set ENGINE_PYTHON to a Python with tools/requirements.txt installed)");
        return None;
    }
    let r = std::process::Command::new(python).arg(&script).args(args).arg(result).output().unwrap();
    assert!(r.status.success(), "{python} {} {args:?}: {}", script.display(), String::from_utf8_lossy(&r.stderr));
    Some(engine::weights::SafeFile::open(result).unwrap())
}

fn read(f: &engine::weights::SafeFile, name: &str) -> Tensor {
    let (s, d) = f.read_f32(name).unwrap();
    Tensor::from_slice(&d, &s).unwrap()
}

/// max |got - want| ≤ rtol · max |want|, printed with the library versions that computed `want`.
fn assert_matches(what: &str, got: &Tensor, f: &engine::weights::SafeFile, name: &str, rtol: f32) {
    let got = got.to_vec().unwrap();
    let (_, want) = f.read_f32(name).unwrap();
    assert_eq!(got.len(), want.len(), "{what}: sizes differ");
    let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let versions: Vec<String> = f.metadata.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!("{what}: max |engine - python| = {err:.3e}, max |out| {max:.3} ({})", versions.join(", "));
    assert!(err <= rtol * max.max(1e-6), "{what} differs: {err} vs max {max}");
}

/// The text encoder's output on the ids the script tokenized.
fn clip_output(pipe: &Pipeline, f: &engine::weights::SafeFile) -> Tensor {
    let (_, ids) = f.read_i64("input_ids").unwrap();
    pipe.clip.forward(&[ids.iter().map(|&i| i as u32).collect()]).unwrap()
}

/// Loads the output folder with diffusers and transformers (where Python has them) and compares
/// U-Net and text-encoder outputs; then the text encoder alone with every Python named in
/// ENGINE_PYTHONS (space-separated: e.g. one with transformers 4.4x and one with 5.x).
fn diffusers_check(out: &Path, pipe: &Pipeline) {
    let _g = engine::no_grad();
    let python = std::env::var("ENGINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let result = out.join("diffusers_unet.safetensors");
    if let Some(f) = python_check(&python, "diffusers, torch", &["folder".as_ref(), out.as_os_str()], &result) {
        let got =
            pipe.unet.forward(&read(&f, "sample"), &read(&f, "timestep"), &read(&f, "encoder_hidden_states")).unwrap();
        assert_matches("diffusers loads the output folder: U-Net", &got, &f, "out", 1e-5);
        assert_matches(
            "diffusers loads the output folder: text encoder",
            &clip_output(pipe, &f),
            &f,
            "last_hidden_state",
            1e-5,
        );
    }
    for (i, python) in std::env::var("ENGINE_PYTHONS").unwrap_or_default().split_whitespace().enumerate() {
        let result = out.join(format!("text_encoder_{i}.safetensors"));
        if let Some(f) =
            python_check(python, "transformers, torch", &["text-encoder".as_ref(), out.as_os_str()], &result)
        {
            assert_matches(
                &format!("{python} loads the text encoder"),
                &clip_output(pipe, &f),
                &f,
                "last_hidden_state",
                1e-5,
            );
        }
    }
}

#[test]
fn a_resumed_run_ends_bit_identical_to_one_that_never_stopped() {
    let base = |o: &mut TrainOptions| {
        o.max_train_steps = Some(6);
        o.with_prior_preservation = Some(true);
        o.num_class_images = Some(2);
        o.sample_steps = Some(2);
        o.hflip = Some(true);
        o.train_text_encoder = Some(true);
        o.lr_scheduler = Some("cosine".into());
        o.lr_warmup_steps = Some(2);
        o.checkpointing_steps = Some(100);
        o.validation_prompt = Some(String::new());
        o.validation_steps = Some(1000);
        o.num_validation_images = Some(0);
    };
    resumes_bit_identical("accumulating", &|o| {
        base(o);
        o.gradient_accumulation_steps = Some(2);
    });
    // 8-bit moments (codes and absmax in the checkpoint), updated inside a fused backward pass
    // through checkpointed blocks.
    resumes_bit_identical("8bit-fused", &|o| {
        base(o);
        o.use_8bit_adam = Some(true);
        o.fused_backward_pass = Some(true);
        o.gradient_checkpointing = Some(true);
    });
}

fn resumes_bit_identical(tag: &str, opts: &dyn Fn(&mut TrainOptions)) {
    let (a, b) = (temp(&format!("straight-{tag}")), temp(&format!("resumed-{tag}")));
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
    // Resuming with the other optimizer state kind is refused.
    let other = engine::train::run(
        &config(&b, |o| {
            opts(o);
            o.use_8bit_adam = Some(!o.use_8bit_adam.unwrap_or(false));
            o.resume_from_checkpoint = Some("latest".into());
        }),
        false,
    );
    assert!(other.err().unwrap().to_string().contains("--use-8bit-adam setting the run started with"));
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
    // Each line holds the GPU memory live after the step and the pool's peak during it; the
    // peak includes the step's activations and gradients, so it is above what stays live.
    for l in la.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let (live, peak) = (v["gpu_gib"].as_f64().unwrap(), v["gpu_peak_gib"].as_f64().unwrap());
        assert!(peak > live && live > 0.0, "{l}");
    }

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

#[test]
fn bad_training_input_gives_clear_errors_and_bad_files_are_skipped() {
    let out = temp("bad");
    let err = |f: &dyn Fn(&mut TrainOptions)| -> String {
        let mut o = TrainOptions { output_dir: Some(out.clone()), max_train_steps: Some(1), ..Default::default() };
        f(&mut o);
        match o.resolve().and_then(|c| engine::train::run(&c, false)) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    };
    assert!(err(&|o| o.resolution = Some(100)).contains("not a positive multiple of 8"));
    assert!(err(&|o| o.resolution = Some(72)).contains("multiple of 32 for this model"));
    assert!(err(&|o| o.lr_scheduler = Some("polynomial".into()))
        .contains("constant, constant_with_warmup, linear or cosine"));
    assert!(err(&|o| {
        o.fused_backward_pass = Some(true);
        o.gradient_accumulation_steps = Some(2);
    })
    .contains("cannot accumulate gradients"));
    let missing = out.join("no-such-dir");
    assert!(err(&|o| o.instance_data_dir = Some(missing.clone())).contains("does not exist"));
    // A folder of files that are not images: each skipped with a warning, then an error.
    let junk = temp("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("notes.txt"), b"hello").unwrap();
    std::fs::write(junk.join("broken.jpg"), b"\xff\xd8\xff\xe0 not really").unwrap();
    assert!(err(&|o| o.instance_data_dir = Some(junk.clone())).contains("no usable images"));
    let empty_model = temp("empty-model");
    std::fs::create_dir_all(&empty_model).unwrap();
    assert!(err(&|o| o.pretrained_model = Some(empty_model.clone())).contains("not a diffusers model folder"));
    assert!(err(&|o| o.resume_from_checkpoint = Some("latest".into())).contains("holds no checkpoint"));
    let file = temp("out-is-a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = TrainOptions { output_dir: Some(file.clone()), ..Default::default() }
        .resolve()
        .and_then(|c| engine::train::run(&c, false));
    assert!(e.err().unwrap().to_string().contains("output directory"));

    // A TOML file holds the same settings; flags override it.
    let toml = junk.join("run.toml");
    std::fs::write(&toml, "max-train-steps = 7\nlearning-rate = 2e-4\nresolution = 128\nlr-scheduler = \"cosine\"\n")
        .unwrap();
    let flags = TrainOptions { resolution: Some(64), ..Default::default() };
    let c = flags.with_file(Some(&toml)).unwrap().resolve().unwrap();
    assert_eq!((c.max_train_steps, c.learning_rate, c.resolution, c.lr_scheduler.as_str()), (7, 2e-4, 64, "cosine"));
    std::fs::write(&toml, "max-steps = 7\n").unwrap();
    assert!(TrainOptions::default().with_file(Some(&toml)).err().unwrap().to_string().contains("unknown field"));
    for d in [&out, &junk, &empty_model] {
        let _ = std::fs::remove_dir_all(d);
    }
    let _ = std::fs::remove_file(&file);
}

#[test]
fn learning_rate_schedules_follow_diffusers() {
    let mut o = TrainOptions {
        max_train_steps: Some(100),
        learning_rate: Some(1.0),
        lr_warmup_steps: Some(10),
        ..Default::default()
    };
    let at = |o: &TrainOptions, s: &str, step: usize| {
        let mut o = o.clone();
        o.lr_scheduler = Some(s.into());
        o.resolve().unwrap().lr_at(step)
    };
    assert_eq!(at(&o, "constant", 0), 1.0);
    assert_eq!(at(&o, "constant_with_warmup", 5), 0.5);
    assert_eq!(at(&o, "linear", 55), 0.5);
    assert!((at(&o, "cosine", 55) - 0.5).abs() < 1e-12);
    assert_eq!(at(&o, "cosine", 10), 1.0);
    o.lr_warmup_steps = Some(0);
    assert_eq!(at(&o, "linear", 100), 0.0);
}

#[test]
fn the_auto_identifier_is_one_rare_token_chosen_by_the_seed() {
    let tok = engine::models::ClipTokenizer::shipped().unwrap();
    let a = engine::train::auto_identifier(&tok, 0).unwrap();
    assert_eq!(a, engine::train::auto_identifier(&tok, 0).unwrap());
    let others: std::collections::BTreeSet<String> =
        (0..20).map(|s| engine::train::auto_identifier(&tok, s).unwrap()).collect();
    assert!(others.len() > 5, "{others:?}");
    for id in others.iter().chain([&a]) {
        assert!((1..=3).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase()), "{id}");
        let pieces = tok.pieces(id).unwrap();
        assert!(pieces.len() == 1 && pieces[0] >= 40000, "{id}: {pieces:?}");
    }
}

#[test]
fn a_single_file_export_loads_back_to_the_same_weights() {
    // The single-file fixture has SD 1.x's topology, which the original key layout needs.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/single_file/model");
    let model = Model::open(&dir).unwrap();
    let (_, u) = model.unet(false).unwrap();
    let (_, t) = model.text_encoder(false).unwrap();
    let (_, v) = model.vae_with_loader().unwrap();
    let host = |l: &engine::nn::Loader| engine::train::export::out_params(&l.parameters());
    let out = temp("single");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("model.safetensors");
    engine::train::export::write_single_file(&path, &model, &host(&u), &host(&t), &host(&v)).unwrap();
    let back = Model::single_file_with_configs(&path, &dir).unwrap();
    let (_, u2) = back.unet(false).unwrap();
    let (_, t2) = back.text_encoder(false).unwrap();
    let (_, v2) = back.vae_with_loader().unwrap();
    // The same weights read back: names, shapes and data.
    let values = |l: &engine::nn::Loader| -> Vec<(String, Vec<usize>, Vec<f32>)> {
        l.parameters().into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.to_vec().unwrap())).collect()
    };
    assert_eq!(values(&u), values(&u2));
    assert_eq!(values(&t), values(&t2));
    assert_eq!(values(&v), values(&v2));
    // Byte-for-byte the key set of the fixture's own CompVis file (made by diffusers' names).
    let ours = engine::weights::SafeFile::open(&path).unwrap();
    let theirs = engine::weights::SafeFile::open(&dir.parent().unwrap().join("sd1-tiny.safetensors")).unwrap();
    assert_eq!(ours.entries.keys().collect::<Vec<_>>(), theirs.entries.keys().collect::<Vec<_>>());
    // diffusers' own single-file loader reads it (configs from the fixture folder, no network).
    let python = std::env::var("ENGINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let args = ["single-file".as_ref(), path.as_os_str(), dir.as_os_str()];
    if let Some(f) = python_check(&python, "diffusers, torch", &args, &out.join("from_single_file.safetensors")) {
        let _g = engine::no_grad();
        let pipe = Pipeline::load(&back).unwrap();
        let got =
            pipe.unet.forward(&read(&f, "sample"), &read(&f, "timestep"), &read(&f, "encoder_hidden_states")).unwrap();
        assert_matches("from_single_file: U-Net", &got, &f, "out", 1e-5);
        assert_matches("from_single_file: text encoder", &clip_output(&pipe, &f), &f, "last_hidden_state", 1e-5);
        let decoded = pipe.vae.decode(&read(&f, "vae.latents")).unwrap();
        assert_matches("from_single_file: VAE decoder", &decoded, &f, "vae.decoded", 1e-5);
    }
    // The tiny model's shape has no original layout: a clear error.
    let tiny = Model::open(Path::new("builtin:tiny")).unwrap();
    let e = engine::train::export::write_single_file(&out.join("x.safetensors"), &tiny, &[], &[], &[]);
    assert!(e.err().unwrap().to_string().contains("original SD 1.x layout"));
    std::fs::remove_dir_all(&out).unwrap();
}
