//! Benchmarks: peak probes (FMA throughput, copy bandwidth) and kernel timings, so that each
//! kernel's number stands next to what the adapter can do.
//!
//! Timing: GPU timestamp queries where the adapter has them (written between passes), wall
//! clock around submit-and-wait otherwise; one warm-up run, then the median of several.

use crate::error::Result;
pub use crate::gpu::time_gpu;
use crate::gpu::{context, Access, DType, Kernel, Shader, Spec, Uniforms};
use crate::ops::gemm::gemm_raw;
use crate::ops::launch::grid;
use crate::tensor::Tensor;

pub static PROBE_SHADER: Shader =
    Shader::file("probe", include_str!("../shaders/probe.wgsl"), &[&[]], &[&Params::LAYOUT]);

crate::uniforms! {
    /// The uniform block of `probe.wgsl`.
    struct Params {
        iters: u32,
        n: u32,
        _p0: u32,
        _p1: u32,
    }
}
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
    /// The buffer pool's peak during the row's work, in GiB (the memory suite).
    pub peak_gib: Option<f64>,
}

impl BenchRow {
    pub fn to_json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:.6}"));
        format!(
            "{{\"kernel\": \"{}\", \"shape\": \"{}\", \"seconds\": {:.9}, \"gflops\": {}, \"gbps\": {}, \"peak_fraction\": {}, \"timer\": \"{}\", \"peak_gib\": {}}}",
            self.kernel,
            self.shape,
            self.seconds,
            opt(self.gflops),
            opt(self.gbps),
            opt(self.peak_fraction),
            self.timer,
            opt(self.peak_gib)
        )
    }
}

/// The shortest run the probes aim for. At a fixed size they ran for 0.26 ms (FMA) and
/// 0.05 ms (copy) on an H200: too short for a GPU to show its rate (clocks raised for a
/// sustained load, the launch and the last wave against the whole run). That was one reason
/// the FMA probe read 33 TFLOP/s where the datasheet says 67 and cuBLAS reached 49; the other
/// was its loop (see `probe.wgsl`), which on lavapipe halved what it read (85 GFLOP/s with 16
/// FMAs a trip and naga's loop counters, 160 with 64 a trip: 2026-12-05).
const PROBE_MIN_SECONDS: f64 = 0.02;

/// GFLOP/s of a kernel that does nothing but independent FMAs: 262144 invocations of 16
/// chains, four rounds of them a trip of its loop, with enough iterations that a run takes at
/// least 20 ms (1024 where that is already so, as on lavapipe; at most 64 times more).
pub fn fma_peak() -> Result<BenchRow> {
    let ctx = context()?;
    let groups = 1024usize;
    let out = Tensor::empty(&[groups * 256 * 4])?;
    let dummy = crate::ops::elementwise::dummy_binding()?;
    let (ov, _) = ctx.window(out.buffer(), 0, out.numel())?;
    let time = |iters: u32| {
        time_gpu(5, || {
            let params = Params { iters, n: (groups * 256) as u32, ..Default::default() };
            ctx.dispatch(&FMA_PROBE, &Spec::new(), &params, &[dummy, ov], grid(groups))
        })
    };
    let mut iters = 1024u32; // a multiple of 4, the rounds a trip of the probe's loop makes
    let (mut secs, mut timer) = time(iters)?;
    if secs < PROBE_MIN_SECONDS {
        let scale = (PROBE_MIN_SECONDS / secs.max(1e-9)).ceil().min(64.0) as u32;
        iters *= scale;
        (secs, timer) = time(iters)?;
    }
    let flops = 2.0 * 16.0 * iters as f64 * (groups * 256) as f64;
    Ok(BenchRow {
        kernel: "fma_probe".into(),
        shape: format!("{} invocations x {iters} iters x 16 chains", groups * 256),
        seconds: secs,
        gflops: Some(flops / secs * 1e-9),
        gbps: None,
        peak_fraction: Some(1.0),
        timer,
        peak_gib: None,
    })
}

