//! Benchmarks: peak probes (FMA throughput, copy bandwidth) and kernel timings, so that each
//! kernel's number stands next to what the adapter can do.
//!
//! Timing: GPU timestamp queries where the adapter has them (written between passes), wall
//! clock around submit-and-wait otherwise; one warm-up run, then the median of several.

use crate::error::Result;
use crate::gpu::{context, Access, Kernel, Shader, Spec};
use crate::ops::gemm::gemm_raw;
use crate::ops::launch::grid;
use crate::tensor::Tensor;

pub static PROBE_SHADER: Shader =
    Shader { name: "probe", source: include_str!("../shaders/probe.wgsl"), variants: &[&[]] };
static FMA_PROBE: Kernel =
    Kernel { shader: &PROBE_SHADER, entry: "fma_probe", bindings: &[Access::Read, Access::ReadWrite] };
static COPY_PROBE: Kernel =
    Kernel { shader: &PROBE_SHADER, entry: "copy_probe", bindings: &[Access::Read, Access::ReadWrite] };

#[derive(Debug, Clone)]
pub struct BenchRow {
    pub kernel: String,
    pub shape: String,
    /// Median seconds per run.
    pub seconds: f64,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    /// Fraction of the matching probe (FMA peak for GFLOP/s, copy bandwidth for GB/s).
    pub peak_fraction: Option<f64>,
    /// How it was timed: "timestamp" or "wall".
    pub timer: &'static str,
}

impl BenchRow {
    pub fn to_json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:.6}"));
        format!(
            "{{\"kernel\": \"{}\", \"shape\": \"{}\", \"seconds\": {:.9}, \"gflops\": {}, \"gbps\": {}, \"peak_fraction\": {}, \"timer\": \"{}\"}}",
            self.kernel,
            self.shape,
            self.seconds,
            opt(self.gflops),
            opt(self.gbps),
            opt(self.peak_fraction),
            self.timer
        )
    }
}

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

/// GFLOP/s of a kernel that does nothing but independent FMAs.
pub fn fma_peak() -> Result<BenchRow> {
    let ctx = context()?;
    let groups = 1024usize;
    let iters = 1024u32;
    let out = Tensor::empty(&[groups * 256 * 4])?;
    let dummy = crate::ops::elementwise::dummy_binding()?;
    let (ov, _) = ctx.window(out.buffer(), 0, out.numel())?;
    let (secs, timer) = time_gpu(5, || {
        let params = [iters, (groups * 256) as u32, 0, 0];
        ctx.dispatch(&FMA_PROBE, &Spec::new(), &params, &[dummy, ov], grid(groups))
    })?;
    let flops = 2.0 * 16.0 * iters as f64 * (groups * 256) as f64;
    Ok(BenchRow {
        kernel: "fma_probe".into(),
        shape: format!("{} invocations x {iters} iters x 16 chains", groups * 256),
        seconds: secs,
        gflops: Some(flops / secs * 1e-9),
        gbps: None,
        peak_fraction: Some(1.0),
        timer,
    })
}

/// GB/s of a plain vec4 copy (bytes read + bytes written).
pub fn copy_peak() -> Result<BenchRow> {
    let ctx = context()?;
    let vec4s = 4 << 20; // 64 MiB each way
    let src = Tensor::zeros(&[vec4s * 4])?;
    let dst = Tensor::empty(&[vec4s * 4])?;
    let (sv, _) = ctx.window(src.buffer(), 0, src.numel())?;
    let (dv, _) = ctx.window(dst.buffer(), 0, dst.numel())?;
    let (secs, timer) = time_gpu(5, || {
        let params = [0, vec4s as u32, 0, 0];
        ctx.dispatch(&COPY_PROBE, &Spec::new(), &params, &[sv, dv], grid(vec4s / 256))
    })?;
    let bytes = 2.0 * 16.0 * vec4s as f64;
    Ok(BenchRow {
        kernel: "copy_probe".into(),
        shape: format!("{} MiB", (vec4s * 16) >> 20),
        seconds: secs,
        gflops: None,
        gbps: Some(bytes / secs * 1e-9),
        peak_fraction: Some(1.0),
        timer,
    })
}

fn rand_tensor(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    Tensor::from_slice(&v, shape)
}

