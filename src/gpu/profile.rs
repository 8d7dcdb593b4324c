//! Per-kernel GPU time (`ENGINE_PROFILE=1`): every dispatch's compute pass writes a timestamp
//! at its start and end; at each submission the pairs are resolved, read back (which waits for
//! that submission, so profiled runs are slower) and summed per kernel entry point. The
//! commands print the table at exit; kernel authors see where a training step's time goes.

use std::collections::HashMap;

/// Timestamps for one submission's dispatches: a query pair per dispatch.
pub(crate) struct Profiler {
    pub set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// (shader, entry) of each dispatch recorded since the last submission.
    pub labels: Vec<(&'static str, &'static str)>,
    /// (shader, entry) -> (dispatches, seconds).
    totals: HashMap<(&'static str, &'static str), (u64, f64)>,
    capacity: usize,
}

/// One row of `Profiler::report`.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    pub shader: &'static str,
    pub entry: &'static str,
    pub dispatches: u64,
    pub seconds: f64,
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
    pub fn next_writes(&mut self, label: (&'static str, &'static str)) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
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

    /// Totals per kernel entry, most time first.
    pub fn report(&self) -> Vec<ProfileRow> {
        let mut rows: Vec<ProfileRow> = self
            .totals
            .iter()
            .map(|(&(shader, entry), &(dispatches, seconds))| ProfileRow { shader, entry, dispatches, seconds })
            .collect();
        rows.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        rows
    }
}

/// The table `report` rows print as (for the CLI).
pub fn format(rows: &[ProfileRow]) -> String {
    let total: f64 = rows.iter().map(|r| r.seconds).sum();
    let mut out = format!("GPU time by kernel (ENGINE_PROFILE=1): {:.3} s in all\n", total);
    out.push_str(&format!("  {:<34} {:>10} {:>12} {:>7}\n", "kernel", "dispatches", "seconds", "share"));
    for r in rows {
        out.push_str(&format!(
            "  {:<34} {:>10} {:>12.4} {:>6.1}%\n",
            format!("{}.{}", r.shader, r.entry),
            r.dispatches,
            r.seconds,
            100.0 * r.seconds / total.max(1e-12)
        ));
    }
    out
}
