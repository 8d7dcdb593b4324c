//! A small autotuner. A kernel family offers several launch variants for a shape class (register
//! blocks, workgroup shapes, subgroup broadcasts, attention's two forms); the tuner times each
//! once on operands of that shape, keeps the fastest, and remembers it per adapter in a JSON
//! file, so that later runs launch it without timing anything.
//!
//! - Each family keys its choices by a typed [`TuneKey`] (ops' `GemmKey`, `ConvKey`,
//!   `AttentionKey`) whose fields are the storage dtype and the shape class; its `Display` is
//!   the key in the file.
//! - Tuning runs only when enabled: `ENGINE_TUNE=1`, or `engine bench --tune`. Otherwise a
//!   shape class with no remembered choice takes the family's default, which is what the
//!   defaults were measured to be best at on lavapipe.
//! - The cache is `ENGINE_TUNE_CACHE` if set, else `$XDG_CACHE_HOME/engine/tune.json`, else
//!   `~/.cache/engine/tune.json`; it is keyed by adapter, driver and backend, and holds the
//!   chosen variant's name with every candidate's time. A name the code no longer offers is
//!   ignored (the default is taken, or the class is tuned again).
//! - Choices are cached in memory too, so a class is looked up once per process.
//! - The process has one [`Tuner`] ([`tuner`]); tests make their own with [`Tuner::new`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::context::context;
use super::options::options;
use crate::error::{Error, Result};

/// A shape class of one kernel family: what a tuned choice is remembered by. `Display` is its
/// key in the cache file and must name the family, the dtype and every field.
pub trait TuneKey: fmt::Display {}

/// Shape classes: a size rounded up to a power of two, so that nearby shapes share a choice.
pub fn bucket(x: usize) -> usize {
    x.max(1).next_power_of_two()
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Entry {
    choice: String,
    /// Median seconds of each candidate, by name.
    seconds: BTreeMap<String, f64>,
}

/// adapter -> shape class -> entry.
type File = BTreeMap<String, BTreeMap<String, Entry>>;

struct State {
    /// Read on first use.
    file: Option<File>,
    /// Per-process choices by class: tuned here or read from the file.
    memo: HashMap<String, String>,
    /// Classes this process launched on their defaults for want of a choice while tuning was
    /// off, in launches that could have been timed: what `engine train`'s note counts.
    untuned: BTreeSet<String>,
    warned: bool,
    /// Whether the note on a candidate dropped for want of memory has been printed.
    warned_memory: bool,
}

/// Tuned choices: the file's, and this process's.
pub struct Tuner {
    path: Option<PathBuf>,
    enabled: AtomicBool,
    state: Mutex<State>,
}

/// The process's tuner: its cache file and switch from the process's options.
pub fn tuner() -> Result<&'static Tuner> {
    static TUNER: OnceLock<Tuner> = OnceLock::new();
    if let Some(t) = TUNER.get() {
        return Ok(t);
    }
    let opts = options()?;
    Ok(TUNER.get_or_init(|| Tuner::new(default_path(opts.tune_cache.clone()), opts.tune)))
}

/// Where the process's choices are kept.
pub fn cache_path() -> Result<Option<PathBuf>> {
    Ok(tuner()?.path.clone())
}

fn default_path(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| Some(crate::fsutil::user_cache_dir()?.join("tune.json")))
}

impl Tuner {
    /// A tuner keeping its choices in `path` (none: in memory only), timing only if `enabled`.
    pub fn new(path: Option<PathBuf>, enabled: bool) -> Tuner {
        Tuner {
            path,
            enabled: AtomicBool::new(enabled),
            state: Mutex::new(State {
                file: None,
                memo: HashMap::new(),
                untuned: BTreeSet::new(),
                warned: false,
                warned_memory: false,
            }),
        }
    }