/// GB/s of a plain vec4 copy (bytes read + bytes written), between two buffers as large as
/// one binding allows up to 1 GiB each (128 MiB on lavapipe; a GPU's 1 GiB copy runs for
/// longer than the FMA probe's reasons need where its 64 MiB one did not).
pub fn copy_peak() -> Result<BenchRow> {
    let ctx = context()?;
    let most = ctx.max_binding_elems().min(1 << 28);
    let vec4s = 1usize << (usize::BITS - 1 - (most / 4).max(256).leading_zeros());
    let src = Tensor::zeros(&[vec4s * 4])?;
    let dst = Tensor::empty(&[vec4s * 4])?;
    let (sv, _) = ctx.window(src.buffer(), 0, src.numel())?;
    let (dv, _) = ctx.window(dst.buffer(), 0, dst.numel())?;
    let (secs, timer) = time_gpu(5, || {
        let params = Params { n: vec4s as u32, ..Default::default() };
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
        peak_gib: None,
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

/// One GEMM row: [batch, M, K] · [batch, K, N] (B stored transposed with `tb`), B stored as
/// `b_dtype` (f32, or frozen half weights unpacked in the kernel).
#[allow(clippy::too_many_arguments)]
pub fn bench_gemm(
    name: &str,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    tb: bool,
    b_dtype: DType,
    fma_gflops: f64,
) -> Result<BenchRow> {
    // A half B means half products throughout (both operands half, as under fp16 autocast):
    // the cooperative-matrix GEMM's case where the adapter has f16 matrices.
    let a = rand_tensor(&[batch, m, k], 1)?;
    let a = if name.ends_with("_f16") { a.cast(DType::F16)? } else { a };
    let b = if tb { rand_tensor(&[batch, n, k], 2)? } else { rand_tensor(&[batch, k, n], 2)? }.cast(b_dtype)?;
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
        peak_gib: None,
    })
}

/// The rows of `engine bench gemm`: square GEMMs, SD 1.5's linear layers at 64x64 latents
/// (4096 tokens of width 320), and the attention-like batched shapes.
pub fn gemm_suite(fma_gflops: f64) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for n in [256, 512, 1024, 2048] {
        rows.push(bench_gemm("gemm", 1, n, n, n, false, DType::F32, fma_gflops)?);
    }
    // Half operands (f16 A and B, f32 sums), and on GPUs the 4096³ products of issue 17's
    // targets (a minute a row on lavapipe, so not there).
    rows.push(bench_gemm("gemm_f16", 1, 1024, 1024, 1024, false, DType::F16, fma_gflops)?);
    if !Tensor::ctx()?.caps.cpu {
        rows.push(bench_gemm("gemm", 1, 4096, 4096, 4096, false, DType::F32, fma_gflops)?);
        rows.push(bench_gemm("gemm_f16", 1, 4096, 4096, 4096, false, DType::F16, fma_gflops)?);
    }
    // x·wᵀ as nn.Linear runs them: to_q/to_k/to_v/to_out, GEGLU's projection, the MLP's output,
    // and the cross-attention keys from CLIP's 77 x 768 states.
    rows.push(bench_gemm("linear_attn_proj", 1, 4096, 320, 320, true, DType::F32, fma_gflops)?);
    rows.push(bench_gemm("linear_geglu_proj", 1, 4096, 2560, 320, true, DType::F32, fma_gflops)?);
    rows.push(bench_gemm("linear_ff_out", 1, 4096, 320, 1280, true, DType::F32, fma_gflops)?);
    rows.push(bench_gemm("linear_cross_kv", 1, 77, 320, 768, true, DType::F32, fma_gflops)?);
    // The same products with frozen half weights (`--mixed-precision`): the unpacking's cost.
    rows.push(bench_gemm("linear_geglu_proj_bf16w", 1, 4096, 2560, 320, true, DType::BF16, fma_gflops)?);
    rows.push(bench_gemm("linear_geglu_proj_f16w", 1, 4096, 2560, 320, true, DType::F16, fma_gflops)?);
    rows.push(bench_gemm("linear_ff_out_bf16w", 1, 4096, 320, 1280, true, DType::BF16, fma_gflops)?);
    // Attention scores q·kᵀ and output p·v, SD 1.5 at 256x256 (N=1024), 8 heads of 40.
    rows.push(bench_gemm("gemm_attn_scores", 8, 1024, 1024, 40, true, DType::F32, fma_gflops)?);
    rows.push(bench_gemm("gemm_attn_values", 8, 1024, 40, 1024, false, DType::F32, fma_gflops)?);
    Ok(rows)
}

/// A backward row's seconds: forward + backward minus forward, or `None` where that is not
/// positive, which is a timing artefact and never a measurement (the tuned H200 run of
/// 2026-12-04 printed 0.0 ms and 7.5e9 GFLOP/s there); stderr says so and the row is left out.
fn backward_secs(kernel: &str, shape: &str, both: f64, fwd: f64) -> Option<f64> {
    if both > fwd {
        return Some(both - fwd);
    }
    eprintln!(
        "{kernel} {shape}: not measured (forward + backward {:.3} ms, forward alone {:.3} ms: a timing artefact)",
        both * 1e3,
        fwd * 1e3
    );
    None
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
    BenchRow { kernel: kernel.into(), shape, seconds: secs, gflops, gbps, peak_fraction, timer, peak_gib: None }
}

