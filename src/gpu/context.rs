//! The GPU context: instance, adapter, device and queue, created once per process; the
//! pipeline cache; the command recorder that batches many dispatches into one submission.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::bind_cache::{BindCache, BindKey};
use super::caps::Caps;
use super::dtype::DType;
use super::kernel::{specialise, Access, Kernel, Spec, Uniforms};
use super::options::{options, GpuOptions};
use super::pool::{Pool, PooledBuffer};
use super::profile::{DispatchLabel, Profile, Profiler};
use crate::error::{Error, Result};

/// Which backend to open. `Auto` prefers Vulkan/Metal/DX12 and falls back to GL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendChoice {
    #[default]
    Auto,
    Vulkan,
    Gl,
    Metal,
    Dx12,
}

impl BackendChoice {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "auto" => Some(Self::Auto),
            "vulkan" | "vk" => Some(Self::Vulkan),
            "gl" | "gles" | "opengl" => Some(Self::Gl),
            "metal" | "mtl" => Some(Self::Metal),
            "dx12" | "d3d12" => Some(Self::Dx12),
            _ => None,
        }
    }
    /// The backends a build for this platform can open.
    pub fn on_this_platform() -> &'static [BackendChoice] {
        if cfg!(any(target_os = "macos", target_os = "ios")) {
            &[Self::Metal, Self::Vulkan]
        } else if cfg!(windows) {
            &[Self::Dx12, Self::Vulkan, Self::Gl]
        } else {
            &[Self::Vulkan, Self::Gl]
        }
    }

    /// An error naming what the user gave (`given`: "--backend metal" or "ENGINE_BACKEND=metal")
    /// when this platform has no such backend at all.
    pub fn check_platform(self, given: &str) -> Result<()> {
        let here = Self::on_this_platform();
        if self == Self::Auto || here.contains(&self) {
            return Ok(());
        }
        let names: Vec<String> = here.iter().map(|b| format!("{b:?}").to_lowercase()).collect();
        let home = match self {
            Self::Metal => "Metal exists only on macOS and iOS",
            Self::Dx12 => "DX12 exists only on Windows",
            _ => "that backend does not exist here",
        };
        Err(Error::Gpu(format!(
            "{given}: {home}; on this platform ({}) the backends are {} (or auto)",
            std::env::consts::OS,
            names.join(", ")
        )))
    }

    fn backends(self) -> wgpu::Backends {
        match self {
            Self::Auto => wgpu::Backends::PRIMARY | wgpu::Backends::GL,
            Self::Vulkan => wgpu::Backends::VULKAN,
            Self::Gl => wgpu::Backends::GL,
            Self::Metal => wgpu::Backends::METAL,
            Self::Dx12 => wgpu::Backends::DX12,
        }
    }
}

/// Features that kernels may use when present. None of them is required.
pub const OPTIONAL_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    .union(wgpu::Features::PIPELINE_CACHE);

static CONTEXT: OnceLock<std::result::Result<Context, String>> = OnceLock::new();

thread_local! {
    /// Readbacks made on this thread: each one waits for the GPU to finish everything submitted.
    static READBACKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times this thread has waited for a readback ([`Context::read`]): what a training
/// step's host round trips are counted by (`tests/train.rs`).
pub fn readbacks_on_this_thread() -> u64 {
    READBACKS.with(|r| r.get())
}

/// The process-wide GPU context if it is open (without opening one).
pub fn opened() -> Option<&'static Context> {
    CONTEXT.get().and_then(|r| r.as_ref().ok())
}

/// The process-wide GPU context, opened on first use with the process's [`options`].
pub fn context() -> Result<&'static Context> {
    let r = CONTEXT.get_or_init(|| {
        let opts = options().map_err(|e| e.to_string())?;
        Context::open(opts).map_err(|e| e.to_string())
    });
    match r {
        Ok(c) => Ok(c),
        Err(msg) => Err(Error::NoAdapter(msg.clone())),
    }
}

/// One storage binding: a byte window of a buffer.
#[derive(Clone, Copy)]
pub struct BindView<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

