//! What a hostile but realistic user meets: bad flags and files are refused before any work,
//! nothing exits 0 over non-finite results, and no failure (a diverged run, a failed export, a
//! full disk) leaves a file under its final name that is not whole or loses a finished run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::copy_dir;
use engine::train::{TrainConfig, TrainOptions};

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("engine-rel-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn engine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_engine"))
}

/// A run of `steps` on the built-in tiny model with nothing optional: no class images, no
/// validation samples, no periodic checkpoints.
fn small(out: &Path, steps: usize) -> TrainOptions {
    TrainOptions {
        output_dir: Some(out.to_path_buf()),
        pretrained_model: Some("builtin:tiny".into()),
        learning_rate: Some(1e-3),
        max_train_steps: Some(steps),
        with_prior_preservation: Some(false),
        center_crop: Some(true),
        identifier: Some("sks".into()),
        validation_steps: Some(1000),
        num_validation_images: Some(0),
        checkpointing_steps: Some(1000),
        ..Default::default()
    }
}

fn run(o: TrainOptions) -> Result<engine::train::Summary, String> {
    o.resolve().and_then(|c: TrainConfig| engine::train::run(&c, false)).map_err(|e| e.to_string())
}

/// Every file below `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p).into_iter().map(|f| format!("{}/{f}", e.file_name().to_string_lossy())));
        } else {
            out.push(e.file_name().to_string_lossy().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn float_and_count_flags_are_refused_up_front_with_the_flag_named() {
    let out = temp("flags");
    type Set = Box<dyn Fn(&mut TrainOptions)>;
    let cases: Vec<(&str, Set)> = vec![
        ("--prior-loss-weight", Box::new(|o| o.prior_loss_weight = Some(f64::NAN))),
        ("--prior-loss-weight", Box::new(|o| o.prior_loss_weight = Some(-1.0))),
        ("--learning-rate", Box::new(|o| o.learning_rate = Some(f64::INFINITY))),
        ("--learning-rate", Box::new(|o| o.learning_rate = Some(0.0))),
        ("--adam-beta1", Box::new(|o| o.adam_beta1 = Some(1.0))),
        ("--adam-beta2", Box::new(|o| o.adam_beta2 = Some(f64::NAN))),
        ("--adam-epsilon", Box::new(|o| o.adam_epsilon = Some(0.0))),
        ("--adam-weight-decay", Box::new(|o| o.adam_weight_decay = Some(f64::NEG_INFINITY))),
        ("--max-grad-norm", Box::new(|o| o.max_grad_norm = Some(f64::NAN))),
        ("--stop-after 0", Box::new(|o| o.stop_after = Some(0))),
        ("--instance-prompt is empty", Box::new(|o| o.instance_prompt = Some("  ".into()))),
    ];
    for (flag, set) in cases {
        let mut o = small(&out, 1);
        set(&mut o);
        let e = o.resolve().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(flag), "{flag}: {e}");
    }
    // Known before training: the tiny model has no original single-file layout.
    let mut o = small(&out, 1);
    o.save_single_file = Some(true);
    let e = run(o).err().unwrap();
    assert!(e.contains("--save-single-file") && e.contains("original SD 1.x layout"), "{e}");
    assert!(!files(&out).iter().any(|f| f.starts_with("checkpoint-") || f == "logs.jsonl"), "{:?}", files(&out));
    // engine sample: a NaN guidance scale or eta is refused before the model is even opened.
    for (args, needle) in [
        (["--guidance-scale", "nan"], "--guidance-scale NaN must be a finite number"),
        (["--eta", "inf"], "--eta inf must be finite"),
    ] {
        let r = engine()
            .args(["sample", "--model", "builtin:tiny", "--prompt", "x", "--out"])
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && stderr.contains(needle), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Out of GPU memory, `engine train`'s error (`TrainConfig::memory_hint`, added to the pool's
/// message) names the memory settings the run has off, each of which lowers the peak, and not
/// those it has on; LoRA for a full fine-tune; the resolution and the batch.
#[test]
fn out_of_memory_names_the_settings_that_would_lower_the_peak() {
    let out = temp("oom-hint");
    // The advice, without the sentence of measured peaks that names every flag.
    let advice = |f: &dyn Fn(&mut TrainOptions)| {
        let mut o = small(&out, 1);
        f(&mut o);
        let hint = o.resolve().unwrap().memory_hint();
        hint.split(". Measured peaks").next().unwrap().to_string()
    };
    let flags = ["--gradient-checkpointing", "--mixed-precision bf16", "--use-8bit-adam", "--fused-backward-pass"];
    let none_on = advice(&|_| {});
    for want in flags.iter().chain(&["--lora-rank 4", "--resolution (now 64)"]) {
        assert!(none_on.contains(want), "{want}: {none_on}");
    }
    assert!(!none_on.contains("--train-batch-size") && !none_on.contains("--train-text-encoder"), "{none_on}");
    let all_on = advice(&|o| {
        o.gradient_checkpointing = Some(true);
        o.mixed_precision = Some("bf16".into());
        o.use_8bit_adam = Some(true);
        o.fused_backward_pass = Some(true);
        o.train_text_encoder = Some(true);
        o.train_batch_size = Some(2);
    });
    for flag in flags {
        assert!(!all_on.contains(flag), "{flag} is on: {all_on}");
    }
    for want in ["no --train-text-encoder (lowers", "--lora-rank 4", "--train-batch-size (now 2)"] {
        assert!(all_on.contains(want), "{want}: {all_on}");
    }
    // The fused pass takes no gradient accumulation: not offered beside it.
    assert!(!all_on.contains("--gradient-accumulation-steps"), "{all_on}");
    let batch = advice(&|o| o.train_batch_size = Some(2));
    assert!(batch.contains("--train-batch-size (now 2) with more --gradient-accumulation-steps"), "{batch}");
    // LoRA: 8-bit AdamW and the fused pass matter little for its few parameters.
    let lora = advice(&|o| o.lora_rank = Some(4));
    assert!(lora.contains("--gradient-checkpointing") && !lora.contains("--use-8bit-adam"), "{lora}");
    assert!(!lora.contains("--lora-rank"), "{lora}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_run_whose_updates_turn_the_weights_non_finite_fails_and_writes_no_model() {
    // lr / (1 - beta1) overflows f32: the first update makes every parameter Inf or NaN.
    for steps in [1, 2] {
        let out = temp(&format!("diverge-{steps}"));
        let mut o = small(&out, steps);
        o.learning_rate = Some(3e38);
        let e = run(o).err().expect("a diverged run must fail");
        assert!(e.contains("non-finite") && e.contains("optimizer step 1") && e.contains("--learning-rate"), "{e}");
        let written = files(&out);
        assert!(
            !written.iter().any(|f| f == "model_index.json" || f.starts_with("unet/") || f.starts_with("checkpoint-")),
            "{written:?}"
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn a_failed_export_keeps_the_result_in_a_checkpoint_and_a_rerun_writes_the_model() {
    let out = temp("export");
    std::fs::create_dir_all(&out).unwrap();
    // A file where the export builds its folder makes the export fail after training.
    std::fs::write(out.join(".export.tmp"), b"in the way").unwrap();
    let e = run(small(&out, 2)).err().expect("the export must fail");
    assert!(
        e.contains("writing the model failed") && e.contains("checkpoint-2") && e.contains("--resume-from-checkpoint"),
        "{e}"
    );
    let written = files(&out);
    assert!(!written.iter().any(|f| f == "model_index.json" || f.starts_with("unet/")), "{written:?}");
    assert!(out.join("checkpoint-2/params.safetensors").is_file());

    // As the message says: the same run resumed from the checkpoint writes the model, trains nothing.
    std::fs::remove_file(out.join(".export.tmp")).unwrap();
    let mut o = small(&out, 2);
    o.resume_from_checkpoint = Some("latest".into());
    let s = run(o).unwrap();
    assert!(s.finished && s.steps == 0);
    let ckpt = engine::weights::SafeFile::open(&out.join("checkpoint-2/params.safetensors")).unwrap();
    let unet = engine::weights::SafeFile::open(&out.join("unet/diffusion_pytorch_model.safetensors")).unwrap();
    let name = "conv_in.weight";
    assert_eq!(ckpt.read_f32(name).unwrap(), unet.read_f32(name).unwrap());
    assert!(out.join("model_index.json").is_file() && !out.join(".export.tmp").exists());

    // A checkpoint past --max-train-steps is an error, not a wrapped-around step count.
    let mut o = small(&out, 1);
    o.resume_from_checkpoint = Some("latest".into());
    let e = run(o).err().unwrap();
    assert!(e.contains("past --max-train-steps 1"), "{e}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn weights_that_are_non_finite_when_loaded_are_reported_as_such() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/tiny/model");
    let dir = temp("nan-weights");
    copy_dir(&src, &dir);
    let file = dir.join("unet/diffusion_pytorch_model.safetensors");
    let f = engine::weights::SafeFile::open(&file).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = f
        .entries
        .keys()
        .map(|k| {
            let (s, d) = f.read_f32(k).unwrap();
            (k.clone(), s, d)
        })
        .collect();
    drop(f);
    let bad = tensors.iter_mut().find(|t| t.0 == "conv_in.weight").unwrap();
    bad.2[3] = f32::NAN;
    let out: Vec<_> =
        tensors.iter().map(|(k, s, d)| (k.clone(), s.clone(), engine::weights::OutData::F32(d))).collect();
    engine::weights::save(&file, &out, &Default::default()).unwrap();
    let e = engine::models::Model::open(&dir).unwrap().unet(false).err().unwrap().to_string();
    assert!(e.contains("conv_in.weight") && e.contains("1 non-finite values"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sampling_that_goes_non_finite_fails_naming_the_step_and_writes_no_image() {
    let out = temp("sample-nan");
    let r = engine()
        .args(["sample", "--model", "builtin:tiny", "--prompt", "a dog", "--steps", "3", "--seed", "1"])
        .args(["--guidance-scale", "3e38", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "{stderr}");
    assert!(stderr.contains("non-finite") && stderr.contains("at step"), "{stderr}");
    assert!(files(&out).is_empty(), "{:?}", files(&out));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn sizes_beyond_the_adapter_are_refused_before_any_work() {
    let out = temp("sizes");
    let r = engine()
        .args(["sample", "--model", "builtin:tiny", "--prompt", "x", "--height", "16384", "--width", "16384", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && stderr.contains("allows buffers of at most"), "{stderr}");
    let mut o = small(&out, 1);
    o.resolution = Some(20000);
    let e = run(o).err().unwrap();
    assert!(e.contains("--resolution 20000") && e.contains("above the engine's limit"), "{e}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn doubtful_images_and_prompts_are_reported() {
    let dir = temp("images");
    std::fs::create_dir_all(&dir).unwrap();
    let dog = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/dog");
    std::fs::copy(dog.join("00.jpg"), dir.join("00.jpg")).unwrap();
    let jpeg = std::fs::read(dog.join("01.jpg")).unwrap();
    std::fs::write(dir.join("01-truncated.jpg"), &jpeg[..jpeg.len() * 2 / 3]).unwrap();
    engine::imageio::save_png(&dir.join("02-small.png"), 20, 20, &[128; 20 * 20 * 3], &[]).unwrap();
    let out = temp("images-out");
    let train = |extra: &[&str]| {
        let r = engine()
            .args(["train", "--max-train-steps", "1", "--num-validation-images", "0", "--center-crop"])
            .args(["--with-prior-preservation", "false"])
            .args(["--instance-data-dir"])
            .arg(&dir)
            .arg("--output-dir")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        (r.status.success(), String::from_utf8_lossy(&r.stderr).to_string())
    };
    let (ok, e) = train(&["--instance-prompt", "a photo of a dog"]);
    assert!(ok, "{e}");
    assert!(e.contains("01-truncated.jpg looks truncated"), "{e}");
    assert!(e.contains("02-small.png is 20x20") && e.contains("scaled up"), "{e}");
    assert!(e.contains("has no [V] and no rare token"), "{e}");
    let (ok, e) = train(&["--instance-prompt", "a photo of sks dog"]);
    assert!(ok && e.contains("used as written") && e.contains("`sks`"), "{e}");
    // A 1x1 image cannot be a photo of the subject: an error that names it.
    engine::imageio::save_png(&dir.join("03-pixel.png"), 1, 1, &[0, 0, 0], &[]).unwrap();
    let (ok, e) = train(&[]);
    assert!(!ok && e.contains("03-pixel.png is 1x1"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&out);
}

/// A small tmpfs at a fresh mount point, where the machine allows mounting (root in a
/// container that permits it); None, and the test says it was skipped, elsewhere.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(tag: &str, size: &str) -> Option<Tmpfs> {
        let p = temp(tag);
        std::fs::create_dir_all(&p).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&p)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!(
                "SKIPPED the full-disk checks: cannot mount a tmpfs here (needs root and a mount-capable sandbox)"
            );
            let _ = std::fs::remove_dir_all(&p);
            return None;
        }
        Some(Tmpfs(p))
    }
    /// Fills the file system up to `leave` free bytes.
    fn fill(&self, leave: u64) {
        let free = engine::fsutil::free_bytes(&self.0).unwrap();
        std::fs::write(self.0.join("filler"), vec![0u8; free.saturating_sub(leave) as usize]).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_full_disk_leaves_no_partial_file_and_training_is_refused_up_front() {
    let Some(disk) = Tmpfs::new("full", "256k") else { return };
    disk.fill(8192);
    let d = &disk.0;
    // safetensors, PNG: an error, and neither the final name nor a temporary file remains.
    let big = vec![1f32; 64 * 1024];
    let e = engine::weights::save(
        &d.join("w.safetensors"),
        &[("w".into(), vec![big.len()], engine::weights::OutData::F32(&big))],
        &Default::default(),
    );
    assert!(e.is_err());
    // Noise, which PNG cannot compress below the space left.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..256 * 256 * 3)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    let e = engine::imageio::save_png(&d.join("p.png"), 256, 256, &noise, &[]);
    assert!(e.is_err());
    assert_eq!(files(d), ["filler"]);
    // engine sample on the full disk: exit 1, no PNG under any name.
    let r = engine()
        .args(["sample", "--model", "builtin:tiny", "--prompt", "x", "--steps", "1", "--seed", "2", "--out"])
        .arg(d)
        .output()
        .unwrap();
    assert!(!r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(files(d), ["filler"]);
    // engine train: the export would not fit, so it does not start.
    let e = run(small(&d.join("run"), 1)).err().unwrap();
    assert!(e.contains("free") && e.contains("the end of this run writes"), "{e}");
}

/// `builtin:emoji`'s folder is written whole under the cache root, reused when complete, and
/// rewritten when a file of it was damaged; no temporary folder is left behind.
#[test]
fn the_embedded_emoji_model_is_written_once_and_repaired_when_damaged() {
    let root = std::env::temp_dir().join(format!("engine-emoji-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = engine::models::emoji::folder_in(&root).unwrap();
    let weights = dir.join("unet/diffusion_pytorch_model.safetensors");
    let size = std::fs::metadata(&weights).unwrap().len();
    assert!(size > 1 << 20, "{size}");
    engine::models::ModelDir::open(&dir).unwrap().unet_config().unwrap();
    let written = std::fs::metadata(&weights).unwrap().modified().unwrap();
    assert_eq!(engine::models::emoji::folder_in(&root).unwrap(), dir);
    assert_eq!(std::fs::metadata(&weights).unwrap().modified().unwrap(), written, "a complete folder is reused");
    std::fs::write(&weights, b"truncated").unwrap();
    assert_eq!(engine::models::emoji::folder_in(&root).unwrap(), dir);
    assert_eq!(std::fs::metadata(&weights).unwrap().len(), size, "a damaged folder is rewritten");
    let names: Vec<String> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert_eq!(names.len(), 1, "only the model's folder: {names:?}");
    std::fs::remove_dir_all(&root).unwrap();
}