/// One GEMM row: [batch, m, k] x [batch, k, n] (b transposed if `tb`).
pub fn bench_gemm(
    name: &str,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    tb: bool,
    fma_gflops: f64,
) -> Result<BenchRow> {
    let a = rand_tensor(&[batch, m, k], 1)?;
    let b = if tb { rand_tensor(&[batch, n, k], 2)? } else { rand_tensor(&[batch, k, n], 2)? };
    let reps = if (batch * m * n * k) as f64 > 5e8 { 3 } else { 5 };
    let (secs, timer) = time_gpu(reps, || gemm_raw(&a, &b, None, false, tb, 1.0).map(|_| ()))?;
    let flops = 2.0 * (batch * m * n * k) as f64;
    let gflops = flops / secs * 1e-9;
    Ok(BenchRow {
        kernel: name.into(),
        shape: format!(
            "[{batch},{m},{k}]x[{batch},{}]{}",
            if tb { format!("{n},{k}") } else { format!("{k},{n}") },
            if tb { "ᵀ" } else { "" }
        ),
        seconds: secs,
        gflops: Some(gflops),
        gbps: None,
        peak_fraction: Some(gflops / fma_gflops),
        timer,
    })
}

/// The rows of `engine bench gemm`: square GEMMs and the attention-like batched shapes.
pub fn gemm_suite(fma_gflops: f64) -> Result<Vec<BenchRow>> {
    Ok(vec![
        bench_gemm("gemm", 1, 256, 256, 256, false, fma_gflops)?,
        bench_gemm("gemm", 1, 1024, 1024, 1024, false, fma_gflops)?,
        // Attention scores q·kᵀ, SD 1.5 at 256x256 (N=1024), 8 heads of 40.
        bench_gemm("gemm_attn_scores", 8, 1024, 1024, 40, true, fma_gflops)?,
        // Attention output p·v.
        bench_gemm("gemm_attn_values", 8, 1024, 40, 1024, false, fma_gflops)?,
    ])
}

fn row(
    kernel: &str,
    shape: String,
    secs: f64,
    timer: &'static str,
    flops: Option<f64>,
    bytes: Option<f64>,
    peaks: (f64, f64),
) -> BenchRow {
    let gflops = flops.map(|f| f / secs * 1e-9);
    let gbps = bytes.map(|b| b / secs * 1e-9);
    let peak_fraction = gflops.map(|g| g / peaks.0).or(gbps.map(|b| b / peaks.1));
    BenchRow { kernel: kernel.into(), shape, seconds: secs, gflops, gbps, peak_fraction, timer }
}

/// conv2d forward at an SD 1.5 shape (320 -> 320, 3x3, padding 1, 32x32 latents).
pub fn conv_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let (ci, co, h) = (320, 320, 32);
    let x = rand_tensor(&[1, ci, h, h], 3)?;
    let w = rand_tensor(&[co, ci, 3, 3], 4)?.scale(0.05)?;
    let (secs, timer) = time_gpu(3, || x.conv2d(&w, None, 1, 1).map(|_| ()))?;
    let flops = 2.0 * (co * ci * 9 * h * h) as f64;
    Ok(vec![row("conv2d", format!("[1,{ci},{h},{h}] {ci}->{co} 3x3"), secs, timer, Some(flops), None, peaks)])
}

/// group norm at an SD 1.5 shape ([1, 320, 64, 64], 32 groups): bytes = 2 reads + 1 write.
pub fn norm_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let x = rand_tensor(&[1, 320, 64, 64], 5)?;
    let (g, b) = (Tensor::ones(&[320])?, Tensor::zeros(&[320])?);
    let (secs, timer) = time_gpu(5, || x.group_norm(32, &g, &b, 1e-5).map(|_| ()))?;
    let bytes = 3.0 * 4.0 * x.numel() as f64;
    Ok(vec![row("group_norm", "[1,320,64,64] 32 groups".into(), secs, timer, None, Some(bytes), peaks)])
}

/// Self-attention forward with 1024 tokens, 8 heads of 40; FLOPs = 4 B N² D.
pub fn attention_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let (b, n, d) = (8, 1024, 40);
    let q = rand_tensor(&[b, n, d], 6)?;
    let k = rand_tensor(&[b, n, d], 7)?;
    let v = rand_tensor(&[b, n, d], 8)?;
    let scale = 1.0 / (d as f32).sqrt();
    let (secs, timer) = time_gpu(3, || crate::ops::attention::attention(&q, &k, &v, false, scale).map(|_| ()))?;
    let flops = 4.0 * (b * n * n * d) as f64;
    Ok(vec![row("attention_fwd", format!("[{b},{n},{d}] self"), secs, timer, Some(flops), None, peaks)])
}

/// One AdamW step over 10 M parameters: bytes = 7 x 4 per parameter (p, m, v read and
/// written, g read).
pub fn adamw_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let n = 10_000_000;
    let p = Tensor::zeros(&[n])?.requires_grad_();
    p.sum_all()?.backward()?;
    let mut opt = crate::optim::AdamW::new(1e-4);
    let (secs, timer) = time_gpu(5, || opt.step(std::slice::from_ref(&p)))?;
    Ok(vec![row("adamw", format!("{n} params"), secs, timer, None, Some(28.0 * n as f64), peaks)])
}
