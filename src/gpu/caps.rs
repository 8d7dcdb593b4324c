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
    /// The cooperative-matrix shapes the adapter reports (M x N x K, A/B and C types).
    pub cooperative_matrix: Vec<wgpu::CooperativeMatrixProperties>,
    /// The one the cooperative-matrix GEMM uses, where the device was opened with the
    /// experimental feature (see [`CoopShape::choose`]).
    pub coop: Option<CoopShape>,
    /// Largest byte window one storage binding may cover (the adapter's limit, or the
    /// `ENGINE_MAX_BINDING` override).
    pub max_binding: u64,
    /// Largest buffer.
    pub max_buffer: u64,
    /// Storage-binding offsets must be multiples of this.
    pub offset_align: u64,
    /// Workgroup memory per workgroup, in bytes.
    pub workgroup_storage: u32,
    /// Invocations per workgroup.
    pub max_invocations: u32,
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
            coop: features
                .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
                .then(|| CoopShape::choose(&adapter.cooperative_matrix_properties()))
                .flatten(),
            max_binding: max_binding_override.map_or(adapter_binding, |o| o.min(adapter_binding)),
            max_buffer: limits.max_buffer_size,
            offset_align: limits.min_storage_buffer_offset_alignment as u64,
            workgroup_storage: limits.max_compute_workgroup_storage_size,
            max_invocations: limits.max_compute_invocations_per_workgroup,
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

/// A square cooperative-matrix shape with f32 accumulators: S x S x S, A and B of `ab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoopShape {
    pub size: u32,
    /// A and B are f16 (else f32).
    pub half: bool,
}

impl CoopShape {
    /// The shapes the coop entries (`ops::blocked::Coop`) are written for, best first: 16x16x16 f16 -> f32 (the tensor
    /// cores of NVIDIA, AMD RDNA3 and Intel Arc through VK_KHR_cooperative_matrix), 8x8x8 f32
    /// (Apple's simdgroup matrices; usable for every product, its rounding being f32's), 8x8x8
    /// f16 -> f32.
    pub const PREFERENCE: [CoopShape; 3] =
        [CoopShape { size: 16, half: true }, CoopShape { size: 8, half: false }, CoopShape { size: 8, half: true }];

    /// The first shape of [`Self::PREFERENCE`] that `reported` holds (subgroup scope, f32 C).
    pub fn choose(reported: &[wgpu::CooperativeMatrixProperties]) -> Option<CoopShape> {
        use wgpu::CooperativeScalarType as T;
        Self::PREFERENCE.into_iter().find(|s| {
            reported.iter().any(|p| {
                p.m_size == s.size
                    && p.n_size == s.size
                    && p.k_size == s.size
                    && p.cr_type == T::F32
                    && p.ab_type == if s.half { T::F16 } else { T::F32 }
            })
        })
    }

    /// Whether an adapter's reported shapes include one this engine uses (the device then asks
    /// for the experimental feature).
    pub fn usable(reported: &[wgpu::CooperativeMatrixProperties]) -> bool {
        Self::choose(reported).is_some()
    }
}
