//! Timing GPU work: GPU timestamp queries where the adapter has them (written between passes),
//! wall clock around submit-and-wait otherwise; one warm-up run, then the median of several.
//! Used by the tuner (to time launch variants) and by the benchmarks.

use super::context::context;
use crate::error::Result;

/// Median seconds of `reps` runs of `run` (which records GPU work), after one warm-up.
pub fn time_gpu(reps: usize, mut run: impl FnMut() -> Result<()>) -> Result<(f64, &'static str)> {
    let ctx = context()?;
    run()?; // warm-up: compiles pipelines, fills the buffer pool
    ctx.sync()?;
    let use_ts = ctx.has(wgpu::Features::TIMESTAMP_QUERY);
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        if use_ts {
            let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("bench"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("bench timestamps"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            ctx.timestamp(&set, 0);
            run()?;
            ctx.timestamp(&set, 1);
            ctx.resolve_timestamps(&set, 2, &resolve);
            let raw = ctx.read(&resolve, 0, 16)?;
            let ts: &[u64] = bytemuck::cast_slice(&raw);
            let period = ctx.queue.get_timestamp_period() as f64;
            times.push(ts[1].saturating_sub(ts[0]) as f64 * period * 1e-9);
        } else {
            let t0 = std::time::Instant::now();
            run()?;
            ctx.sync()?;
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Ok((times[times.len() / 2], if use_ts { "timestamp" } else { "wall" }))
}