/// A recorded but not yet submitted batch of dispatches.
struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    /// The compute pass the dispatches go into, open until a command that is not a dispatch
    /// (a copy, a clear, a timestamp) or the submission. One pass per dispatch cost wgpu a
    /// usage scope and a tracker set up and cleared each time when it encodes the pass: 40% of
    /// the host's recording work on lavapipe. Within a pass wgpu still makes each dispatch its
    /// own usage scope, with the barriers between them, so the order of reads and writes holds.
    /// Profiled runs keep a pass per dispatch, for its timestamps.
    pass: Option<wgpu::ComputePass<'static>>,
    /// Uniform parameter blocks of the dispatches in `encoder`, one slot each.
    uniforms: Vec<u8>,
    uniform_buffer: wgpu::Buffer,
    dispatches: usize,
    /// Per-dispatch timestamps, when profiling (`ENGINE_PROFILE=1`).
    profiler: Option<Profiler>,
}

const UNIFORM_SLOT: u64 = 256;
const UNIFORM_SLOTS: u64 = 1024;
/// Submit after this many dispatches even if nobody waits, so the GPU starts early and
/// command buffers stay small.
const MAX_DISPATCHES_PER_SUBMIT: usize = 256;
/// Bind groups per generation of the cache: the distinct groups one optimizer step may use and
/// still find them all the next step. An SD 1.5 step records about 4000 dispatches (7192 at
/// 512 px with the fused backward pass), and with gradient accumulation each micro-step binds
/// other gradient buffers, so a step of 8 micro-steps fits. Two generations of 32768 hold at
/// most 65536 groups: a few hundred bytes each in a driver, and 7 storage views each within
/// DX12's 1,000,000-view heap.
const BIND_GROUPS_PER_GENERATION: usize = 32768;
/// The same on CPU adapters, where each group costs the process a memory mapping: lavapipe's
/// descriptor sets took one each, and the train tests (several runs in one process) reached
/// 64366 mappings of Linux's default 65530 (`vm.max_map_count`) with 32768 a generation, where
/// lavapipe's next mmap failed and it wrote through the failed pointer (SIGSEGV, a CI run of
/// 2026-12-05). 8192 keeps every group of an SD 1.5 step of up to 8192 dispatches.
const BIND_GROUPS_PER_GENERATION_CPU: usize = 8192;

type LayoutKey = Vec<Access>;
/// Pipelines by (shader, entry point), then by specialisation: the per-dispatch lookup
/// borrows the caller's `Spec` instead of cloning it into a key.
type PipelineMap = HashMap<(&'static str, &'static str), HashMap<Spec, Arc<wgpu::ComputePipeline>>>;

pub struct Context {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
    /// What the adapter can do, as the kernels ask it.
    pub caps: Caps,
    /// Largest byte window one storage binding may cover (the adapter's limit, or the override).
    pub max_binding: u64,
    /// Storage-binding offsets are multiples of this: the adapter's alignment, and at least 16
    /// bytes, so that an element index aligned to 16 bytes within a binding is aligned in
    /// memory too, as Vulkan requires of a cooperative-matrix load's or store's pointer
    /// (VUID-RuntimeSpirv-OpCooperativeMatrixLoadKHR-08986; the coop entries' direct store,
    /// `ops::blocked::Coop::epilogue`, checks C's index and stride, not the binding's offset).
    /// NVIDIA reports 16 or 32 and lavapipe 32, but AMD's drivers 4.
    pub offset_align: u64,
    pub pool: Pool,
    recorder: Mutex<Recorder>,
    pipelines: Mutex<PipelineMap>,
    layouts: Mutex<HashMap<LayoutKey, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
    /// Bind groups by what they bind, reused by later dispatches that bind the same.
    bind_groups: Mutex<BindCache>,
    disk_cache: Option<DiskCache>,
    /// `ENGINE_SHADER_CHECKS=1`: modules keep wgpu's runtime checks.
    shader_checks: bool,
    /// Whether trusted modules keep naga's loop bounding ([`Context::loop_bounding`]).
    loop_bounding: bool,
    errors: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    /// Nanoseconds the host has spent in calls that hand work to the GPU or wait for it
    /// (submissions, readbacks, syncs, the profiler's reads): the rest of a step's wall time is
    /// the host's own work (autograd, recording), during which a GPU may run out of work.
    /// Submissions count because a CPU adapter runs the work inside them (lavapipe's
    /// vkQueueSubmit returns when it is done); on a GPU they return at once.
    gpu_calls_ns: std::sync::atomic::AtomicU64,
    /// Dispatches recorded since the context opened (what a step's host work is counted per).
    dispatches: std::sync::atomic::AtomicU64,
}

