//! A small autotuner. A kernel family offers several launch variants for a shape class (register
//! blocks, workgroup shapes, subgroup broadcasts, attention's two forms); the tuner times each
//! once on operands of that shape, keeps the fastest, and remembers it per adapter in a JSON
//! file, so that later runs launch it without timing anything.
//!
//! - Tuning runs only when enabled: `ENGINE_TUNE=1`, or `engine bench --tune`. Otherwise a
//!   shape class with no remembered choice takes the family's default, which is what the
//!   defaults were measured to be best at on lavapipe.
//! - The cache is `ENGINE_TUNE_CACHE` if set, else `$XDG_CACHE_HOME/engine/tune.json`, else
//!   `~/.cache/engine/tune.json`; it is keyed by adapter, driver and backend, and holds the
//!   chosen variant's name with every candidate's time. A name the code no longer offers is
//!   ignored (the default is taken, or the class is tuned again).
//! - Choices are cached in memory too, so a class is looked up once per process.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::tensor::Tensor;

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Entry {
    choice: String,
    /// Median seconds of each candidate, by name.
    seconds: BTreeMap<String, f64>,
}

/// adapter -> shape class -> entry.
type File = BTreeMap<String, BTreeMap<String, Entry>>;

struct State {
    file: File,
    path: Option<PathBuf>,
    /// Per-process choices by class: tuned here or read from the file.
    memo: HashMap<String, String>,
    warned: bool,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static STATE: OnceLock<Mutex<State>> = OnceLock::new();

/// Turns tuning on for this process (as `ENGINE_TUNE=1` does).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed) || std::env::var("ENGINE_TUNE").is_ok_and(|v| v == "1")
}

/// Where the choices are kept.
pub fn cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ENGINE_TUNE_CACHE") {
        return Some(PathBuf::from(p));
    }
    Some(crate::fsutil::user_cache_dir()?.join("tune.json"))
}

fn state() -> &'static Mutex<State> {
    STATE.get_or_init(|| {
        let path = cache_path();
        let file = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| serde_json::from_str::<File>(&s).ok())
            .unwrap_or_default();
        Mutex::new(State { file, path, memo: HashMap::new(), warned: false })
    })
}

fn adapter_key() -> Result<String> {
    let ctx = Tensor::ctx()?;
    Ok(format!("{} | {} | {:?}", ctx.info.name, ctx.info.driver_info, ctx.info.backend))
}

/// The name of the variant to launch for shape class `class` of a kernel family, among
/// `candidates` (names, in order; `default` indexes them). `time` runs candidate i on operands
/// of the class's shape and returns its median seconds; it is called only while tuning.
pub fn choose(
    class: &str,
    candidates: &[&'static str],
    default: usize,
    time: impl FnMut(usize) -> Result<f64>,
) -> Result<&'static str> {
    choose_if(class, candidates, default, Some(time))
}

/// [`choose`] where this call cannot time its candidates (`time` is None: its launch is not
/// safe to repeat): a remembered choice, else the default, which is not remembered.
pub fn choose_if(
    class: &str,
    candidates: &[&'static str],
    default: usize,
    time: Option<impl FnMut(usize) -> Result<f64>>,
) -> Result<&'static str> {
    let by_name = |name: &str| candidates.iter().copied().find(|c| *c == name);
    if candidates.len() < 2 {
        return Ok(candidates[default.min(candidates.len().saturating_sub(1))]);
    }
    let adapter = adapter_key()?;
    {
        let st = state().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = st.memo.get(class).and_then(|n| by_name(n)) {
            return Ok(name);
        }
        if let Some(name) = st.file.get(&adapter).and_then(|m| m.get(class)).and_then(|e| by_name(&e.choice)) {
            drop(st);
            let mut st = state().lock().unwrap_or_else(|e| e.into_inner());
            st.memo.insert(class.to_string(), name.to_string());
            return Ok(name);
        }
    }
    // Not tuning: this shape's own default. It is not remembered, because other shapes of the
    // same class may have other defaults (the cost model sees the exact sizes).
    let mut time = match time {
        Some(t) if enabled() => t,
        _ => return Ok(candidates[default]),
    };
    // Time outside the lock: a candidate may itself launch tuned kernels. Two interleaved
    // rounds, each candidate's best kept, so that a burst of load on a shared machine hits one
    // round of one candidate rather than deciding the choice; and a candidate must beat the
    // default by 5% to replace it (on a noisy 2-core machine, single rounds picked variants
    // that ran at half the default's rate).
    let mut seconds = BTreeMap::new();
    let mut times = vec![f64::INFINITY; candidates.len()];
    for _ in 0..2 {
        for (i, t) in times.iter_mut().enumerate() {
            *t = t.min(time(i)?);
        }
    }
    for (name, t) in candidates.iter().zip(&times) {
        seconds.insert(name.to_string(), *t);
    }
    let fastest = (0..times.len()).min_by(|&a, &b| times[a].total_cmp(&times[b])).unwrap_or(default);
    let best =
        if times[fastest] < 0.95 * times[default] { (fastest, times[fastest]) } else { (default, times[default]) };
    let name = candidates[best.0];
    let mut st = state().lock().unwrap_or_else(|e| e.into_inner());
    st.memo.insert(class.to_string(), name.to_string());
    st.file.entry(adapter).or_default().insert(class.to_string(), Entry { choice: name.to_string(), seconds });
    if let Err(e) = save(&st) {
        if !st.warned {
            eprintln!("warning: could not save tuning choices: {e}");
            st.warned = true;
        }
    }
    Ok(name)
}

/// Writes the cache file atomically (a temporary file, then a rename).
fn save(st: &State) -> std::io::Result<()> {
    let Some(path) = &st.path else { return Ok(()) };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&st.file).map_err(std::io::Error::other)?;
    crate::fsutil::write_bytes(path, text.as_bytes()).map_err(std::io::Error::other)
}

/// Shape classes: a size rounded up to a power of two, so that nearby shapes share a choice.
pub fn bucket(x: usize) -> usize {
    x.max(1).next_power_of_two()
}
