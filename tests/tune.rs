//! The autotuner's choices: a clearly faster candidate replaces the default, one within 5% does
//! not, choices land in the cache file by name, and a remembered class is not timed again. A
//! tuner of its own (its own cache file and switch), so nothing here is process-wide.

use engine::gpu::tune::{TuneKey, Tuner};

struct Key(&'static str);

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "test f32 {}", self.0)
    }
}

impl TuneKey for Key {}

#[test]
fn tuner_keeps_the_fastest_by_a_margin_and_remembers_it() {
    let dir = std::env::temp_dir().join(format!("engine-tune-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("tune.json");
    let tuner = Tuner::new(Some(path.clone()), false);
    let names = ["plain", "fast", "slightly"];

    // Not tuning: the default, nothing timed, nothing written.
    let got = tuner.choose(&Key("class a"), &names, 0, Some(&mut |_| panic!("timed without tuning"))).unwrap();
    assert_eq!(got, "plain");
    assert!(!path.exists());

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

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"test f32 class a\"") && text.contains("\"choice\": \"fast\""), "{text}");
    assert!(text.contains("\"test f32 class b\"") && text.contains("\"choice\": \"plain\""), "{text}");
    assert!(!text.contains("class c"), "{text}");

    // A new tuner on the same file (a later run) takes the remembered choice without timing.
    let later = Tuner::new(Some(path.clone()), true);
    let got = later.choose(&Key("class a"), &names, 0, Some(&mut |_| panic!("timed in a later run"))).unwrap();
    assert_eq!(got, "fast");
    let _ = std::fs::remove_dir_all(&dir);
}
