//! What the opened adapter can do, gathered once when the context opens, so that kernels ask
//! a fact ("are there subgroups, how wide", "is this a CPU adapter") instead of each reading
//! `AdapterInfo` and guessing.

/// The adapter's capabilities as the kernels see them.
#[derive(Debug, Clone)]
pub struct Caps {
    /// A software adapter (lavapipe, llvmpipe, WARP): each workgroup runs on one host thread,
    /// storage loads are the dominant cost. The default variants' cost model was measured there.
    pub cpu: bool,
    /// Discrete GPU (its own memory).
    pub discrete: bool,
    /// Subgroup operations are enabled, with sizes `subgroup_sizes` (min, max).
    pub subgroups: bool,
    pub subgroup_sizes: (u32, u32),
    /// `SHADER_F16` is enabled: WGSL may use `f16`.
    pub shader_f16: bool,
    /// Timestamp queries are enabled (benchmarks and the profiler use them).
    pub timestamps: bool,
    /// The cooperative-matrix shapes the adapter reports (M x N x K, A/B and C types). Listed
    /// only: the experimental feature is not enabled and no kernel uses them yet.
    pub cooperative_matrix: Vec<wgpu::CooperativeMatrixProperties>,
    /// Largest byte window one storage binding may cover (the adapter's limit, or the
    /// `ENGINE_MAX_BINDING` override).
    pub max_binding: u64,
    /// Largest buffer.
    pub max_buffer: u64,
    /// Storage-binding offsets must be multiples of this.
    pub offset_align: u64,
    /// Workgroup memory per workgroup, in bytes.
    pub workgroup_storage: u32,
}

impl Caps {
    pub fn new(
        adapter: &wgpu::Adapter,
        info: &wgpu::AdapterInfo,
        features: wgpu::Features,
        limits: &wgpu::Limits,
        max_binding_override: Option<u64>,
    ) -> Caps {
        let adapter_binding = limits.max_storage_buffer_binding_size;
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        Caps {
            cpu: info.device_type == wgpu::DeviceType::Cpu,
            discrete: info.device_type == wgpu::DeviceType::DiscreteGpu,
            subgroups,
            subgroup_sizes: if subgroups { (info.subgroup_min_size, info.subgroup_max_size) } else { (0, 0) },
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            cooperative_matrix: adapter.cooperative_matrix_properties(),
            max_binding: max_binding_override.map_or(adapter_binding, |o| o.min(adapter_binding)),
            max_buffer: limits.max_buffer_size,
            offset_align: limits.min_storage_buffer_offset_alignment as u64,
            workgroup_storage: limits.max_compute_workgroup_storage_size,
        }
    }

    /// The subgroup width the register-blocked kernels can rely on: they take the rows of A
    /// from lanes 0-7 by broadcast, so every subgroup must hold 8 to 64 lanes, a power of two
    /// (every size then divides the largest). `None` where that does not hold or subgroups
    /// are off.
    pub fn blocked_subgroup_width(&self) -> Option<u32> {
        let (lo, hi) = self.subgroup_sizes;
        (self.subgroups && lo >= 8 && hi <= 64 && hi.is_power_of_two()).then_some(hi)
    }
}