/// conv2d at SD 1.5's 3x3 shapes on 64x64, 32x32, 16x16 and 8x8 latents: forward (also with
/// bf16 weights, and with an f16 image, on the larger ones), and the input and weight
/// gradients (each timed as forward + that backward, minus the forward).
pub fn conv_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for (c, h) in [(320, 64), (640, 32), (1280, 16), (1280, 8)] {
        let x = rand_tensor(&[1, c, h, h], 3)?;
        let w = rand_tensor(&[c, c, 3, 3], 4)?.scale(0.05)?;
        let dy = rand_tensor(&[1, c, h, h], 5)?;
        let flops = 2.0 * (c * c * 9 * h * h) as f64;
        let reps = if flops > 4e9 { 3 } else { 5 };
        let shape = format!("[1,{c},{h},{h}] {c}->{c} 3x3");
        let (fwd, timer) = time_gpu(reps, || x.conv2d(&w, None, 1, 1).map(|_| ()))?;
        rows.push(row("conv2d_fwd", shape.clone(), fwd, timer, Some(flops), None, peaks));
        if c == 320 {
            // Frozen bf16 weights (`--mixed-precision`): the unpacking's cost.
            let wh = w.cast(DType::BF16)?;
            let (secs, timer) = time_gpu(reps, || x.conv2d(&wh, None, 1, 1).map(|_| ()))?;
            rows.push(row("conv2d_fwd_bf16w", shape.clone(), secs, timer, Some(flops), None, peaks));
        }
        if c <= 640 {
            // An f16 image (`--mixed-precision fp16`'s autocast input): what the f16
            // cooperative-matrix entry takes where the adapter has one.
            let xh = x.cast(DType::F16)?;
            let (secs, timer) = time_gpu(reps, || xh.conv2d(&w, None, 1, 1).map(|_| ()))?;
            rows.push(row("conv2d_fwd_f16x", shape.clone(), secs, timer, Some(flops), None, peaks));
        }
        for (name, gx) in [("conv2d_bwd_input", true), ("conv2d_bwd_weight", false)] {
            let (both, _) = time_gpu(reps, || {
                let (xi, wi) = if gx {
                    (x.detach().requires_grad_(), w.detach())
                } else {
                    (x.detach(), w.detach().requires_grad_())
                };
                xi.conv2d(&wi, None, 1, 1)?.backward_with(&dy)
            })?;
            if let Some(secs) = backward_secs(name, &shape, both, fwd) {
                rows.push(row(name, shape.clone(), secs, timer, Some(flops), None, peaks));
            }
        }
    }
    Ok(rows)
}

/// Group norm at SD 1.5 shapes (32 groups): forward, bytes = 2 reads + 1 write; and backward
/// (forward + backward of x, gamma and beta, minus forward), bytes = x and dy read, dx written.
pub fn norm_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for (c, h) in [(320, 64), (640, 32), (1280, 16)] {
        let x = rand_tensor(&[1, c, h, h], 5)?;
        let dy = rand_tensor(&[1, c, h, h], 6)?;
        let (g, b) = (Tensor::ones(&[c])?, Tensor::zeros(&[c])?);
        let shape = format!("[1,{c},{h},{h}] 32 groups");
        let (fwd, timer) = time_gpu(5, || x.group_norm(32, &g, &b, 1e-5).map(|_| ()))?;
        let bytes = 3.0 * 4.0 * x.numel() as f64;
        rows.push(row("group_norm", shape.clone(), fwd, timer, None, Some(bytes), peaks));
        let (both, _) = time_gpu(5, || {
            let (xi, gi, bi) = (x.detach().requires_grad_(), g.detach().requires_grad_(), b.detach().requires_grad_());
            xi.group_norm(32, &gi, &bi, 1e-5)?.backward_with(&dy)
        })?;
        if let Some(secs) = backward_secs("group_norm_bwd", &shape, both, fwd) {
            rows.push(row("group_norm_bwd", shape, secs, timer, None, Some(bytes), peaks));
        }
    }
    Ok(rows)
}

/// The sums a U-Net step makes most (`reduce.wgsl`; bytes = one read of every element): a
/// Linear layer's bias gradient, a column sum of [tokens, features], at SD 1.5's 64x64 and
/// 16x16 latents (two images); split-K's sum of 16 copies of a 320 x 320 weight gradient; and
/// a gradient norm's sum of squares over 16 M elements (the longest parameter's, in runs).
/// On a GPU the first two are two passes (runs of rows, then the runs' sums).
pub fn reduce_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for (name, shape) in [("bias_grad", [8192usize, 320]), ("bias_grad", [512, 1280]), ("split_k_sum", [16, 102400])] {
        let x = rand_tensor(&shape, 18)?;
        let (secs, timer) = time_gpu(5, || x.sum(0, false).map(|_| ()))?;
        let what = format!("[{},{}] over axis 0", shape[0], shape[1]);
        rows.push(row(name, what, secs, timer, None, Some(4.0 * x.numel() as f64), peaks));
    }
    let n = 1usize << 24;
    let x = rand_tensor(&[n], 19)?;
    let (secs, timer) = time_gpu(5, || crate::optim::GradClip::new(std::slice::from_ref(&x), 1.0, 1.0).map(|_| ()))?;
    rows.push(row("grad_norm_sq", format!("[{n}] sum of squares"), secs, timer, None, Some(4.0 * n as f64), peaks));
    Ok(rows)
}

