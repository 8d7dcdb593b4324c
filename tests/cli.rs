//! The `engine` binary as a user runs it.

mod common;

use std::process::Command;

use common::copy_dir;

fn engine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_engine"))
}

#[test]
fn info_lists_adapters_and_the_chosen_one() {
    let out = engine().arg("info").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Adapters found") && stdout.contains("Chosen:"), "{stdout}");
    assert!(stdout.contains("max_storage_buffer_binding_size"), "{stdout}");
}

#[test]
fn a_missing_backend_is_an_actionable_error_not_a_panic() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = engine();
        c.args(args).env_remove("ENGINE_BACKEND");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{args:?} {env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    // A backend this platform does not have: named as given, with the ones it has.
    let (other, name) = if cfg!(target_os = "macos") { ("dx12", "DX12") } else { ("metal", "Metal") };
    let e = run(&["--backend", other, "info"], &[]);
    assert!(e.contains(&format!("--backend {other}")) && e.contains(name) && e.contains("the backends are"), "{e}");
    let e = run(&["info"], &[("ENGINE_BACKEND", other)]);
    assert!(e.contains(&format!("ENGINE_BACKEND={other}")), "{e}");
    let e = run(&["info"], &[("ENGINE_BACKEND", "vulkn")]);
    assert!(e.contains("ENGINE_BACKEND=\"vulkn\" is not one of"), "{e}");
    // A backend that exists but has no driver: what to install.
    if cfg!(target_os = "linux") {
        let e = run(
            &["--backend", "vulkan", "info"],
            &[("VK_DRIVER_FILES", "/nonexistent.json"), ("VK_ICD_FILENAMES", "/nonexistent.json")],
        );
        assert!(e.contains("no GPU adapter") && e.contains("lavapipe"), "{e}");
    }
}

