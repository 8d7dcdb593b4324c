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