    /// Turns tuning on (as `ENGINE_TUNE=1` does).
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Whether choices for this adapter are remembered (tuned by this process or an earlier
    /// one). `engine train`'s note counts [`Self::untuned_classes`] instead: remembered choices
    /// may be for other classes.
    pub fn has_choices(&self) -> Result<bool> {
        let adapter = adapter_key()?;
        let st = self.lock();
        Ok(!st.memo.is_empty() || st.file.as_ref().and_then(|f| f.get(adapter)).is_some_and(|e| !e.is_empty()))
    }

    /// How many shape classes this process has launched on their default variant because no
    /// choice was remembered for them and tuning was off (launches that could have been
    /// timed). A file of choices tuned on other shapes or dtypes (`engine bench --tune`'s
    /// suites against a bf16 training step at batch 2) leaves a run's classes untuned.
    pub fn untuned_classes(&self) -> usize {
        self.lock().untuned.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.file.is_none() {
            st.file = Some(
                self.path
                    .as_ref()
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .and_then(|s| serde_json::from_str::<File>(&s).ok())
                    .unwrap_or_default(),
            );
        }
        st
    }

    /// The name of the variant to launch for shape class `key`, among `candidates` (names, in
    /// order; `default` indexes them). `time` runs candidate i on operands of the class's shape
    /// and returns its median seconds; it is called only while tuning, and only where given
    /// (`None`: this launch is not safe to repeat, so a remembered choice or the default).
    pub fn choose(
        &self,
        key: &dyn TuneKey,
        candidates: &[&'static str],
        default: usize,
        time: Option<&mut dyn FnMut(usize) -> Result<f64>>,
    ) -> Result<&'static str> {
        let by_name = |name: &str| candidates.iter().copied().find(|c| *c == name);
        if candidates.len() < 2 {
            return Ok(candidates[default.min(candidates.len().saturating_sub(1))]);
        }
        let class = key.to_string();
        let adapter = adapter_key()?;
        {
            let mut st = self.lock();
            if let Some(name) = st.memo.get(&class).and_then(|n| by_name(n)) {
                return Ok(name);
            }
            let remembered =
                st.file.as_ref().and_then(|f| f.get(adapter)?.get(&class)).and_then(|e| by_name(&e.choice));
            if let Some(name) = remembered {
                st.memo.insert(class, name.to_string());
                return Ok(name);
            }
            if time.is_some() && !self.enabled() {
                // A class that could have been tuned: counted for `engine train`'s note.
                st.untuned.insert(class.clone());
            }
        }
        // Not tuning: this shape's own default. It is not remembered, because other shapes of
        // the same class may have other defaults (the cost model sees the exact sizes).
        let time = match time {
            Some(t) if self.enabled() => t,
            _ => return Ok(candidates[default]),
        };
        // Time outside the lock: a candidate may itself launch tuned kernels. Two interleaved
        // rounds, each candidate's best kept, so that a burst of load on a shared machine hits
        // one round of one candidate rather than deciding the choice; and a candidate must beat
        // the default by 5% to replace it (on a noisy 2-core machine, single rounds picked
        // variants that ran at half the default's rate).
        //
        // A candidate other than the default that runs out of memory is dropped, not the run's
        // failure: a split count's copies of C are allocated while the step's own tensors live
        // (`ENGINE_TUNE=1` on a training run), and near the card's limit a larger count may
        // not fit where the default does. The default's failure is the launch's own.
        let mut times = vec![f64::INFINITY; candidates.len()];
        let mut dropped = vec![false; candidates.len()];
        for _ in 0..2 {
            for (i, t) in times.iter_mut().enumerate() {
                if dropped[i] {
                    continue;
                }
                match time(i) {
                    Ok(secs) => *t = t.min(secs),
                    Err(Error::OutOfMemory(_)) if i != default => dropped[i] = true,
                    Err(e) => return Err(e),
                }
            }
        }
        if let Some(i) = dropped.iter().position(|&d| d) {
            let mut st = self.lock();
            if !st.warned_memory {
                eprintln!(
                    "note: tuning {class}: variant {} ran out of GPU memory and was left out (later classes \
                     leave out such variants without a note)",
                    candidates[i]
                );
                st.warned_memory = true;
            }
        }
        // Every candidate timed (a dropped one has no time; the default always has one).
        let seconds: BTreeMap<String, f64> =
            candidates.iter().zip(&times).filter(|(_, t)| t.is_finite()).map(|(n, t)| (n.to_string(), *t)).collect();
        let fastest = (0..times.len()).min_by(|&a, &b| times[a].total_cmp(&times[b])).unwrap_or(default);
        let best = if times[fastest] < 0.95 * times[default] { fastest } else { default };
        let name = candidates[best];
        let mut st = self.lock();
        st.memo.insert(class.clone(), name.to_string());
        let file = st.file.get_or_insert_with(File::new);
        file.entry(adapter.to_string()).or_default().insert(class, Entry { choice: name.to_string(), seconds });
        if let Err(e) = self.save(file) {
            if !st.warned {
                eprintln!("warning: could not save tuning choices: {e}");
                st.warned = true;
            }
        }
        Ok(name)
    }

    /// Writes the cache file atomically (a temporary file, then a rename).
    fn save(&self, file: &File) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(file).map_err(std::io::Error::other)?;
        crate::fsutil::write_bytes(path, text.as_bytes()).map_err(std::io::Error::other)
    }
}

/// The adapter's key in the cache file, formatted once (every tuned launch looks it up).
fn adapter_key() -> Result<&'static str> {
    static KEY: OnceLock<String> = OnceLock::new();
    if let Some(k) = KEY.get() {
        return Ok(k);
    }
    let ctx = context()?;
    Ok(KEY.get_or_init(|| format!("{} | {} | {:?}", ctx.info.name, ctx.info.driver_info, ctx.info.backend)))
}
