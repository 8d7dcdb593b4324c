//! The process's `ENGINE_*` options, read from the environment once (or set by the CLI with
//! [`configure`] before the first GPU use), so that no op reads a variable on its own.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::context::BackendChoice;
use crate::error::{Error, Result};

/// How to open the device and how the kernels choose their variants.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// `ENGINE_BACKEND`.
    pub backend: BackendChoice,
    /// `ENGINE_ADAPTER`: index into the list `engine info` prints.
    pub adapter: Option<usize>,
    /// `ENGINE_MAX_BINDING`: pretend the adapter's per-binding limit is this many bytes. Tests
    /// use it to exercise the chunking that large tensors need, at small sizes.
    pub max_binding_override: Option<u64>,
    /// `ENGINE_CACHE_DIR`: where the persistent pipeline cache lives; `None` picks a per-user
    /// cache directory.
    pub cache_dir: Option<PathBuf>,
    /// `ENGINE_NO_PIPELINE_CACHE=1`: don't read or write the persistent pipeline cache.
    pub no_disk_cache: bool,
    /// `ENGINE_TUNE=1` (or `engine bench --tune`): time the launch variants of each shape class
    /// on first use and remember the fastest.
    pub tune: bool,
    /// `ENGINE_TUNE_CACHE`: where tuned choices live; `None` picks the per-user cache directory.
    pub tune_cache: Option<PathBuf>,
    /// `ENGINE_PROFILE=1`: GPU time per kernel entry point.
    pub profile: bool,
    /// `ENGINE_NO_SUBGROUPS=1`: don't use the subgroup kernels even where the adapter has them.
    pub no_subgroups: bool,
    /// `ENGINE_SHADER_CHECKS=1`: compile the kernels with wgpu's runtime checks (bounds checks
    /// on buffer and array indexing, integer-division guards). Off by default: the kernels are
    /// trusted modules, their indexing proven by the reference tests.
    pub shader_checks: bool,
    /// `ENGINE_LOOP_BOUNDING=0|1`: whether trusted modules keep naga's loop bounding (a counter
    /// in every loop); unset, they do on CPU adapters only (see `gpu::Context::loop_bounding`).
    pub loop_bounding: Option<bool>,
    /// `ENGINE_NO_COOP=1`: don't open the device with cooperative matrices even where the
    /// adapter has them (the coop GEMM stays off).
    pub no_coop: bool,
    /// `ENGINE_GEMM_VARIANT`, `ENGINE_CONV_VARIANT`, `ENGINE_ATTENTION`: force a launch variant
    /// of that family by name where it applies (comparisons; tests force per thread with
    /// [`super::variant::force`]).
    pub gemm_variant: Option<String>,
    pub conv_variant: Option<String>,
    pub attention: Option<String>,
    /// `ENGINE_COOP_SKEW`, `ENGINE_COOP_DEPTH`, `ENGINE_COOP_INVOCATIONS`: how the
    /// cooperative-matrix entries lay out their staged tiles and share them out
    /// (`ops::blocked::Coop`), for a GPU run to compare layouts that no machine here can time;
    /// the defaults otherwise.
    pub coop_layout: CoopLayout,
    /// `ENGINE_STAGE_PAIRS=0|1`: whether the tiled and coop GEMM entries stage half operands
    /// two elements per load (`ops::blocked::Pairs`); unset, they do ([`stage_pairs`]).
    pub stage_pairs: Option<bool>,
    /// `ENGINE_AS_GPU=1`: treat a CPU adapter as a GPU in every choice made by adapter kind
    /// (`Caps::cpu` false): the GPUs' default kernels, split rules, norm gradients and loop
    /// counters (unless `ENGINE_LOOP_BOUNDING`). So that lavapipe can run a whole model the
    /// way a GPU will (`engine parity`), where tests force one path at a time.
    pub as_gpu: bool,
}

/// The cooperative-matrix entries' tile layout (see `ops::blocked::Coop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoopLayout {
    /// Elements added to each staged k row of a tile: 0, 8 (the default: 16 bytes in f16) or 16.
    pub skew: u32,
    /// Matrix depths per k step (and per pair of barriers): 1 (the default) or 2.
    pub depth: u32,
    /// Invocations per workgroup: 256 (the default) or 128, which gives each subgroup twice the
    /// blocks of the same 128 x 128 tile (4 x 4 on 32 lanes instead of 2 x 4).
    pub invocations: u32,
}