struct DiskCache {
    cache: wgpu::PipelineCache,
    path: PathBuf,
    state: Mutex<(bool, Instant)>, // (dirty, last save)
}

pub fn no_adapter_message(backends: wgpu::Backends, detail: &str) -> String {
    format!(
        "no GPU adapter found for backends {backends:?}{detail}. The engine needs a Vulkan, Metal, DX12 or \
         OpenGL 4.3+ driver. On Linux install your GPU vendor's Vulkan driver and the Vulkan loader \
         (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers libvulkan1`); on a machine without a GPU \
         the same package brings Mesa's lavapipe, a software Vulkan driver that runs everything on the \
         CPU (slowly; Mesa 25 or newer is about 4x faster than Mesa 22). Run `engine info` to list the \
         adapters found; choose one with --backend/--adapter or ENGINE_BACKEND/ENGINE_ADAPTER."
    )
}

/// All adapters of the chosen backends, in the order `engine info` lists them.
pub fn enumerate(instance: &wgpu::Instance, choice: BackendChoice) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(choice.backends()))
}

pub fn new_instance(choice: BackendChoice) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = choice.backends();
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    desc.backend_options = wgpu::BackendOptions::from_env_or_default();
    wgpu::Instance::new(desc)
}

fn rank(a: &wgpu::Adapter) -> (u32, u32) {
    let info = a.get_info();
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    let ty = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    (backend, ty)
}

/// Mesa's lavapipe (26.1.6, the one driver here with cooperative matrices) crashes compiling
/// any cooperative-matrix shader, even one that only loads and stores an 8x8 matrix, when its
/// subgroups are wider than its default 8 lanes (`LP_NATIVE_VECTOR_WIDTH` above 256): SIGSEGV
/// at 16 lanes, "stack smashing detected" at 32, inside `libvulkan_lvp.so` (2026-12-05). A
/// crash cannot be caught by the self-test, so such a device opens without them.
fn coop_crashes_driver(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu && info.driver.starts_with("llvmpipe") && info.subgroup_max_size > 8
}

impl Context {
    fn open(opts: &GpuOptions) -> Result<Context> {
        let instance = new_instance(opts.backend);
        let adapters = enumerate(&instance, opts.backend);
        if adapters.is_empty() {
            return Err(Error::NoAdapter(no_adapter_message(opts.backend.backends(), "")));
        }
        let adapter = match opts.adapter {
            Some(i) => adapters.get(i).cloned().ok_or_else(|| {
                Error::NoAdapter(format!(
                    "adapter index {i} requested but only {} adapter(s) found; `engine info` lists them",
                    adapters.len()
                ))
            })?,
            None => adapters.iter().min_by_key(|a| rank(a)).cloned().unwrap(),
        };
        let info = adapter.get_info();
        let mut features = adapter.features() & OPTIONAL_FEATURES;
        // Cooperative matrices (wgpu's experimental feature) only where the adapter reports a
        // shape the coop GEMM is written for, with the subgroups and f16 its module needs.
        let coop = adapter.features().contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
            && features.contains(wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16)
            && super::caps::CoopShape::usable(&adapter.cooperative_matrix_properties())
            && !coop_crashes_driver(&info)
            && !opts.no_coop;
        if coop {
            features |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        }
        // Ask for everything the adapter can do, never wgpu's conservative defaults: the
        // models need large storage bindings and buffers.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("engine"),
            required_features: features,
            required_limits: limits.clone(),
            // SAFETY: experimental features are ones whose validation wgpu does not yet
            // guarantee. Only cooperative matrices are asked for, by one kernel family that
            // checks its results against the plain kernels once per process before any use
            // and falls back when they disagree (`ops::gemm::coop`); ENGINE_NO_COOP=1 keeps it off.
            experimental_features: if coop {
                unsafe { wgpu::ExperimentalFeatures::enabled() }
            } else {
                wgpu::ExperimentalFeatures::disabled()
            },
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::NoAdapter(format!("opening {} ({:?}) failed: {e}", info.name, info.backend)))?;

