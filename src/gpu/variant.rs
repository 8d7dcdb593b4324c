//! Launch variants of the register-blocked kernels (GEMM and conv2d): one description of a
//! variant, one cost model that picks the default, and the per-thread way to force one.
//!
//! A variant is a kernel entry whose invocations each hold a register block of C (`rows` x
//! `cols`), launched in a workgroup of WG_X x WG_Y invocations: a workgroup covers
//! `rows·WG_Y` rows by `cols·WG_X` columns. With `broadcast`, lanes 0-7 of a subgroup load the
//! A values of eight rows each and every lane takes them by `subgroupBroadcast`, which needs
//! subgroups of 8-64 lanes ([`super::Caps::blocked_subgroup_width`]).

use std::cell::RefCell;

use super::kernel::Kernel;

/// A register block: rows x cols of C per invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub rows: u32,
    pub cols: u32,
    /// The rows' A values come by subgroup broadcast (needs subgroups).
    pub broadcast: bool,
    /// The workgroup stages its A and B tiles through workgroup memory (a GPU layout: each
    /// element is read from storage once per workgroup instead of once per invocation that
    /// uses it; on lavapipe, where workgroup memory is host memory too, it does not pay).
    pub tiled: bool,
    /// Tiled, with each invocation's rows and columns in groups of 4 adjacent ones (group g
    /// of the rows `4·WG_Y` apart), so that it reads its A and B values from workgroup memory
    /// as vec4s: 4 loads for an 8x8 block's 64 FMAs per k instead of 16 scalar ones, which on
    /// a GPU is what bounds a tiled GEMM (workgroup-memory loads issue at a quarter of the
    /// FMA rate). Needs rows and cols multiples of 4.
    pub quads: bool,
    /// Tiled, software-pipelined: two copies of each workgroup tile, and each k step issues
    /// its storage loads (into registers) before the products of the step staged before it,
    /// then stores them into the other copy: the loads' latency hides behind those products,
    /// and one workgroup barrier per step instead of two. Needs the launch shape known when
    /// the entry is written (`ops::blocked::TILED_WG`).
    pub pipelined: bool,
}

impl Block {
    pub const fn plain(rows: u32, cols: u32) -> Block {
        Block { rows, cols, broadcast: false, tiled: false, quads: false, pipelined: false }
    }
    pub const fn subgroup(rows: u32, cols: u32) -> Block {
        Block { rows, cols, broadcast: true, tiled: false, quads: false, pipelined: false }
    }
    pub const fn tiled(rows: u32, cols: u32) -> Block {
        Block { rows, cols, broadcast: false, tiled: true, quads: false, pipelined: false }
    }
    pub const fn tiled_quads(rows: u32, cols: u32) -> Block {
        Block { rows, cols, broadcast: false, tiled: true, quads: true, pipelined: false }
    }
    /// This tiled block, software-pipelined (see `pipelined`).
    pub const fn pipelined(self) -> Block {
        assert!(self.tiled, "only tiled blocks stage through workgroup memory");
        Block { pipelined: true, ..self }
    }
    /// Storage loads per FMA in the inner loop: each k step loads the rows' A values (an
    /// eighth of them with broadcast) and the columns' B values, for rows x cols FMAs. Tiled,
    /// a workgroup of 256 stages its tile's rows and columns once per k step for all of them.
    pub fn loads_per_fma(&self) -> f64 {
        if self.tiled {
            return (self.rows + self.cols) as f64 / 256.0 / (self.rows * self.cols) as f64;
        }
        let a_loads = if self.broadcast { self.rows / 8 } else { self.rows };
        (a_loads + self.cols) as f64 / (self.rows * self.cols) as f64
    }
}

/// One launch variant: its name (in the tuning cache and for forcing), the kernel entry, the
/// register block that entry holds, and the workgroup shape it is launched with.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    pub kernel: &'static Kernel,
    pub block: Block,
    /// (WG_X, WG_Y).
    pub wg: (u32, u32),
}

impl Variant {
    /// Rows and columns of C one workgroup covers.
    pub fn tile(&self) -> (u32, u32) {
        (self.block.rows * self.wg.1, self.block.cols * self.wg.0)
    }