impl Default for CoopLayout {
    fn default() -> Self {
        CoopLayout { skew: 8, depth: 1, invocations: 256 }
    }
}

impl GpuOptions {
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok();
        let on = |name: &str| var(name).is_some_and(|v| v == "1");
        let mut o = GpuOptions::default();
        if let Some(b) = var("ENGINE_BACKEND") {
            o.backend = BackendChoice::parse(&b).ok_or_else(|| {
                Error::Gpu(format!("ENGINE_BACKEND={b:?} is not one of auto, vulkan, gl, metal, dx12"))
            })?;
            o.backend.check_platform(&format!("ENGINE_BACKEND={b}"))?;
        }
        if let Some(a) = var("ENGINE_ADAPTER") {
            o.adapter =
                Some(a.parse().map_err(|_| Error::Gpu(format!("ENGINE_ADAPTER={a:?} is not an adapter index")))?);
        }
        if let Some(m) = var("ENGINE_MAX_BINDING") {
            o.max_binding_override =
                Some(m.parse().map_err(|_| Error::Gpu(format!("ENGINE_MAX_BINDING={m:?} is not a byte count")))?);
        }
        o.cache_dir = var("ENGINE_CACHE_DIR").map(PathBuf::from);
        o.no_disk_cache = var("ENGINE_NO_PIPELINE_CACHE").is_some_and(|v| v != "0");
        o.tune = on("ENGINE_TUNE");
        o.tune_cache = std::env::var_os("ENGINE_TUNE_CACHE").map(PathBuf::from);
        o.profile = on("ENGINE_PROFILE");
        o.no_subgroups = var("ENGINE_NO_SUBGROUPS").is_some();
        o.shader_checks = on("ENGINE_SHADER_CHECKS");
        o.no_coop = on("ENGINE_NO_COOP");
        o.gemm_variant = var("ENGINE_GEMM_VARIANT");
        o.conv_variant = var("ENGINE_CONV_VARIANT");
        o.attention = var("ENGINE_ATTENTION");
        let pick = |name: &str, allowed: &[u32], default: u32| -> Result<u32> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .ok()
                    .filter(|n| allowed.contains(n))
                    .ok_or_else(|| Error::Gpu(format!("{name}={v:?} is not one of {allowed:?}"))),
            }
        };
        let default = CoopLayout::default();
        o.coop_layout = CoopLayout {
            skew: pick("ENGINE_COOP_SKEW", &[0, 8, 16], default.skew)?,
            depth: pick("ENGINE_COOP_DEPTH", &[1, 2], default.depth)?,
            invocations: pick("ENGINE_COOP_INVOCATIONS", &[128, 256], default.invocations)?,
        };
        let switch = |name: &str| -> Result<Option<bool>> {
            Ok(match var(name) {
                None => None,
                Some(_) => Some(pick(name, &[0, 1], 1)? == 1),
            })
        };
        o.stage_pairs = switch("ENGINE_STAGE_PAIRS")?;
        o.as_gpu = switch("ENGINE_AS_GPU")?.unwrap_or(false);
        o.loop_bounding = switch("ENGINE_LOOP_BOUNDING")?;
        Ok(o)
    }
}

/// Whether the tiled and coop GEMM entries stage half operands two elements per load
/// (`ops::blocked::Pairs`): unless `ENGINE_STAGE_PAIRS=0`, which is there for a GPU run to time
/// the element-by-element staging beside it (unmeasured on a GPU as of 2026-12-05). On
/// lavapipe, forced (neither is its default): the tiled GEMM's half rows 3-6% faster with
/// pairs, the coop GEMM's 8-10% slower.
pub fn stage_pairs() -> bool {
    options().ok().and_then(|o| o.stage_pairs).unwrap_or(true)
}

static OPTIONS: OnceLock<std::result::Result<GpuOptions, String>> = OnceLock::new();

/// Sets the process's options. Must run before anything reads them (the first GPU use).
pub fn configure(options: GpuOptions) -> Result<()> {
    OPTIONS.set(Ok(options)).map_err(|_| {
        Error::Gpu("the engine's options were already read (the GPU is in use); configure them before first use".into())
    })
}

/// The process's options: as [`configure`]d, else read from the environment on first use.
pub fn options() -> Result<&'static GpuOptions> {
    match OPTIONS.get_or_init(|| GpuOptions::from_env().map_err(|e| e.to_string())) {
        Ok(o) => Ok(o),
        // The message as the context reported it before the options had their own module.
        Err(msg) => Err(Error::NoAdapter(msg.clone())),
    }
}
