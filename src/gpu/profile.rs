//! Per-kernel GPU time (`ENGINE_PROFILE=1`): every dispatch's compute pass writes a timestamp
//! at its start and end; at each submission the pairs are resolved, read back (which waits for
//! that submission, so profiled runs are slower) and summed per kernel entry point, and per
//! dispatch class: the kernel with its grid and the bytes its storage bindings cover, which
//! tells the shapes of one kernel apart (a split-K sum from a bias gradient, a 1280-channel
//! convolution at 8x8 from a 320-channel one at 64x64). The commands print both tables at
//! exit; kernel authors see where a training step's time goes, and, from the bytes, how far a
//! memory-bound kernel is from the copy probe; from the FLOPs that the products' launchers
//! declare ([`count_flops`]), how far each GEMM and convolution shape is from the FMA probe.

use std::cell::Cell;
use std::collections::HashMap;

thread_local! {
    /// The FLOPs of the next dispatch this thread records ([`count_flops`]).
    static NEXT_FLOPS: Cell<u64> = const { Cell::new(0) };
}

/// Declares the nominal FLOPs of the next dispatch this thread records (a product's 2·M·N·K,
/// as `engine bench` counts them: padding taps and split-K slices included), for the profile's
/// TFLOP/s columns. Launchers of GEMMs and convolutions call it just before they dispatch;
/// every dispatch takes (and clears) it, so a dispatch that declares nothing counts none.
pub(crate) fn count_flops(flops: u64) {
    NEXT_FLOPS.with(|c| c.set(flops));
}

/// The FLOPs declared for the dispatch being recorded, cleared for the next one.
pub(crate) fn take_flops() -> u64 {
    NEXT_FLOPS.with(|c| c.replace(0))
}

/// Timestamps for one submission's dispatches: a query pair per dispatch.
pub(crate) struct Profiler {
    pub set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// What each dispatch recorded since the last submission is counted under.
    pub labels: Vec<DispatchLabel>,
    /// Dispatch class -> (dispatches, seconds).
    totals: HashMap<DispatchLabel, (u64, f64)>,
    capacity: usize,
}

/// What a profiled dispatch is counted under: its kernel, its grid, the bytes its storage
/// bindings cover (the windows' sizes, the uniform block left out) and its declared FLOPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DispatchLabel {
    /// (shader, entry point).
    pub kernel: (&'static str, &'static str),
    pub groups: [u32; 3],
    pub bound: u64,
    pub flops: u64,
}

/// One row of [`Profile::kernels`]: a kernel entry point's dispatches.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    pub shader: &'static str,
    pub entry: &'static str,
    pub dispatches: u64,
    pub seconds: f64,
    /// The bytes its dispatches' storage bindings cover, summed over the dispatches: for a
    /// memory-bound kernel about what it moved (a binding may cover more than the dispatch
    /// touches, and a product reads its operands more than once, mostly from cache).
    pub bytes_bound: u64,
    /// The FLOPs its dispatches declared ([`count_flops`]), summed: 0 for all but products.
    pub flops: u64,
}

/// One row of [`Profile::classes`]: the dispatches of one kernel with one grid and one
/// binding size.
#[derive(Clone, Debug)]
pub struct ClassRow {
    pub shader: &'static str,
    pub entry: &'static str,
    pub groups: [u32; 3],
    /// The bytes each dispatch's storage bindings cover.
    pub bytes_bound: u64,
    /// The FLOPs each dispatch declared ([`count_flops`]).
    pub flops: u64,
    pub dispatches: u64,
    pub seconds: f64,
}

/// GPU time by kernel and by dispatch class, most time first.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub kernels: Vec<ProfileRow>,
    pub classes: Vec<ClassRow>,
}

/// Whether the process asked for a profile (`ENGINE_PROFILE=1`).
pub fn requested() -> bool {
    super::options().is_ok_and(|o| o.profile)
}

impl Profiler {
    pub fn new(device: &wgpu::Device, capacity: usize) -> Profiler {
        let bytes = (2 * capacity * 8) as u64;
        Profiler {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * capacity as u32,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            staging: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            labels: Vec::new(),
            totals: HashMap::new(),
            capacity,
        }
    }

