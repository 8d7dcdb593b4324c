//! The `engine` binary as a user runs it.

use std::process::Command;

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
    // Metal does not exist on Linux (DX12 not outside Windows); on a Mac pick DX12 instead.
    let backend = if cfg!(target_os = "macos") { "dx12" } else { "metal" };
    let out = engine().args(["--backend", backend, "info"]).env_remove("ENGINE_BACKEND").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("no GPU adapter") && stderr.contains("lavapipe"), "{stderr}");
}

#[test]
fn bench_gemm_prints_gflops_next_to_the_fma_peak_and_writes_json() {
    let dir = std::env::temp_dir().join(format!("engine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let out = engine().args(["bench", "gemm", "--json"]).arg(&json).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in
        ["fma_probe", "copy_probe", "[1,256,256]", "[1,1024,1024]", "gemm_attn_scores", "GFLOP/s", "% of peak"]
    {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
    let body = std::fs::read_to_string(&json).unwrap();
    assert_eq!(body.matches("\"kernel\"").count(), 6, "{body}");
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

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn parity_passes_on_the_committed_case_and_fails_on_a_wrong_reference() {
    use engine::weights::{save, FileDType, OutData, SafeFile};
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/tiny");
    let out = engine().arg("parity").arg(&case).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["tokenizer.input_ids", "clip.last_hidden_state", "vae.encode.mean", "unet.out", "pass", "6 of 6"] {
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