/// The layout copies a U-Net step makes most (the strided copy kernel; bytes = one read and one
/// write of every element): attention's head split [2, 4096, 8, 40] -> [2, 8, 4096, 40] and its
/// merge back, and the skip connection's channel concatenation [2, 1280, 16, 16] ++
/// [2, 640, 16, 16].
pub fn copy_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    let x = rand_tensor(&[2, 4096, 8, 40], 15)?;
    let bytes = 8.0 * x.numel() as f64;
    let (secs, timer) = time_gpu(5, || x.permute(&[0, 2, 1, 3]).map(|_| ()))?;
    rows.push(row("head_split", "[2,4096,8,40] -> [2,8,4096,40]".into(), secs, timer, None, Some(bytes), peaks));
    let y = x.permute(&[0, 2, 1, 3])?;
    let (secs, timer) = time_gpu(5, || y.permute(&[0, 2, 1, 3]).map(|_| ()))?;
    rows.push(row("head_merge", "[2,8,4096,40] -> [2,4096,8,40]".into(), secs, timer, None, Some(bytes), peaks));
    let (a, b) = (rand_tensor(&[2, 1280, 16, 16], 16)?, rand_tensor(&[2, 640, 16, 16], 17)?);
    let bytes = 8.0 * (a.numel() + b.numel()) as f64;
    let (secs, timer) = time_gpu(5, || crate::ops::copy::cat(&[&a, &b], 1).map(|_| ()))?;
    rows.push(row("cat_channels", "[2,1280,16,16] ++ [2,640,16,16]".into(), secs, timer, None, Some(bytes), peaks));
    Ok(rows)
}

/// Attention with 8 heads of 40: self with 1024 and 4096 tokens, cross from 4096 queries to
/// CLIP's 77 keys; forward, and backward (forward + backward minus forward). FLOPs = 4 B Nq Nk D
/// forward, twice that backward. Where the adapter has f16 cooperative matrices, the two
/// 4096-query rows again under fp16 autocast (`_fp16`), whose products those matrices may take.
pub fn attention_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    let half_matrices = crate::ops::gemm::coop()?.is_some_and(|shape| shape.half);
    for (nq, nk, kind) in [(1024, 1024, "self"), (4096, 4096, "self"), (4096, 77, "cross")] {
        let (b, d) = (8, 40);
        let q = rand_tensor(&[b, nq, d], 6)?;
        let k = rand_tensor(&[b, nk, d], 7)?;
        let v = rand_tensor(&[b, nk, d], 8)?;
        let dout = rand_tensor(&[b, nq, d], 9)?;
        let scale = 1.0 / (d as f32).sqrt();
        let flops = 4.0 * (b * nq * nk * d) as f64;
        let reps = if flops > 1e10 { 2 } else { 3 };
        let shape = format!("[{b},{nq},{d}] x [{b},{nk},{d}] {kind}");
        for fp16 in [false, true] {
            if fp16 && !(half_matrices && nq == 4096) {
                continue;
            }
            let _autocast = fp16.then(|| crate::autograd::autocast(DType::F16));
            let suffix = if fp16 { "_fp16" } else { "" };
            let (fwd, timer) =
                time_gpu(reps, || crate::ops::attention::attention(&q, &k, &v, false, scale).map(|_| ()))?;
            rows.push(row(&format!("attention_fwd{suffix}"), shape.clone(), fwd, timer, Some(flops), None, peaks));
            let (both, _) = time_gpu(reps, || {
                let (qi, ki, vi) =
                    (q.detach().requires_grad_(), k.detach().requires_grad_(), v.detach().requires_grad_());
                crate::ops::attention::attention(&qi, &ki, &vi, false, scale)?.backward_with(&dout)
            })?;
            let name = format!("attention_bwd{suffix}");
            if let Some(secs) = backward_secs(&name, &shape, both, fwd) {
                rows.push(row(&name, shape.clone(), secs, timer, Some(2.0 * flops), None, peaks));
            }
        }
    }
    Ok(rows)
}