    /// The timestamp writes for the next dispatch's pass, if there is room (the recorder
    /// submits before `capacity` dispatches, so there always is).
    pub fn next_writes(&mut self, label: DispatchLabel) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let i = self.labels.len();
        if i >= self.capacity {
            return None;
        }
        self.labels.push(label);
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(2 * i as u32),
            end_of_pass_write_index: Some(2 * i as u32 + 1),
        })
    }

    /// Records the resolve and copy of this submission's timestamps into `encoder`.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        let n = self.labels.len() as u32;
        if n > 0 {
            encoder.resolve_query_set(&self.set, 0..2 * n, &self.resolve, 0);
            encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.staging, 0, 16 * n as u64);
        }
    }

    /// After the submission: waits for it, reads its timestamps and adds them to the totals.
    pub fn collect(&mut self, device: &wgpu::Device, period_ns: f64) {
        let n = self.labels.len();
        if n == 0 {
            return;
        }
        let slice = self.staging.slice(..16 * n as u64);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        if device.poll(wgpu::PollType::wait_indefinitely()).is_ok() {
            if let Ok(view) = slice.get_mapped_range() {
                let ts: &[u64] = bytemuck::cast_slice(&view);
                for (i, label) in self.labels.iter().enumerate() {
                    let dt = ts[2 * i + 1].saturating_sub(ts[2 * i]) as f64 * period_ns * 1e-9;
                    let e = self.totals.entry(*label).or_insert((0, 0.0));
                    e.0 += 1;
                    e.1 += dt;
                }
            }
        }
        self.staging.unmap();
        self.labels.clear();
    }

    /// Totals per kernel entry and per dispatch class, most time first.
    pub fn report(&self) -> Profile {
        summarise(&self.totals)
    }
}

/// The per-kernel rows (each the sum of its classes) and the class rows, most time first.
fn summarise(totals: &HashMap<DispatchLabel, (u64, f64)>) -> Profile {
    let mut kernels: HashMap<(&'static str, &'static str), ProfileRow> = HashMap::new();
    let mut classes = Vec::with_capacity(totals.len());
    for (label, &(dispatches, seconds)) in totals {
        let (shader, entry) = label.kernel;
        let k = kernels.entry(label.kernel).or_insert(ProfileRow {
            shader,
            entry,
            dispatches: 0,
            seconds: 0.0,
            bytes_bound: 0,
            flops: 0,
        });
        k.dispatches += dispatches;
        k.seconds += seconds;
        k.bytes_bound += label.bound * dispatches;
        k.flops += label.flops * dispatches;
        classes.push(ClassRow {
            shader,
            entry,
            groups: label.groups,
            bytes_bound: label.bound,
            flops: label.flops,
            dispatches,
            seconds,
        });
    }
    let mut kernels: Vec<ProfileRow> = kernels.into_values().collect();
    kernels.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then(a.entry.cmp(b.entry)));
    classes.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then(a.entry.cmp(b.entry)));
    Profile { kernels, classes }
}

/// Bytes over seconds in GB/s (or FLOPs in GFLOP/s), "-" where no time was measured.
fn rate(bytes: f64, seconds: f64) -> String {
    if seconds > 0.0 {
        format!("{:.1}", bytes / seconds / 1e9)
    } else {
        "-".into()
    }
}

/// FLOPs over seconds in TFLOP/s, "-" where none were declared or no time measured.
fn tflops(flops: f64, seconds: f64) -> String {
    if flops > 0.0 && seconds > 0.0 {
        let t = flops / seconds / 1e12;
        // Three decimals below 1 TFLOP/s: a CPU adapter's products run at a few GFLOP/s.
        if t < 1.0 {
            format!("{t:.3}")
        } else {
            format!("{t:.2}")
        }
    } else {
        "-".into()
    }
}

/// How many dispatch classes [`format`] lists: enough to cover where a step's time goes
/// without listing every shape of every small kernel.
pub const CLASSES_SHOWN: usize = 40;

