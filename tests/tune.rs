//! The autotuner's choices: a clearly faster candidate replaces the default, one within 5% does
//! not, choices land in the cache file by name, and a remembered class is not timed again (a
//! tuner of its own: its own cache file and switch). And the split-K counts of conv2d's passes
//! are tuned through the process's tuner, its cache file a temporary one (`global_cache`).

mod common;

use common::*;
use engine::gpu::tune::{tuner, TuneKey, Tuner};

struct Key(&'static str);

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "test f32 {}", self.0)
    }
}

impl TuneKey for Key {}

/// The process tuner's cache file: a temporary one, set before any test here reads the
/// process's options (each test calls this first), so that tuning never writes the user's.
fn global_cache() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("engine-tune-global-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("tune.json");
        std::env::set_var("ENGINE_TUNE_CACHE", &path);
        path
    })
    .clone()
}

#[test]
fn tuner_keeps_the_fastest_by_a_margin_and_remembers_it() {
    global_cache();
    let dir = std::env::temp_dir().join(format!("engine-tune-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("tune.json");
    let tuner = Tuner::new(Some(path.clone()), false);
    let names = ["plain", "fast", "slightly"];

    // Not tuning: the default, nothing timed, nothing written.
    let got = tuner.choose(&Key("class a"), &names, 0, Some(&mut |_| panic!("timed without tuning"))).unwrap();
    assert_eq!(got, "plain");
    assert!(!path.exists());
    // What `engine train`'s note on an untuned GPU counts: classes launched on their defaults.
    assert!(!tuner.has_choices().unwrap());
    assert_eq!(tuner.untuned_classes(), 1);
    tuner.choose(&Key("class a"), &names, 0, Some(&mut |_| panic!("timed without tuning"))).unwrap();
    assert_eq!(tuner.untuned_classes(), 1, "a class counts once");

    tuner.enable();
    let mut calls = 0;
    let got = tuner
        .choose(
            &Key("class a"),
            &names,
            0,
            Some(&mut |i| {
                calls += 1;
                Ok([1.0, 0.5, 0.97][i])
            }),
        )
        .unwrap();
    assert_eq!(got, "fast");
    assert_eq!(calls, 6, "two rounds of three candidates");
    // Within 5% of the default: the default stays.
    let got = tuner.choose(&Key("class b"), &names, 0, Some(&mut |i| Ok([1.0, 2.0, 0.97][i]))).unwrap();
    assert_eq!(got, "plain");
    // Remembered: not timed again.
    let got = tuner.choose(&Key("class a"), &names, 0, Some(&mut |_| panic!("timed twice"))).unwrap();
    assert_eq!(got, "fast");
    // A launch that cannot be repeated is never timed: a remembered choice, else the default.
    let got = tuner.choose(&Key("class c"), &names, 2, None).unwrap();
    assert_eq!(got, "slightly");
    // Tuned while on, or never timeable: no more untuned classes than before.
    assert_eq!(tuner.untuned_classes(), 1);

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"test f32 class a\"") && text.contains("\"choice\": \"fast\""), "{text}");
    assert!(text.contains("\"test f32 class b\"") && text.contains("\"choice\": \"plain\""), "{text}");
    assert!(!text.contains("class c"), "{text}");

    assert!(tuner.has_choices().unwrap());
    // A new tuner on the same file (a later run) takes the remembered choice without timing.
    let later = Tuner::new(Some(path.clone()), true);
    assert!(later.has_choices().unwrap(), "read from the file");
    let got = later.choose(&Key("class a"), &names, 0, Some(&mut |_| panic!("timed in a later run"))).unwrap();
    assert_eq!(got, "fast");
    // Tuning off, a remembered class is no untuned one; a new class is.
    let off = Tuner::new(Some(path.clone()), false);
    off.choose(&Key("class a"), &names, 0, Some(&mut |_| panic!("timed without tuning"))).unwrap();
    assert_eq!(off.untuned_classes(), 0);
    off.choose(&Key("class d"), &names, 0, Some(&mut |_| panic!("timed without tuning"))).unwrap();
    assert_eq!(off.untuned_classes(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A candidate that runs out of memory while it is timed (a larger split count's copies of C,
/// timed inside a training step near the card's limit) is left out and the class still gets a
/// choice; the default running out is the launch's own error.
#[test]
fn a_candidate_out_of_memory_is_left_out() {
    use engine::error::Error;
    global_cache();
    let dir = std::env::temp_dir().join(format!("engine-tune-oom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("tune.json");
    let tuner = Tuner::new(Some(path.clone()), true);
    let names = ["rule", "twice", "half"];
    let mut timed = [0; 3];
    let got = tuner
        .choose(
            &Key("class oom"),
            &names,
            0,
            Some(&mut |i| {
                timed[i] += 1;
                match i {
                    1 => Err(Error::OutOfMemory("a test's candidate".into())),
                    _ => Ok([1.0, 0.1, 0.5][i]),
                }
            }),
        )
        .unwrap();
    assert_eq!(got, "half", "the fastest candidate that ran");
    assert_eq!(timed, [2, 1, 2], "the dropped candidate is not timed again");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"choice\": \"half\""), "{text}");
    assert!(!text.contains("\"twice\""), "no time for the dropped candidate: {text}");
    // A later run reads the file whole (no non-finite time in it) and keeps the choice.
    let later = Tuner::new(Some(path.clone()), false);
    let got = later.choose(&Key("class oom"), &names, 0, Some(&mut |_| panic!("timed in a later run"))).unwrap();
    assert_eq!(got, "half");

    // The default itself out of memory: the error, as the launch would give it.
    let err = tuner
        .choose(
            &Key("class oom default"),
            &names,
            0,
            Some(&mut |i| if i == 0 { Err(Error::OutOfMemory("the default".into())) } else { Ok(0.1) }),
        )
        .unwrap_err();
    assert!(matches!(err, Error::OutOfMemory(_)), "{err}");
    // Another error of a candidate is not swallowed either.
    let err = tuner
        .choose(
            &Key("class other error"),
            &names,
            0,
            Some(&mut |i| if i == 2 { Err(Error::invalid("test", "not memory")) } else { Ok(1.0) }),
        )
        .unwrap_err();
    assert!(!matches!(err, Error::OutOfMemory(_)), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// conv2d's split-K counts under `--tune`, with the GPUs' split rules forced on this adapter:
/// a deep, small convolution's forward (1024 channels over a 4x4 image: the rule's 8 slices)
/// and a weight gradient over many output rows (4 images of 32 rows: 4 slices) time their
/// candidate counts, record the choice by name with every count's seconds, and compute the
/// reference's values whichever count won; and GEMM's split-K likewise.
#[test]
fn conv_split_counts_are_tuned_and_recorded() {
    let path = global_cache();
    engine::ops::launch::force_gpu_split_rules(true);
    tuner().unwrap().enable();
    let mut rng = Rng::new(71);
    for (xs, ws) in [([1usize, 1024, 4, 4], [16usize, 1024, 3, 3]), ([4, 8, 32, 32], [8, 8, 3, 3])] {
        let name = format!("tuned splits x{xs:?} w{ws:?}");
        let (x, w) = (rng.vec(xs.iter().product(), -1.0, 1.0), rng.vec(ws.iter().product(), -1.0, 1.0));
        let (tx, tw) = (param(&x, &xs), param(&w, &ws));
        let y = tx.conv2d(&tw, None, 1, 1).unwrap();
        let dy = rng.vec(y.numel(), -1.0, 1.0);
        y.backward_with(&t(&dy, y.shape())).unwrap();
        let want = conv2d_ref(&f64s(&x), &f64s(&w), None, xs, ws, 1, 1);
        let k = (ws[1] * ws[2] * ws[3]) as f64;
        assert_close(&format!("{name} y"), &y.to_vec().unwrap(), &want, 1e-5 * k.sqrt() + 1e-6, 1e-5);
        let (dx, dw) = conv2d_grads_ref(&f64s(&x), &f64s(&w), &f64s(&dy), xs, ws, 1, 1);
        let k = (ws[0] * 9).max(y.numel() / ws[0]) as f64;
        assert_close(&format!("{name} dx"), &tx.grad().unwrap().to_vec().unwrap(), &dx, 1e-5 * k.sqrt() + 1e-6, 1e-5);
        assert_close(&format!("{name} dw"), &tw.grad().unwrap().to_vec().unwrap(), &dw, 1e-5 * k.sqrt() + 1e-6, 1e-5);
    }
    // GEMM's split-K: a 64 x 64 product 8192 deep (the rule's 32 runs of 256 where the grid is
    // small), and its transposes' gradients through autograd.
    let (m, n, k) = (64usize, 64usize, 8192usize);
    let (a, b) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
    let c = engine::ops::gemm::matmul_t(&t(&a, &[1, m, k]), &t(&b, &[1, k, n]), false, false).unwrap();
    let want = gemm_ref(&f64s(&a), &f64s(&b), None, 1, m, n, k, false, false);
    let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
    assert_close("tuned splits gemm", &c.to_vec().unwrap(), &want, tol, tol);
    engine::ops::launch::force_gpu_split_rules(false);
    let text = std::fs::read_to_string(&path).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let classes: Vec<(&String, &serde_json::Value)> =
        file.as_object().unwrap().values().flat_map(|a| a.as_object().unwrap()).collect();
    for (what, counts, double) in [
        ("conv split f32*f32", ["rule", "half", "quarter", "none"], false),
        ("conv-dw split f32*f32", ["rule", "half", "quarter", ""], false),
        ("gemm split f32*f32", ["rule", "half", "quarter", "none"], true),
    ] {
        let (class, entry) = classes
            .iter()
            .find(|(c, _)| c.starts_with(&format!("{what} ")))
            .unwrap_or_else(|| panic!("no {what} class in {text}"));
        let seconds = entry["seconds"].as_object().unwrap();
        let timed: Vec<&str> = seconds.keys().map(|k| k.as_str()).collect();
        for c in counts.iter().filter(|c| !c.is_empty()) {
            assert!(seconds[*c].as_f64().unwrap() > 0.0, "{class}: {c} not timed ({timed:?})");
        }
        // Past the depth cap (conv) not timed; within K's divisors (GEMM) timed.
        assert_eq!(timed.contains(&"double"), double, "{class}: {timed:?}");
        assert!(timed.contains(&entry["choice"].as_str().unwrap()), "{class}: {entry}");
    }
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