#[test]
fn bench_gemm_prints_gflops_next_to_the_fma_peak_and_writes_json() {
    let dir = std::env::temp_dir().join(format!("engine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let out = engine().args(["bench", "gemm", "--json"]).arg(&json).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in [
        "fma_probe",
        "copy_probe",
        "[1,256,256]",
        "[1,1024,1024]",
        "gemm_attn_scores",
        "_bf16w",
        "gemm_f16",
        "GFLOP/s",
        "% of peak",
    ] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
    let body = std::fs::read_to_string(&json).unwrap();
    // 16 rows on a CPU adapter; GPUs add GEMM 4096³ in f32 and f16.
    let rows = body.matches("\"kernel\"").count();
    assert!(rows == 16 || rows == 18, "{rows} rows: {body}");
    for key in ["\"shape\"", "\"seconds\"", "\"gflops\"", "\"gbps\"", "\"peak_fraction\""] {
        assert!(body.contains(key), "{body}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_bench_suite_is_an_error() {
    let out = engine().args(["bench", "nonsense"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown suite"));
}

#[test]
fn parity_passes_on_the_committed_case_and_fails_on_a_wrong_reference() {
    use engine::weights::{save, FileDType, OutData, SafeFile};
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/tiny");
    let out = engine().arg("parity").arg(&case).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for needle in [
        "tokenizer.input_ids",
        "clip.last_hidden_state",
        "vae.encode.mean",
        "unet.out",
        "ddim.step.prev_sample",
        "pipeline.latents_out",
        "pass",
        "tensors pass",
    ] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }

    // The same case with the expected U-Net output off by 1%: exit status 1, a FAIL row, JSON rows.
    let dir = std::env::temp_dir().join(format!("engine-parity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&case, &dir);
    let f = SafeFile::open(&case.join("reference.safetensors")).unwrap();
    let mut floats = Vec::new();
    let mut ints = Vec::new();
    for (name, e) in &f.entries {
        if e.dtype == FileDType::I64 {
            ints.push((name.clone(), f.read_i64(name).unwrap()));
        } else {
            let (shape, mut data) = f.read_f32(name).unwrap();
            if name == "unet.out" {
                data.iter_mut().for_each(|v| *v *= 1.01);
            }
            floats.push((name.clone(), shape, data));
        }
    }
    let mut tensors: Vec<(String, Vec<usize>, OutData)> =
        floats.iter().map(|(n, s, d)| (n.clone(), s.clone(), OutData::F32(d))).collect();
    tensors.extend(ints.iter().map(|(n, (s, d))| (n.clone(), s.clone(), OutData::I64(d))));
    save(&dir.join("reference.safetensors"), &tensors, &f.metadata).unwrap();
    let out = engine().arg("parity").arg(&dir).arg("--json").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let unet = rows.iter().find(|r| r["tensor"] == "unet.out").unwrap();
    assert_eq!(unet["pass"], false);
    assert!(rows.iter().filter(|r| r["tensor"] != "unet.out").all(|r| r["pass"] == true));
    for key in ["section", "tensor", "max_abs_err", "rel_err", "pass"] {
        assert!(unet.get(key).is_some(), "no {key} in {unet}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn temp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("engine-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn sample(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    engine()
        .args(["sample", "--model", "builtin:tiny", "--prompt", "a photo of sks dog", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn pixels(path: &std::path::Path) -> Vec<u8> {
    image::open(path).unwrap().to_rgb8().into_raw()
}

#[test]
fn sample_writes_numbered_pngs_with_settings_and_same_seed_gives_same_image() {
    let out = temp("sample");
    let a = sample(&out, &["--seed", "42", "--num-images", "2", "--steps", "3"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    // Profiled (timestamps around every dispatch, a wait per submission): the same image, and
    // the per-kernel and per-class tables on stderr.
    let b = engine()
        .env("ENGINE_PROFILE", "1")
        .args(["sample", "--model", "builtin:tiny", "--prompt", "a photo of sks dog", "--out"])
        .arg(&out)
        .args(["--seed", "42", "--steps", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(b.status.success(), "{stderr}");
    assert!(
        stderr.contains("no profile")
            || (stderr.contains("GPU time by kernel") && stderr.contains("GPU time by dispatch class")),
        "{stderr}"
    );
    // The products' rows carry a rate from the FLOPs their launchers declare; other kernels none.
    if stderr.contains("GPU time by kernel") {
        let last = |prefix: &str| -> Vec<String> {
            let rows = stderr.lines().take_while(|l| !l.starts_with("GPU time by dispatch class"));
            rows.filter(|l| l.trim_start().starts_with(prefix))
                .map(|l| l.split_whitespace().last().unwrap().to_string())
                .collect()
        };
        for prefix in ["gemm", "conv"] {
            let rates = last(prefix);
            let rates: Vec<f64> = rates.iter().map(|r| r.parse().unwrap_or(-1.0)).collect();
            assert!(rates.iter().all(|&r| r >= 0.0) && rates.iter().any(|&r| r > 0.0), "{prefix}: {rates:?}\n{stderr}");
        }
        assert!(last("norm.").iter().all(|r| r == "-"), "{stderr}");
    }
    let mut files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
    assert_eq!(
        names,
        ["00000-42-a-photo-of-sks-dog.png", "00001-43-a-photo-of-sks-dog.png", "00002-42-a-photo-of-sks-dog.png"]
    );
    // The embedded tiny model renders 64x64; the second run's image equals the first's.
    assert_eq!(image::open(&files[0]).unwrap().width(), 64);
    assert_eq!(pixels(&files[0]), pixels(&files[2]));
    assert_ne!(pixels(&files[0]), pixels(&files[1]));
    let text = engine::imageio::png_text(&files[1]).unwrap();
    for (k, v) in [
        ("prompt", "a photo of sks dog"),
        ("seed", "43"),
        ("steps", "3"),
        ("sampler", "ddim"),
        ("guidance_scale", "7.5"),
    ] {
        assert!(text.iter().any(|(kk, vv)| kk == k && vv == v), "no {k}={v} in {text:?}");
    }
    // Weights in bf16: the same seed gives nearly the same image (unrelated images differ by ~85
    // levels on average), and the PNG says so.
    let h = sample(&out, &["--seed", "42", "--steps", "3", "--mixed-precision", "bf16"]);
    assert!(h.status.success(), "{}", String::from_utf8_lossy(&h.stderr));
    let half = out.join("00003-42-a-photo-of-sks-dog.png");
    let (p32, p16) = (pixels(&files[0]), pixels(&half));
    let mean = p32.iter().zip(&p16).map(|(a, b)| a.abs_diff(*b) as f64).sum::<f64>() / p32.len() as f64;
    eprintln!("bf16 weights: mean pixel difference {mean:.3} levels");
    assert!(mean < 4.0, "bf16 image differs by {mean} levels on average");
    let text = engine::imageio::png_text(&half).unwrap();
    assert!(text.iter().any(|(k, v)| k == "mixed_precision" && v == "bf16"), "{text:?}");
    // The other samplers run too.
    for s in ["ddpm", "euler-a"] {
        let r = sample(&out, &["--seed", "1", "--sampler", s, "--steps", "2"]);
        assert!(r.status.success(), "{s}: {}", String::from_utf8_lossy(&r.stderr));
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn sample_rejects_bad_input_before_any_gpu_work() {
    let out = temp("sample-bad");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--height".into(), "100".into()], "multiple of 8"),
        (vec!["--width".into(), "72".into()], "multiple of 32"),
        (vec!["--steps".into(), "0".into()], "--steps must be at least 1"),
        (vec!["--sampler".into(), "plms".into()], "unknown sampler"),
        (vec!["--lora".into(), "no-such-adapter.safetensors".into()], "no-such-adapter.safetensors: no such file"),
        (vec!["--lora-scale".into(), "0.5".into()], "--lora-scale needs a --lora file"),
        (vec!["--mixed-precision".into(), "fp8".into()], "choose no, fp16 or bf16"),
    ];
    for (extra, needle) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let r = sample(&out, &extra);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(needle) && !err.contains("panicked"), "{extra:?}: {err}");
    }
    let empty = temp("empty-model");
    std::fs::create_dir_all(&empty).unwrap();
    let r = engine().args(["sample", "--prompt", "x", "--model"]).arg(&empty).arg("--out").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("no model_index.json"), "{err}");
    // An output "directory" that is a file.
    let file = temp("out-file");
    std::fs::write(&file, b"x").unwrap();
    let r = sample(&file, &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("output directory"), "{err}");
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}