/// The tables a [`Profile`] prints as (for the CLI): by kernel, then the [`CLASSES_SHOWN`]
/// dispatch classes that took the most time. "GB/s bound" is the bytes the storage bindings
/// cover over the time: for a memory-bound kernel about its bandwidth, to read against the
/// copy probe. "TFLOP/s" is the products' declared FLOPs over the time, to read against the
/// FMA probe (and the matrix units' peak).
pub fn format(profile: &Profile) -> String {
    let total: f64 = profile.kernels.iter().map(|r| r.seconds).sum();
    let share = |s: f64| 100.0 * s / total.max(1e-12);
    let mut out = format!("GPU time by kernel (ENGINE_PROFILE=1): {:.3} s in all\n", total);
    out.push_str(&format!(
        "  {:<34} {:>10} {:>12} {:>7} {:>11} {:>9}\n",
        "kernel", "dispatches", "seconds", "share", "GB/s bound", "TFLOP/s"
    ));
    for r in &profile.kernels {
        out.push_str(&format!(
            "  {:<34} {:>10} {:>12.4} {:>6.1}% {:>11} {:>9}\n",
            format!("{}.{}", r.shader, r.entry),
            r.dispatches,
            r.seconds,
            share(r.seconds),
            rate(r.bytes_bound as f64, r.seconds),
            tflops(r.flops as f64, r.seconds)
        ));
    }
    let shown = profile.classes.len().min(CLASSES_SHOWN);
    out.push_str(&format!(
        "GPU time by dispatch class (kernel, workgroups, bytes its bindings cover): the {shown} of {} that took longest\n",
        profile.classes.len()
    ));
    out.push_str(&format!(
        "  {:<34} {:>17} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11} {:>9} {:>9}\n",
        "kernel",
        "workgroups",
        "MiB bound",
        "dispatches",
        "seconds",
        "us each",
        "share",
        "GB/s bound",
        "GFLOP",
        "TFLOP/s"
    ));
    for r in &profile.classes[..shown] {
        let [x, y, z] = r.groups;
        let gflop = if r.flops > 0 { format!("{:.2}", r.flops as f64 / 1e9) } else { "-".into() };
        out.push_str(&format!(
            "  {:<34} {:>17} {:>10.2} {:>10} {:>10.4} {:>10.1} {:>6.1}% {:>11} {:>9} {:>9}\n",
            format!("{}.{}", r.shader, r.entry),
            format!("{x}x{y}x{z}"),
            r.bytes_bound as f64 / (1u64 << 20) as f64,
            r.dispatches,
            r.seconds,
            1e6 * r.seconds / r.dispatches.max(1) as f64,
            share(r.seconds),
            rate((r.bytes_bound * r.dispatches) as f64, r.seconds),
            gflop,
            tflops((r.flops * r.dispatches) as f64, r.seconds)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rows_are_the_sums_of_their_classes_and_both_tables_print() {
        let label = |entry, groups, bound| DispatchLabel { kernel: ("reduce", entry), groups, bound, flops: 0 };
        let gemm =
            DispatchLabel { kernel: ("gemm", "gemm8x8_tiled"), groups: [8, 8, 1], bound: 12 << 20, flops: 2 << 30 };
        let totals: HashMap<DispatchLabel, (u64, f64)> = [
            (label("sum_cols", [256, 1, 1], 4 << 20), (10, 0.004)),
            (label("sum_cols", [40, 1, 1], 1 << 20), (30, 0.003)),
            (label("sum_rows", [320, 1, 1], 2 << 20), (5, 0.005)),
            (gemm, (4, 0.001)),
        ]
        .into_iter()
        .collect();
        let p = summarise(&totals);
        let cols = p.kernels.iter().find(|r| r.entry == "sum_cols").unwrap();
        assert_eq!((cols.dispatches, cols.bytes_bound, cols.flops), (40, 10 * (4 << 20) + 30 * (1 << 20), 0));
        assert!((cols.seconds - 0.007).abs() < 1e-12);
        // Most time first, in both tables.
        assert_eq!(p.kernels.iter().map(|r| r.entry).collect::<Vec<_>>(), ["sum_cols", "sum_rows", "gemm8x8_tiled"]);
        assert_eq!(p.classes.iter().map(|r| r.groups[0]).collect::<Vec<_>>(), [320, 256, 40, 8]);
        let text = format(&p);
        // sum_cols: 70 MiB in 7 ms; its 256-workgroup class 40 MiB in 4 ms, 400 us each (4 of
        // the 13 ms in all), no FLOPs.
        assert!(text.contains("GPU time by dispatch class"), "{text}");
        let class = text.lines().find(|l| l.contains("256x1x1")).unwrap();
        let fields: Vec<&str> = class.split_whitespace().collect();
        assert_eq!(fields[1..], ["256x1x1", "4.00", "10", "0.0040", "400.0", "30.8%", "10.5", "-", "-"], "{class}");
        let kernel = text.lines().find(|l| l.contains("reduce.sum_cols") && !l.contains('x')).unwrap();
        assert!(kernel.trim_end().ends_with("10.5         -"), "{kernel}");
        // The GEMM: 4 dispatches of 2^31 FLOPs in 1 ms, 8.59 TFLOP/s; 2.15 GFLOP each.
        let class = text.lines().find(|l| l.contains("8x8x1")).unwrap();
        assert!(class.trim_end().ends_with("2.15      8.59"), "{class}");
        let kernel = text.lines().find(|l| l.contains("gemm.gemm8x8_tiled") && !l.contains("8x8x1")).unwrap();
        assert!(kernel.trim_end().ends_with("8.59"), "{kernel}");
    }
}