/// One AdamW step over 100 M parameters: bytes = 7 x 4 per parameter (p, m, v read and
/// written, g read); and the 8-bit one (`--use-8bit-adam`): 3 x 4 + 2 x 2 bytes per parameter
/// (p read and written, g read, two codes read and written; absmax and the maps are noise).
/// Then the step a trainer takes, gradient clipping included: the global norm (g read) and the
/// clip as torch does it, a pass that scales every gradient in place (g read and written) before
/// the update — 40 bytes per parameter; and folded into the update as `engine train` runs it — 32.
/// The gradients are random (normal, scale 1e-3), so that the 8-bit moments spread over their
/// codes as a real run's do (the f32 update's time does not depend on the values).
pub fn adamw_suite(peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    use crate::optim::{clip_grad_norm, AdamW, GradClip};
    let n = 100_000_000;
    let values: Vec<f32> = crate::rng::Rng::new(17).normal(n).iter().map(|x| x * 1e-3).collect();
    let p = Tensor::from_slice(&values, &[n])?.requires_grad_();
    drop(values);
    // loss = sum(p²) / 2: the gradient is p.
    p.square()?.sum_all()?.scale(0.5)?.backward()?;
    let params = std::slice::from_ref(&p);
    let mut rows = Vec::new();
    for (name, eight_bit, bytes) in [("adamw", false, 28.0), ("adamw8bit", true, 16.0)] {
        let mut opt = AdamW::new(1e-4);
        opt.eight_bit = eight_bit;
        let (secs, timer) = time_gpu(3, || opt.step(params))?;
        rows.push(row(name, format!("{n} params"), secs, timer, None, Some(bytes * n as f64), peaks));
    }
    let mut opt = AdamW::new(1e-4);
    // max_norm above the gradient's norm (about 10): the clip scales by exactly 1 and the gradient
    // stays the same over the repetitions.
    let (secs, timer) = time_gpu(3, || {
        clip_grad_norm(params, 1e5)?;
        opt.step(params)
    })?;
    rows.push(row("adamw_clip_pass", format!("{n} params"), secs, timer, None, Some(40.0 * n as f64), peaks));
    let (secs, timer) = time_gpu(3, || opt.step_clipped(params, Some(&GradClip::of_params(params, 1e5, 1.0)?)))?;
    rows.push(row("adamw_clip_folded", format!("{n} params"), secs, timer, None, Some(32.0 * n as f64), peaks));
    Ok(rows)
}

/// End to end: one DreamBooth training step of the U-Net (forward, backward, gradient clipping,
/// AdamW; 1 instance + 1 class sample) and one sampling step (a guided U-Net call on a batch of
/// 2 and a DDIM step), for the built-in tiny model at 8x8 latents and a mid-size one: SD 1.5's
/// topology at half width (160/320/640/640, 219.8 M parameters) at 32x32 latents (256 px).
pub fn e2e_suite(_peaks: (f64, f64)) -> Result<Vec<BenchRow>> {
    use crate::models::config::UNetConfig;
    use crate::nn::{Loader, Source};
    let mut rows = Vec::new();
    let tiny: UNetConfig = crate::models::single_file::builtin_config("tiny", "unet")?;
    let mut mid: UNetConfig = crate::models::single_file::builtin_config("sd15", "unet")?;
    mid.block_out_channels = vec![160, 320, 640, 640];
    let schedule = crate::diffusion::Schedule::new(crate::models::single_file::builtin_config("sd15", "scheduler")?)?;
    for (name, cfg, lat) in [("tiny", tiny, 8usize), ("mid", mid, 32usize)] {
        let vb = Loader::new(Source::Random { seed: 11 }, true);
        let unet = crate::models::UNet2DConditionModel::new(&vb, &cfg)?;
        let params: Vec<Tensor> = vb.parameters().into_iter().map(|(_, t)| t).collect();
        let np: usize = params.iter().map(|p| p.numel()).sum();
        let cross = cfg.cross_attention_dim();
        let x = rand_tensor(&[2, cfg.in_channels, lat, lat], 12)?;
        let noise = rand_tensor(&[2, cfg.in_channels, lat, lat], 13)?;
        let ctx = rand_tensor(&[2, 77, cross], 14)?;
        let t = Tensor::from_slice(&[100.0, 700.0], &[2])?;
        let mut opt = crate::optim::AdamW::new(1e-6);
        let reps = if name == "mid" { 2 } else { 5 };
        let shape = format!("U-Net {:.1} M params, batch 2 x {}x{}x{lat}", np as f64 / 1e6, cfg.in_channels, lat);
        let (secs, timer) = time_gpu(reps, || {
            let pred = unet.forward(&x, &t, &ctx)?;
            let li = crate::ops::loss::mse_loss(&pred.narrow0(0, 1)?, &noise.narrow0(0, 1)?)?;
            let lp = crate::ops::loss::mse_loss(&pred.narrow0(1, 1)?, &noise.narrow0(1, 1)?)?;
            li.add(&lp)?.backward()?;
            // Clipped as `engine train` clips: inside the update.
            opt.step_clipped(&params, Some(&crate::optim::GradClip::of_params(&params, 1.0, 1.0)?))?;
            params.iter().for_each(|p| p.zero_grad());
            Ok(())
        })?;
        rows.push(BenchRow {
            kernel: format!("train_step_{name}"),
            shape: shape.clone(),
            seconds: secs,
            gflops: None,
            gbps: None,
            peak_fraction: None,
            timer,
            peak_gib: None,
        });
        let sampler = crate::diffusion::Sampler::new(&schedule, crate::diffusion::SamplerKind::Ddim, 50, 0.0)?;
        let x1 = x.narrow0(0, 1)?.detach();
        let (c1, u1) = (ctx.narrow0(0, 1)?.detach(), ctx.narrow0(1, 1)?.detach());
        let mut rng = crate::rng::Rng::new(0);
        let (secs, timer) = time_gpu(reps, || {
            let _g = crate::no_grad();
            let eps = crate::diffusion::pipeline::guided_eps(&unet, &x1, sampler.timesteps[10], &c1, Some(&u1), 7.5)?;
            sampler.step(&eps, 10, &x1, &mut rng).map(|_| ())
        })?;
        rows.push(BenchRow {
            kernel: format!("sample_step_{name}"),
            shape: shape.replace("batch 2", "guided, batch 2"),
            seconds: secs,
            gflops: None,
            gbps: None,
            peak_fraction: None,
            timer,
            peak_gib: None,
        });
    }
    Ok(rows)
}