        let errors = Arc::new(Mutex::new(Vec::new()));
        let e2 = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            e2.lock().unwrap().push(e.to_string());
        }));
        let lost = Arc::new(Mutex::new(None));
        let l2 = lost.clone();
        // The context lives for the whole process, so any loss (a driver reset, a hang, or an
        // explicit destroy) means no more GPU work: every later wait reports it.
        device.set_device_lost_callback(move |reason, msg| {
            *l2.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });

        let mut caps = Caps::new(&adapter, &info, features, &limits, opts.max_binding_override);
        // ENGINE_AS_GPU: a CPU adapter makes the choices a GPU makes (testing the GPUs' paths).
        caps.cpu &= !opts.as_gpu;
        let loop_bounding = opts.loop_bounding.unwrap_or(caps.cpu);
        // The driver's kind, not `caps.cpu` (which ENGINE_AS_GPU turns off): the mappings each
        // cached bind group costs are lavapipe's whatever the engine chooses.
        let bind_groups_per_generation = if info.device_type == wgpu::DeviceType::Cpu {
            BIND_GROUPS_PER_GENERATION_CPU
        } else {
            BIND_GROUPS_PER_GENERATION
        };
        let (max_binding, offset_align) = (caps.max_binding, caps.offset_align.max(16));
        let uniform_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("uniform arena"),
            size: UNIFORM_SLOT * UNIFORM_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let disk_cache = if features.contains(wgpu::Features::PIPELINE_CACHE) && !opts.no_disk_cache {
            DiskCache::open(&device, &info, opts.cache_dir.clone())
        } else {
            None
        };
        let profiler = (opts.profile && caps.timestamps).then(|| Profiler::new(&device, MAX_DISPATCHES_PER_SUBMIT));
        Ok(Context {
            instance,
            adapter,
            device,
            queue,
            info,
            features,
            limits,
            caps,
            max_binding,
            offset_align,
            pool: Pool::new(),
            recorder: Mutex::new(Recorder {
                encoder: None,
                pass: None,
                uniforms: Vec::new(),
                uniform_buffer,
                dispatches: 0,
                profiler,
            }),
            pipelines: Mutex::new(HashMap::new()),
            layouts: Mutex::new(HashMap::new()),
            bind_groups: Mutex::new(BindCache::new(bind_groups_per_generation)),
            disk_cache,
            shader_checks: opts.shader_checks,
            loop_bounding,
            errors,
            lost,
            gpu_calls_ns: std::sync::atomic::AtomicU64::new(0),
            dispatches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How long the host has spent submitting work to the GPU and waiting for it since the
    /// context opened (see `gpu_calls_ns`).
    pub fn time_in_gpu_calls(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.gpu_calls_ns.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Waits until the GPU has finished everything submitted.
    fn wait_idle(&self) -> Result<()> {
        let t0 = Instant::now();
        let r = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.count_gpu_call(t0);
        r.map(|_| ()).map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))
    }

    /// How many dispatches have been recorded since the context opened.
    pub fn dispatches_recorded(&self) -> u64 {
        self.dispatches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_gpu_call(&self, since: Instant) {
        self.gpu_calls_ns.fetch_add(since.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn has(&self, f: wgpu::Features) -> bool {
        self.features.contains(f)
    }

    /// A buffer from the pool holding at least `bytes` bytes. Out of memory, the pool lets go of
    /// its free buffers and of the cached bind groups (which hold buffers too) and tries once more.
    pub fn alloc(&'static self, bytes: u64) -> Result<PooledBuffer> {
        let release = || self.bind_groups.lock().unwrap().clear();
        self.pool.take(&self.device, self.limits.max_buffer_size, bytes.max(4), &release)
    }

    /// Releases the pool's free buffers and the bind groups cached since, back to the driver.
    pub fn trim(&self) {
        self.bind_groups.lock().unwrap().clear();
        self.pool.trim();
    }

    /// Bind groups reused from the cache and created, since the context opened.
    pub fn bind_group_counts(&self) -> (u64, u64) {
        let c = self.bind_groups.lock().unwrap();
        (c.hits, c.misses)
    }

    /// Elements of f32 one binding may cover after aligning its offset down.
    pub fn max_binding_elems(&self) -> usize {
        ((self.max_binding - self.offset_align) / 4) as usize
    }

    /// A binding window over f32 elements `[start, start+len)` of `buffer`, with the offset
    /// aligned down as the adapter requires. Returns the view and the element shift the kernel adds.
    pub fn window<'a>(&self, buffer: &'a wgpu::Buffer, start: usize, len: usize) -> Result<(BindView<'a>, u32)> {
        self.window_of(buffer, start, len, DType::F32)
    }

    /// [`Context::window`] over elements of `dtype`: the shift counts elements of that dtype
    /// (half elements are packed two to a word, so an odd shift starts at a word's upper half).
    pub fn window_of<'a>(
        &self,
        buffer: &'a wgpu::Buffer,
        start: usize,
        len: usize,
        dtype: DType,
    ) -> Result<(BindView<'a>, u32)> {
        let es = dtype.size() as u64;
        let start_b = start as u64 * es;
        let aligned = start_b / self.offset_align * self.offset_align;
        let shift = ((start_b - aligned) / es) as u32;
        let size = ((len.max(1) as u64 * es + (start_b - aligned)).next_multiple_of(4)).min(buffer.size() - aligned);
        if size > self.max_binding {
            return Err(Error::Gpu(format!(
                "internal: a binding of {size} bytes exceeds the {}-byte binding limit",
                self.max_binding
            )));
        }
        Ok((BindView { buffer, offset: aligned, size }, shift))
    }

    fn layout(&self, bindings: &[Access]) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        let mut layouts = self.layouts.lock().unwrap();
        // Looked up on every dispatch: only a miss allocates a key.
        if let Some(l) = layouts.get(bindings) {
            return l.clone();
        }
        layouts
            .entry(bindings.to_vec())
            .or_insert_with(|| {
                let mut entries = vec![wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: None,
                    },
                    count: None,
                }];
                for (i, a) in bindings.iter().enumerate() {
                    entries.push(wgpu::BindGroupLayoutEntry {
                        binding: i as u32 + 1,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Storage { read_only: *a == Access::Read },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    });
                }
                let bgl = self
                    .device
                    .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries: &entries });
                let pl = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: None,
                    bind_group_layouts: &[Some(&bgl)],
                    immediate_size: 0,
                });
                (bgl, pl)
            })
            .clone()
    }

    /// The pipeline for `kernel` specialised with `spec`, compiled on first use.
    pub fn pipeline(&self, kernel: &'static Kernel, spec: &Spec) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = (kernel.shader.name, kernel.entry);
        if let Some(p) = self.pipelines.lock().unwrap().get(&key).and_then(|m| m.get(spec)) {
            return Ok(p.clone());
        }
        let (_, layout) = self.layout(kernel.bindings);
        let source = specialise(kernel.shader, spec);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.shader.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        let module = if self.shader_checks {
            self.device.create_shader_module(desc)
        } else {
            // SAFETY: wgpu's runtime checks guard against out-of-bounds indexing, unbounded
            // loops and integer division by zero. Every kernel here computes its indices from
            // the dispatch's own sizes and guards them explicitly (`if (i >= p.n) { return; }`,
            // edge tiles), loops over counts from its uniforms, and divides only by sizes the
            // launcher checked to be non-zero; tests/kernels.rs (and the model tests) check
            // each entry point's every output element against a CPU reference at sizes with
            // partial tiles and chunked bindings, under these same trusted modules. The checks
            // cost a clamp per load in the inner loops; `ENGINE_SHADER_CHECKS=1` turns them back
            // on (a kernel under suspicion, a new one).
            // Every loop is a `for` over counts from the uniforms or constants, so none is
            // infinite (what loop bounding guards against); see `loop_bounding` for where the
            // counters stay anyway.
            unsafe {
                let mut checks = wgpu::ShaderRuntimeChecks::unchecked();
                checks.force_loop_bounding = self.loop_bounding;
                self.device.create_shader_module_trusted(desc, checks)
            }
        };
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: Some(&layout),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[],
                // Our kernels initialise the workgroup memory they read.
                zero_initialize_workgroup_memory: false,
            },
            cache: self.disk_cache.as_ref().map(|d| &d.cache),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Shader {
                shader: kernel.shader.file_name(),
                entry: kernel.entry.to_string(),
                message: format!("{e}\n(specialised with {spec:?})"),
            });
        }
        if let Some(d) = &self.disk_cache {
            d.state.lock().unwrap().0 = true;
        }
        let p = Arc::new(pipeline);
        self.pipelines.lock().unwrap().entry(key).or_default().insert(spec.clone(), p.clone());
        Ok(p)
    }

    /// Records one dispatch of `kernel`. `params` is its uniform block (at most 256 bytes), one
    /// of the structs its shader declares; `bindings` are its storage buffers in the kernel's
    /// binding order.
    pub fn dispatch<P: Uniforms>(
        &self,
        kernel: &'static Kernel,
        spec: &Spec,
        params: &P,
        bindings: &[BindView<'_>],
        groups: [u32; 3],
    ) -> Result<()> {
        // Taken whether or not this dispatch is profiled, so that it never counts for another.
        let flops = super::profile::take_flops();
        debug_assert_eq!(bindings.len(), kernel.bindings.len(), "{}", kernel.entry);
        debug_assert!(
            kernel.shader.uniforms.iter().any(|u| u.name == P::LAYOUT.name && u.fields == P::LAYOUT.fields),
            "{}: {} is not one of the shader's uniform blocks",
            kernel.entry,
            P::LAYOUT.name
        );
        let params: &[u8] = bytemuck::bytes_of(params);
        assert!(params.len() <= UNIFORM_SLOT as usize, "params too large for {}", kernel.entry);
        if groups.contains(&0) {
            return Ok(());
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::Gpu(format!(
                "internal: {} dispatch {groups:?} exceeds {max} workgroups per dimension",
                kernel.entry
            )));
        }
        let pipeline = self.pipeline(kernel, spec)?;
        let (bgl, _) = self.layout(kernel.bindings);

        let mut rec = self.recorder.lock().unwrap();
        if rec.uniforms.len() as u64 >= UNIFORM_SLOT * UNIFORM_SLOTS || rec.dispatches >= MAX_DISPATCHES_PER_SUBMIT {
            self.submit_locked(&mut rec);
        }
        let slot = rec.uniforms.len() as u32;
        rec.uniforms.extend_from_slice(params);
        rec.uniforms.resize(slot as usize + UNIFORM_SLOT as usize, 0);

        let key = BindKey {
            layout: bgl,
            bindings: std::iter::once((rec.uniform_buffer.clone(), 0, UNIFORM_SLOT))
                .chain(bindings.iter().map(|b| (b.buffer.clone(), b.offset, b.size)))
                .collect(),
        };
        let bind_group = self.bind_groups.lock().unwrap().get_or_create(key, |key| {
            let entries: Vec<_> = key
                .bindings
                .iter()
                .enumerate()
                .map(|(i, (buffer, offset, size))| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: *offset,
                        size: wgpu::BufferSize::new(*size),
                    }),
                })
                .collect();
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &key.layout,
                entries: &entries,
            })
        });
        let record = |pass: &mut wgpu::ComputePass| {
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[slot]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        };
        let Recorder { encoder, pass, profiler, .. } = &mut *rec;
        match profiler {
            // A pass of its own, whose beginning and end the profiler stamps.
            Some(p) => {
                let bound = bindings.iter().map(|b| b.size).sum();
                let timestamp_writes =
                    p.next_writes(DispatchLabel { kernel: (kernel.shader.name, kernel.entry), groups, bound, flops });
                record(
                    &mut encoder.get_or_insert_with(|| self.new_encoder()).begin_compute_pass(
                        &wgpu::ComputePassDescriptor { label: Some(kernel.entry), timestamp_writes },
                    ),
                );
            }
            None => record(pass.get_or_insert_with(|| {
                encoder
                    .get_or_insert_with(|| self.new_encoder())
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("engine"), timestamp_writes: None })
                    .forget_lifetime()
            })),
        }
        rec.dispatches += 1;
        self.dispatches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Records a buffer-to-buffer copy in order with the dispatches.
    pub fn copy(&self, src: &wgpu::Buffer, src_off: u64, dst: &wgpu::Buffer, dst_off: u64, bytes: u64) {
        let mut rec = self.recorder.lock().unwrap();
        let encoder = self.encoder(&mut rec);
        encoder.copy_buffer_to_buffer(src, src_off, dst, dst_off, bytes);
    }

    /// Records a zero-fill of `bytes` bytes at `offset` (both multiples of 4).
    pub fn clear(&self, dst: &wgpu::Buffer, offset: u64, bytes: u64) {
        let mut rec = self.recorder.lock().unwrap();
        let encoder = self.encoder(&mut rec);
        encoder.clear_buffer(dst, offset, Some(bytes));
    }

    /// Writes host data into a buffer, ordered after everything recorded so far.
    pub fn write(&self, dst: &wgpu::Buffer, offset: u64, data: &[u8]) {
        // queue.write_buffer lands before the next submission, so the recorded work that
        // precedes this write must be submitted first.
        let mut rec = self.recorder.lock().unwrap();
        if rec.encoder.is_some() {
            self.submit_locked(&mut rec);
        }
        self.queue.write_buffer(dst, offset, data);
    }

    /// Records a timestamp (for benchmarks) in order with the dispatches, where supported.
    pub fn timestamp(&self, set: &wgpu::QuerySet, index: u32) {
        let mut rec = self.recorder.lock().unwrap();
        let encoder = self.encoder(&mut rec);
        let _pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("timestamp"),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(index),
                end_of_pass_write_index: None,
            }),
        });
    }

    pub fn resolve_timestamps(&self, set: &wgpu::QuerySet, count: u32, dst: &wgpu::Buffer) {
        let mut rec = self.recorder.lock().unwrap();
        let encoder = self.encoder(&mut rec);
        encoder.resolve_query_set(set, 0..count, dst, 0);
    }

    /// The encoder that collects this batch's commands, for a command other than a dispatch:
    /// the open compute pass (if any) ends first, since an encoder records nothing else while a
    /// pass is open.
    fn encoder<'r>(&self, rec: &'r mut Recorder) -> &'r mut wgpu::CommandEncoder {
        rec.pass = None;
        rec.encoder.get_or_insert_with(|| self.new_encoder())
    }

    fn new_encoder(&self) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("engine") })
    }

    fn submit_locked(&self, rec: &mut Recorder) {
        rec.pass = None; // ends the open pass
        if let Some(mut encoder) = rec.encoder.take() {
            if !rec.uniforms.is_empty() {
                self.queue.write_buffer(&rec.uniform_buffer, 0, &rec.uniforms);
            }
            if let Some(p) = &rec.profiler {
                p.resolve(&mut encoder);
            }
            let command_buffer = encoder.finish();
            let t0 = Instant::now();
            self.queue.submit([command_buffer]);
            self.count_gpu_call(t0);
            if let Some(p) = &mut rec.profiler {
                let t0 = Instant::now();
                p.collect(&self.device, self.queue.get_timestamp_period() as f64);
                self.count_gpu_call(t0);
            }
        }
        rec.uniforms.clear();
        rec.dispatches = 0;
    }

    /// GPU time per kernel and per dispatch class so far, if profiling (`ENGINE_PROFILE=1` and
    /// timestamp queries).
    pub fn profile(&self) -> Option<Profile> {
        self.flush();
        self.recorder.lock().unwrap().profiler.as_ref().map(|p| p.report())
    }

    /// Submits everything recorded so far without waiting for it.
    pub fn flush(&self) {
        let mut rec = self.recorder.lock().unwrap();
        self.submit_locked(&mut rec);
    }

    /// Submits and waits until the GPU is idle; reports errors raised since the last check.
    pub fn sync(&self) -> Result<()> {
        self.flush();
        self.wait_idle()?;
        self.check()?;
        self.maybe_save_cache(false);
        Ok(())
    }

    /// Errors the device reported asynchronously (out of memory, device lost, validation).
    pub fn check(&self) -> Result<()> {
        if let Some(l) = self.lost.lock().unwrap().clone() {
            return Err(Error::DeviceLost(l));
        }
        let mut errs = self.errors.lock().unwrap();
        if !errs.is_empty() {
            let msg = errs.join("; ");
            errs.clear();
            if msg.to_ascii_lowercase().contains("out of memory") {
                return Err(Error::OutOfMemory(msg));
            }
            return Err(Error::Gpu(msg));
        }
        Ok(())
    }

    /// Reads `bytes` bytes at `offset` of `src` back to the host. Waits for the GPU.
    pub fn read(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        READBACKS.with(|r| r.set(r.get() + 1));
        let padded = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT).max(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: padded,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.copy(src, offset, &staging, 0, padded);
        self.flush();
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait_idle()?;
        self.check()?;
        rx.recv()
            .map_err(|_| Error::Gpu("readback callback dropped".into()))?
            .map_err(|e| Error::Gpu(format!("mapping readback buffer: {e}")))?;
        let out = staging.get_mapped_range(..).map_err(|e| Error::Gpu(format!("mapping readback buffer: {e}")))?
            [..bytes as usize]
            .to_vec();
        staging.unmap();
        self.maybe_save_cache(false);
        Ok(out)
    }

    /// Writes the persistent pipeline cache to disk if new pipelines were compiled.
    pub fn save_pipeline_cache(&self) {
        self.maybe_save_cache(true);
    }

    fn maybe_save_cache(&self, force: bool) {
        let Some(d) = &self.disk_cache else { return };
        let mut st = d.state.lock().unwrap();
        if !st.0 || (!force && st.1.elapsed().as_secs_f32() < 2.0) {
            return;
        }
        if let Some(data) = d.cache.get_data() {
            let _ = crate::fsutil::write_bytes(&d.path, &data);
        }
        *st = (false, Instant::now());
    }

    /// Whether kernels keep wgpu's runtime checks (`ENGINE_SHADER_CHECKS=1`) or are trusted modules.
    pub fn shader_checks(&self) -> bool {
        self.shader_checks
    }

    /// Whether trusted modules keep naga's loop bounding: a two-word counter that every loop
    /// iteration decrements and tests, so that no loop can run forever. On CPU adapters it
    /// stays: without it lavapipe's LLVM, which inlines the uniforms (sizes become constants),
    /// unrolled the K loops and compiled the tiny model's training kernels in 136 s instead of
    /// 22 s (2026-12-03). A GPU's compiler sees no sizes, and there the counter is a cost in
    /// every iteration of every inner loop, and an exit that keeps the compiler from counting
    /// a constant-trip loop's iterations (the tiled GEMM's 8-deep product loop, the reductions'
    /// loops of four loads): off unless `ENGINE_LOOP_BOUNDING=1` (unmeasured on a GPU as of
    /// 2026-12-05; `tools/gpu/run.sh`'s `bench-loopbound` stage times it).
    pub fn loop_bounding(&self) -> bool {
        self.loop_bounding
    }

    pub fn pipeline_cache_path(&self) -> Option<&std::path::Path> {
        self.disk_cache.as_ref().map(|d| d.path.as_path())
    }
}

impl DiskCache {
    fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo, dir: Option<PathBuf>) -> Option<DiskCache> {
        let key = wgpu::util::pipeline_cache_key(info)?;
        let dir = dir.or_else(crate::fsutil::user_cache_dir)?;
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(key);
        let data = std::fs::read(&path).ok();
        // SAFETY: the data was written by `get_data` of a cache with the same key (adapter and
        // driver); wgpu and the driver validate the header and fall back to an empty cache.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("engine pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(DiskCache { cache, path, state: Mutex::new((false, Instant::now())) })
    }
}
