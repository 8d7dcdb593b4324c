//! The autotuner's choices: a clearly faster candidate replaces the default, one within 5% does
//! not, choices land in the cache file by name, and a remembered class is not timed again.
//! Its own test binary: the cache path and the enable switch are process-wide.

use engine::tune;

#[test]
fn tuner_keeps_the_fastest_by_a_margin_and_remembers_it() {
    let dir = std::env::temp_dir().join(format!("engine-tune-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("tune.json");
    std::env::set_var("ENGINE_TUNE_CACHE", &path);
    let names = ["plain", "fast", "slightly"];

    // Not tuning: the default, nothing timed, nothing written.
    let got = tune::choose("test class a", &names, 0, |_| panic!("timed without tuning")).unwrap();
    assert_eq!(got, "plain");
    assert!(!path.exists());

    tune::enable();
    let mut calls = 0;
    let got = tune::choose("test class a", &names, 0, |i| {
        calls += 1;
        Ok([1.0, 0.5, 0.97][i])
    })
    .unwrap();
    assert_eq!(got, "fast");
    assert_eq!(calls, 6, "two rounds of three candidates");
    // Within 5% of the default: the default stays.
    let got = tune::choose("test class b", &names, 0, |i| Ok([1.0, 2.0, 0.97][i])).unwrap();
    assert_eq!(got, "plain");
    // Remembered: not timed again.
    let got = tune::choose("test class a", &names, 0, |_| panic!("timed twice")).unwrap();
    assert_eq!(got, "fast");

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"test class a\"") && text.contains("\"choice\": \"fast\""), "{text}");
    assert!(text.contains("\"test class b\"") && text.contains("\"choice\": \"plain\""), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