/// "860" for 859.5 M, "0.80" for 797 k (LoRA adapters).
fn millions(n: usize) -> String {
    let m = n as f64 / 1e6;
    if m >= 10.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.2}")
    }
}

/// One memory setting of `engine bench memory`: `engine train`'s flags of the same names.
pub struct MemorySetting {
    pub name: &'static str,
    pub gradient_checkpointing: bool,
    pub train_text_encoder: bool,
    pub use_8bit_adam: bool,
    pub fused_backward_pass: bool,
    /// `--lora-rank` (0: the whole U-Net is trained), with the default modules.
    pub lora_rank: usize,
    /// `--mixed-precision`: the storage of frozen Linear/Conv2d weights (LoRA's base U-Net), and
    /// the dtype the step's Linear and Conv2d layers compute in (`autograd::autocast`).
    pub frozen_dtype: DType,
}

const fn setting(name: &'static str, ckpt: bool, te: bool, adam8: bool, fused: bool) -> MemorySetting {
    MemorySetting {
        name,
        gradient_checkpointing: ckpt,
        train_text_encoder: te,
        use_8bit_adam: adam8,
        fused_backward_pass: fused,
        lora_rank: 0,
        frozen_dtype: DType::F32,
    }
}

const fn lora(name: &'static str, ckpt: bool, frozen_dtype: DType) -> MemorySetting {
    MemorySetting { lora_rank: 4, frozen_dtype, ..setting(name, ckpt, false, false, false) }
}

const fn bf16(name: &'static str, ckpt: bool, te: bool, adam8: bool, fused: bool) -> MemorySetting {
    MemorySetting { frozen_dtype: DType::BF16, ..setting(name, ckpt, te, adam8, fused) }
}

/// The memory settings `engine bench memory` measures (`--settings` indexes this list).
pub const MEMORY_SETTINGS: [MemorySetting; 17] = [
    setting("f32", false, false, false, false),
    setting("f32 + gradient checkpointing", true, false, false, false),
    setting("f32 + text encoder", false, true, false, false),
    setting("f32 + checkpointing + text encoder", true, true, false, false),
    setting("f32 + checkpointing + 8-bit AdamW", true, false, true, false),
    setting("f32 + checkpointing + 8-bit AdamW + fused backward", true, false, true, true),
    setting("f32 + checkpointing + 8-bit AdamW + fused backward + text encoder", true, true, true, true),
    lora("LoRA rank 4, f32 base", false, DType::F32),
    lora("LoRA rank 4, f32 base + checkpointing", true, DType::F32),
    lora("LoRA rank 4, bf16 base", false, DType::BF16),
    lora("LoRA rank 4, bf16 base + checkpointing", true, DType::BF16),
    bf16("bf16", false, false, false, false),
    bf16("bf16 + checkpointing", true, false, false, false),
    bf16("bf16 + checkpointing + 8-bit AdamW", true, false, true, false),
    bf16("bf16 + checkpointing + 8-bit AdamW + fused backward", true, false, true, true),
    bf16("bf16 + checkpointing + 8-bit AdamW + fused backward + text encoder", true, true, true, true),
    // fp16 (setting 16): the products the f16 cooperative-matrix GEMM takes, on GPUs that have
    // one. One step, no loss scale: random weights may overflow in f16, which changes values,
    // not the bytes or the work.
    MemorySetting {
        frozen_dtype: DType::F16,
        ..setting("fp16 + checkpointing + 8-bit AdamW", true, false, true, false)
    },
];