    /// The dispatch grid for an M x N output, `z` deep.
    pub fn groups(&self, m: u32, n: u32, z: u32) -> [u32; 3] {
        let (tm, tn) = self.tile();
        [n.div_ceil(tn), m.div_ceil(tm), z]
    }

    /// The cost model the defaults minimise, measured on lavapipe: the padded tile area (rows
    /// and columns computed and thrown away count) times 1 + 13.5 loads per FMA (one storage
    /// load cost 13.5 FMAs there), times the idle host threads when there are fewer
    /// workgroups than threads (`z` deep).
    pub fn cost(&self, m: u32, n: u32, z: u32) -> f64 {
        let (tm, tn) = self.tile();
        let (gm, gn) = (m.div_ceil(tm), n.div_ceil(tn));
        let padded = (gm * tm) as f64 * (gn * tn) as f64;
        padded * (1.0 + 13.5 * self.block.loads_per_fma()) * idle_factor(gm * gn * z)
    }
}

/// The index of the cheapest of `variants` by [`Variant::cost`] among those `eligible` allows
/// (by index; the first of equals; 0 if none is eligible).
pub fn cheapest(variants: &[Variant], m: u32, n: u32, z: u32, eligible: impl Fn(usize) -> bool) -> usize {
    (0..variants.len())
        .filter(|&i| eligible(i))
        .min_by(|&a, &b| variants[a].cost(m, n, z).total_cmp(&variants[b].cost(m, n, z)))
        .unwrap_or(0)
}

/// How much longer a dispatch of `workgroups` takes than its work alone would on a CPU adapter
/// whose threads outnumber them: lavapipe runs each workgroup on one thread, so one workgroup
/// for a whole 1024 x 40 product left the other core idle (the 32x5 block ran at half the 8x5's
/// rate there). 1 once there are at least as many workgroups as host threads.
pub fn idle_factor(workgroups: u32) -> f64 {
    static THREADS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    (threads as f64 / workgroups.max(1) as f64).max(1.0)
}

/// WG_Y (at most `max`) for blocks of `rows` rows over M rows: the fewest tiles of
/// `rows` x WG_Y that cover M, each as short as that many tiles allow, so that little is
/// computed and thrown away (640 rows in 32-row blocks: two tiles of 320, WG_Y = 10, where a
/// power of two would take two of 512). Not a power of two in general, which WGSL allows.
pub fn balanced_rows(m: u32, rows: u32, max: u32) -> u32 {
    let max = max.max(1);
    let tiles = m.max(1).div_ceil(rows * max);
    m.max(1).div_ceil(rows * tiles).clamp(1, max)
}

/// The kernel families whose variant can be forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Gemm,
    Conv,
    Attention,
}

thread_local! {
    static FORCED: RefCell<Vec<(Family, String)>> = const { RefCell::new(Vec::new()) };
}

/// While the guard lives, this thread launches `family`'s variant `name` wherever a shape
/// offers it (tests and comparisons; the process-wide `ENGINE_*_VARIANT` options do the same
/// for every thread). Per thread, so that tests forcing different variants run side by side.
pub fn force(family: Family, name: &str) -> Forced {
    FORCED.with(|f| f.borrow_mut().push((family, name.to_string())));
    Forced { family }
}

/// Ends a [`force`] when dropped.
pub struct Forced {
    family: Family,
}

impl Drop for Forced {
    fn drop(&mut self) {
        FORCED.with(|f| {
            let mut f = f.borrow_mut();
            if let Some(i) = f.iter().rposition(|(fam, _)| *fam == self.family) {
                f.remove(i);
            }
        });
    }
}

/// The variant name forced for `family` on this thread, else by the process's options.
pub fn forced(family: Family) -> Option<String> {
    if let Some(name) = FORCED.with(|f| f.borrow().iter().rev().find(|(fam, _)| *fam == family).map(|(_, n)| n.clone()))
    {
        return Some(name);
    }
    let opts = super::options::options().ok()?;
    match family {
        Family::Gemm => opts.gemm_variant.clone(),
        Family::Conv => opts.conv_variant.clone(),
        Family::Attention => opts.attention.clone(),
    }
}