/// One DreamBooth training step of SD 1.5's real configuration (weights.toml's sd15, random
/// weights, nothing downloaded) at `resolution` with prior preservation (1 instance + 1 class
/// latent), for each of `settings` (indices into [`MEMORY_SETTINGS`]): the buffer pool's peak
/// over the step, which is what a GPU must hold (the pool's bytes do not depend on the adapter),
/// and the step's time; and the same for forward and backward alone (where gradient
/// checkpointing acts). Three steps are run and the third is reported: AdamW allocates its
/// moments in the first, and they stay resident in every later step; from the third on, the
/// pool hands every step the buffers of the one before, so that its bind groups serve again.
/// What `engine train` holds is all there: the U-Net with gradients and AdamW moments, and a
/// trained text encoder; the frozen VAE and a frozen text encoder have left the GPU after
/// caching, as they do in training. A third row per setting, "memory host busy", is the step's time less the host's time in
/// submissions and waits for the GPU: near the step's time, the step was bound by the host's
/// autograd and recording, not the GPU; its shape says how many dispatches the step recorded,
/// and how many reused a bind group of the step before. "memory first step" is the first
/// step's time and peak: its pipelines compile or load from the disk cache, and under
/// `ENGINE_TUNE=1` it times the candidates of each class it meets while its own tensors are
/// live (what tuning adds to a run's peak).
pub fn memory_suite(resolution: usize, settings: &[usize]) -> Result<Vec<BenchRow>> {
    use crate::models::config::{ClipConfig, UNetConfig, VaeConfig};
    use crate::models::single_file::builtin_config;
    use crate::models::{AutoencoderKL, ClipTextModel, UNet2DConditionModel};
    use crate::nn::{Loader, Source};
    let ctx = context()?;
    let (ucfg, ccfg, vcfg): (UNetConfig, ClipConfig, VaeConfig) =
        (builtin_config("sd15", "unet")?, builtin_config("sd15", "text_encoder")?, builtin_config("sd15", "vae")?);
    if resolution == 0 || !resolution.is_multiple_of(64) {
        return Err(crate::error::Error::invalid(
            "bench memory",
            format!("--resolution {resolution} must be a positive multiple of 64"),
        ));
    }
    let lat = resolution / 8;
    let mut rows = Vec::new();
    for &i in settings {
        let setting = MEMORY_SETTINGS
            .get(i)
            .ok_or_else(|| crate::error::Error::invalid("bench memory", format!("no setting {i}")))?;
        let (name, checkpointing, train_te) =
            (setting.name, setting.gradient_checkpointing, setting.train_text_encoder);
        ctx.sync()?;
        ctx.trim();
        ctx.pool.reset_peak();
        let lora = setting.lora_rank;
        let uvb = Loader::new(Source::Random { seed: 1 }, lora == 0).with_frozen_dtype(setting.frozen_dtype);
        let uvb = if lora > 0 {
            let spec = crate::nn::LoraSpec::new(lora, lora as f32, 0.0, &crate::nn::LoraSpec::UNET_ATTENTION, 1);
            uvb.with_lora(std::sync::Arc::new(spec))
        } else {
            uvb
        };
        let mut unet = UNet2DConditionModel::new(&uvb, &ucfg)?;
        unet.gradient_checkpointing = checkpointing;
        let cvb = Loader::new(Source::Random { seed: 2 }, train_te).with_frozen_dtype(setting.frozen_dtype);
        let clip = ClipTextModel::new(&cvb, &ccfg)?;
        // The VAE encodes the images before training and then leaves the GPU, as in `engine
        // train` (it comes back only for validation samples).
        drop(AutoencoderKL::new(&Loader::new(Source::Random { seed: 3 }, false), &vcfg)?);
        // Trained: the U-Net's parameters, or its LoRA adapters (the base frozen, no gradients).
        let trained_u = if lora > 0 { uvb.adapters() } else { uvb.parameters() };
        let mut params: Vec<Tensor> = trained_u.into_iter().map(|(_, t)| t).collect();
        if train_te {
            params.extend(cvb.parameters().into_iter().map(|(_, t)| t));
        }
        let trained: usize = params.iter().map(|p| p.numel()).sum();
        let x = rand_tensor(&[2, ucfg.in_channels, lat, lat], 12)?;
        let noise = rand_tensor(&[2, ucfg.in_channels, lat, lat], 13)?;
        let t = Tensor::from_slice(&[100.0, 700.0], &[2])?;
        // Token ids of an instance and a class prompt (any ids in the vocabulary will do).
        let ids: Vec<Vec<u32>> =
            (0..2u32).map(|j| (0..77u32).map(|k| (k * 131 + j * 7919) % 49408).collect()).collect();
        let frozen_states = if train_te { None } else { Some(crate::with_no_grad(|| clip.forward(&ids))?) };
        // A frozen text encoder leaves the GPU once the prompts' states are cached.
        let clip = train_te.then_some(clip);
        let mut opt = crate::optim::AdamW::new(1e-6);
        opt.eight_bit = setting.use_8bit_adam;
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        // Three steps, the third measured: AdamW's moments are resident from the second on, and
        // from the third each step gets the buffers (and so the bind groups) of the one before,
        // as every later step of a run does.
        let (mut fb_secs, mut fb_peak, mut secs, mut peak, mut host) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut dispatches, mut reused) = (0, 0);
        // The first step's time and peak: its pipelines compile (or load from the cache), and
        // under ENGINE_TUNE=1 it times each class's candidates while the step's tensors live.
        let mut first = (0.0, 0.0);
        for step in 0..3 {
            ctx.sync()?;
            ctx.pool.reset_peak();
            let (t0, in_gpu_calls, d0, (r0, _)) = (
                std::time::Instant::now(),
                ctx.time_in_gpu_calls(),
                ctx.dispatches_recorded(),
                ctx.bind_group_counts(),
            );
            // --mixed-precision: the step's Linear and Conv2d layers in half, as `engine train`.
            let _autocast = crate::autograd::autocast(setting.frozen_dtype);
            let ehs = match &frozen_states {
                Some(s) => s.clone(),
                None => clip.as_ref().expect("trained text encoder").forward(&ids)?,
            };
            let pred = unet.forward(&x, &t, &ehs)?;
            let li = crate::ops::loss::mse_loss(&pred.narrow0(0, 1)?, &noise.narrow0(0, 1)?)?;
            let lp = crate::ops::loss::mse_loss(&pred.narrow0(1, 1)?, &noise.narrow0(1, 1)?)?;
            let loss = li.add(&lp)?;
            if setting.fused_backward_pass {
                // The updates happen inside backward: the forward+backward row is the step.
                crate::optim::fused_backward(&loss, &params, &mut opt, 1.0)?;
            } else {
                loss.backward()?;
            }
            drop((pred, li, lp, ehs, loss));
            ctx.sync()?;
            // Forward and backward (activations, gradients), where gradient checkpointing acts.
            (fb_secs, fb_peak) = (t0.elapsed().as_secs_f64(), gib(ctx.pool.stats().peak_bytes));
            if !setting.fused_backward_pass {
                opt.step_clipped(&params, Some(&crate::optim::GradClip::of_params(&params, 1.0, 1.0)?))?;
                params.iter().for_each(|p| p.zero_grad());
            }
            ctx.sync()?;
            (secs, peak) = (t0.elapsed().as_secs_f64(), gib(ctx.pool.stats().peak_bytes));
            if step == 0 {
                first = (secs, peak);
            }
            // The step's wall time less the host's time in submissions and waits for the GPU
            // (the two syncs; the profiler's reads under ENGINE_PROFILE=1): the host's own work,
            // autograd and recording. Where it nears the step's time on a GPU, the GPU waited
            // for the host.
            host = secs - (ctx.time_in_gpu_calls() - in_gpu_calls).as_secs_f64();
            dispatches = ctx.dispatches_recorded() - d0;
            reused = ctx.bind_group_counts().0 - r0;
        }
        let shape = format!("SD 1.5, {resolution} px, 1+1 images, {} M trained", millions(trained));
        // The host row says how many dispatches its time was spent recording, and how many of
        // them found their bind group made by the step before.
        let host_shape = format!("{shape}, {dispatches} dispatches, {reused} bind groups reused");
        for (what, seconds, peak, shape) in [
            ("memory fwd+bwd", fb_secs, fb_peak, &shape),
            ("memory", secs, peak, &shape),
            ("memory host busy", host, peak, &host_shape),
            ("memory first step", first.0, first.1, &shape),
        ] {
            rows.push(BenchRow {
                kernel: format!("{what}: {name}"),
                shape: shape.clone(),
                seconds,
                gflops: None,
                gbps: None,
                peak_fraction: None,
                timer: "wall",
                peak_gib: Some(peak),
            });
        }
    }
    Ok(rows)
}
