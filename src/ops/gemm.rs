//! Matrix multiplication: batched GEMM with transposed operands and an optional bias, and
//! the linear layer built on it. Backward is two more GEMMs with the transposes flipped
//! (and a column sum for the bias).

use super::elementwise::dummy_binding;
use super::launch::{chunks, too_large, u, whole, win};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::{Access, BindView, Kernel, Shader, Spec, SpecValue};
use crate::tensor::Tensor;
use crate::tune;
use std::sync::OnceLock;

use SpecValue::{Bool as B, U32 as U};

pub static SHADER: Shader = Shader {
    name: "gemm",
    source: include_str!("../../shaders/gemm.wgsl"),
    variants: &[
        &[("TRANS_A", B(false)), ("TRANS_B", B(false)), ("HAS_BIAS", B(false)), ("WG_X", U(16)), ("WG_Y", U(16))],
        &[("TRANS_A", B(false)), ("TRANS_B", B(true)), ("HAS_BIAS", B(true)), ("WG_X", U(16)), ("WG_Y", U(16))],
        &[("TRANS_A", B(true)), ("TRANS_B", B(false)), ("HAS_BIAS", B(false)), ("WG_X", U(8)), ("WG_Y", U(32))],
        &[("TRANS_A", B(true)), ("TRANS_B", B(true)), ("HAS_BIAS", B(true)), ("WG_X", U(32)), ("WG_Y", U(8))],
    ],
};
static GEMM: Kernel = Kernel { shader: &SHADER, entry: "gemm", bindings: BINDINGS };
static GEMM8: Kernel = Kernel { shader: &SHADER, entry: "gemm8x8", bindings: BINDINGS };
static GEMM85: Kernel = Kernel { shader: &SHADER, entry: "gemm8x5", bindings: BINDINGS };
pub static SUBGROUP_SHADER: Shader = Shader {
    name: "gemm_subgroup",
    source: include_str!("../../shaders/gemm_subgroup.wgsl"),
    variants: &[&[
        ("TRANS_A", B(false)),
        ("TRANS_B", B(true)),
        ("HAS_BIAS", B(true)),
        ("WG_X", U(16)),
        ("WG_Y", U(16)),
    ]],
};
static GEMM8_SG: Kernel = Kernel { shader: &SUBGROUP_SHADER, entry: "gemm8x8_subgroup", bindings: BINDINGS };
static GEMM168_SG: Kernel = Kernel { shader: &SUBGROUP_SHADER, entry: "gemm16x8_subgroup", bindings: BINDINGS };
static GEMM328_SG: Kernel = Kernel { shader: &SUBGROUP_SHADER, entry: "gemm32x8_subgroup", bindings: BINDINGS };
static GEMM648_SG: Kernel = Kernel { shader: &SUBGROUP_SHADER, entry: "gemm64x8_subgroup", bindings: BINDINGS };
static GEMM165_SG: Kernel = Kernel { shader: &SUBGROUP_SHADER, entry: "gemm16x5_subgroup", bindings: BINDINGS };
static GEMM325_SG: Kernel = Kernel { shader: &SUBGROUP_SHADER, entry: "gemm32x5_subgroup", bindings: BINDINGS };
static GEMM85_SG: Kernel = Kernel { shader: &SUBGROUP_SHADER, entry: "gemm8x5_subgroup", bindings: BINDINGS };
const BINDINGS: &[Access] = &[Access::Read, Access::Read, Access::Read, Access::ReadWrite];

/// A kernel and its launch shape for one output size.
#[derive(Clone, Copy)]
struct Pick {
    /// The variant's name in the tuning cache.
    name: &'static str,
    kernel: &'static Kernel,
    wg: (u32, u32),
    /// Rows and columns of C per workgroup.
    tile: (u32, u32),
}

/// WG_X for the subgroup kernels on this adapter, if they can run here. They take the rows of
/// A from lanes 0-7 of the subgroup by broadcast (one load where the plain kernels make
/// eight; on lavapipe 1024³ goes from 16.7 to 28 GFLOP/s), so every lane of a subgroup must
/// share its rows: subgroups of 8 to 64 lanes that divide WG_X. Checked once against the plain
/// kernels, in case a driver forms subgroups other than from consecutive invocations.
fn subgroup_width() -> Result<Option<u32>> {
    static WIDTH: OnceLock<Option<u32>> = OnceLock::new();
    if let Some(w) = WIDTH.get() {
        return Ok(*w);
    }
    let ctx = Tensor::ctx()?;
    let (lo, hi) = (ctx.info.subgroup_min_size, ctx.info.subgroup_max_size);
    let usable = ctx.has(wgpu::Features::SUBGROUP) && lo >= 8 && hi <= 64 && hi.is_power_of_two();
    let w = if usable && std::env::var("ENGINE_NO_SUBGROUPS").is_err() {
        let wx = hi.max(16);
        subgroup_self_test(wx)?.then_some(wx)
    } else {
        None
    };
    Ok(*WIDTH.get_or_init(|| w))
}

/// The workgroup width of the subgroup GEMM kernels if this adapter runs them (for `engine info`).
pub fn subgroup_kernels() -> Result<Option<u32>> {
    subgroup_width()
}

/// Runs each subgroup kernel beside its plain twin on one small product; true if all agree.
fn subgroup_self_test(wx: u32) -> Result<bool> {
    let wy = 256 / wx;
    let cases = [
        (Pick { name: "", kernel: &GEMM8_SG, wg: (wx, wy), tile: (8 * wy, 8 * wx) }, &GEMM8, 8),
        (Pick { name: "", kernel: &GEMM168_SG, wg: (wx, wy), tile: (16 * wy, 8 * wx) }, &GEMM8, 8),
        (Pick { name: "", kernel: &GEMM328_SG, wg: (wx, wy), tile: (32 * wy, 8 * wx) }, &GEMM8, 8),
        (Pick { name: "", kernel: &GEMM85_SG, wg: (wx, wy), tile: (8 * wy, 5 * wx) }, &GEMM85, 5),
    ];
    for (sg, plain, cols) in cases {
        // Small enough for any binding limit (the chunking tests shrink it to 8 KiB); rows of
        // different invocations still differ, so lanes broadcasting the wrong rows show.
        let (m, n, k) = (wy as usize + 3, if cols == 5 { 5 * wx as usize } else { 40 }, 5);
        let a = Tensor::from_slice(
            &(0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect::<Vec<_>>(),
            &[1, m, k],
        )?;
        let b = Tensor::from_slice(
            &(0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect::<Vec<_>>(),
            &[1, k, n],
        )?;
        let plain = Pick { name: "", kernel: plain, wg: (wx, wy), tile: (8 * wy, cols as u32 * wx) };
        let mut out = Vec::new();
        for pick in [sg, plain] {
            let c = Tensor::zeros(&[1, m, n])?;
            launch(
                pick,
                Mat::dense(&a, m, k),
                Mat::dense(&b, k, n),
                Mat::dense(&c, m, n),
                1,
                (false, false),
                1.0,
                0.0,
            )?;
            out.push(c.to_vec()?);
        }
        if out[0].iter().zip(&out[1]).any(|(x, y)| (x - y).abs() > 1e-5 * (1.0 + y.abs())) {
            eprintln!("note: this adapter's subgroups do not match the GEMM kernels' layout; using the plain kernels");
            return Ok(false);
        }
    }
    Ok(true)
}

/// The launch variants for an M x N output, and which of them is the default. Each
/// invocation holds a register block (4x4, 8x5, 8x8, or 8-64 rows x 8 with subgroup
/// broadcasts); a workgroup's tile is the block times its shape. Offered:
/// - the 4x4 kernel in 64x64 tiles;
/// - 8x8 blocks, 128 columns wide, as tall as M needs (up to 128 rows);
/// - for N up to 160, 8x5 blocks with WG_X = N/5 rounded up to a power of two, so the 20, 40,
///   80 and 160 columns of attention heads and the 77 keys of cross-attention waste little;
/// - with subgroups (CPU adapters by default, any adapter when tuned), the broadcast twins:
///   8x5 where WG_X allows, and 8, 16, 32 or 64 rows x 8 for N of 128 or more.
///
/// The default minimises a cost model: the padded tile area (rows and columns computed and
/// thrown away count) times 1 + 13.5 loads per FMA, 13.5 being what one storage load cost in
/// FMAs on lavapipe. Off a CPU adapter only the plain kernels are default candidates, and the
/// tuner (`engine bench --tune`) decides the rest.
fn candidates(m: u32, n: u32, batch: u32) -> Result<(Vec<Pick>, usize)> {
    let ctx = Tensor::ctx()?;
    let sg = subgroup_width()?;
    let cpu = ctx.info.device_type == wgpu::DeviceType::Cpu;
    let rows_for = |wx: u32| balanced_rows(m, 8, 256 / wx);
    // WG_Y for a subgroup block of `rows` rows; none for the taller blocks if M is shorter
    // than one block.
    let sg_rows = |rows: u32, wx: u32| (rows == 8 || rows <= m).then(|| balanced_rows(m, rows, 256 / wx));
    // (pick, loads per FMA of its block)
    let mut v: Vec<(Pick, f64)> = Vec::new();
    v.push((Pick { name: "4x4", kernel: &GEMM, wg: (16, 16), tile: (64, 64) }, 8.0 / 16.0));
    let wy = rows_for(16);
    v.push((Pick { name: "8x8", kernel: &GEMM8, wg: (16, wy), tile: (8 * wy, 128) }, 16.0 / 64.0));
    if n <= 160 {
        let wx = n.div_ceil(5).next_power_of_two();
        let wy = rows_for(wx);
        v.push((Pick { name: "8x5", kernel: &GEMM85, wg: (wx, wy), tile: (8 * wy, 5 * wx) }, 13.0 / 40.0));
        // Every subgroup size divides the largest, so WG_X a multiple of it keeps rows shared.
        if sg.is_some() && wx.is_multiple_of(ctx.info.subgroup_max_size) {
            for (name, kernel, rows) in [
                ("8x5 subgroup", &GEMM85_SG, 8),
                ("16x5 subgroup", &GEMM165_SG, 16),
                ("32x5 subgroup", &GEMM325_SG, 32),
            ] {
                if let Some(wy) = sg_rows(rows, wx) {
                    let loads = (rows / 8 + 5) as f64 / (rows * 5) as f64;
                    v.push((Pick { name, kernel, wg: (wx, wy), tile: (rows * wy, 5 * wx) }, loads));
                }
            }
        }
    }
    if let (Some(wx), true) = (sg, n >= 128) {
        for (name, kernel, rows) in [
            ("8x8 subgroup", &GEMM8_SG, 8),
            ("16x8 subgroup", &GEMM168_SG, 16),
            ("32x8 subgroup", &GEMM328_SG, 32),
            ("64x8 subgroup", &GEMM648_SG, 64),
        ] {
            if let Some(wy) = sg_rows(rows, wx) {
                let loads = (rows / 8 + 8) as f64 / (rows * 8) as f64;
                v.push((Pick { name, kernel, wg: (wx, wy), tile: (rows * wy, 8 * wx) }, loads));
            }
        }
    }
    let cost = |(p, loads): &(Pick, f64)| {
        let (tm, tn) = (m.div_ceil(p.tile.0), n.div_ceil(p.tile.1));
        let padded = (tm * p.tile.0) as f64 * (tn * p.tile.1) as f64;
        padded * (1.0 + 13.5 * loads) * idle_factor(tm * tn * batch)
    };
    let default = (0..v.len())
        .filter(|&i| cpu || !v[i].0.name.contains("subgroup"))
        // The 64-row kernel is for the tuner: its tall tiles lose on all but the largest products.
        .filter(|&i| v[i].0.name != "64x8 subgroup")
        .min_by(|&a, &b| cost(&v[a]).total_cmp(&cost(&v[b])))
        .unwrap_or(0);
    Ok((v.into_iter().map(|(p, _)| p).collect(), default))
}

/// How much longer a dispatch of `workgroups` takes than its work alone would on a CPU adapter
/// whose threads outnumber them: lavapipe runs each workgroup on one thread, so one workgroup
/// for a whole 1024 x 40 product left the other core idle (the 32x5 block ran at half the 8x5's
/// rate there). 1 once there are at least as many workgroups as host threads.
pub(crate) fn idle_factor(workgroups: u32) -> f64 {
    static THREADS: OnceLock<u32> = OnceLock::new();
    let threads = *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    (threads as f64 / workgroups.max(1) as f64).max(1.0)
}

/// WG_Y (at most `max`) for blocks of `rows` rows over M rows: the fewest tiles of
/// `rows` x WG_Y that cover M, each as short as that many tiles allow, so that little is
/// computed and thrown away (640 rows in 32-row blocks: two tiles of 320, WG_Y = 10, where a
/// power of two would take two of 512). Not a power of two in general, which WGSL allows.
pub(crate) fn balanced_rows(m: u32, rows: u32, max: u32) -> u32 {
    let max = max.max(1);
    let tiles = m.max(1).div_ceil(rows * max);
    m.max(1).div_ceil(rows * tiles).clamp(1, max)
}

/// The variant for this product: the tuned choice for its shape class, or the default.
fn pick(m: usize, n: usize, k: usize, batch: usize, trans: (bool, bool)) -> Result<Pick> {
    let (cands, default) = candidates(u(m), u(n), u(batch))?;
    // For tests and comparisons: force a variant by name where it applies.
    if let Ok(force) = std::env::var("ENGINE_GEMM_VARIANT") {
        if let Some(c) = cands.iter().find(|c| c.name == force) {
            return Ok(*c);
        }
    }
    if cands.len() == 1 {
        return Ok(cands[0]);
    }
    let narrow = n <= 160;
    let class = format!(
        "gemm ta{} tb{} m{} n{} k{} b{}",
        trans.0 as u8,
        trans.1 as u8,
        tune::bucket(m),
        if narrow { n } else { tune::bucket(n) },
        tune::bucket(k),
        tune::bucket(batch)
    );
    let name = tune::choose(&class, &cands.iter().map(|c| c.name).collect::<Vec<_>>(), default, |i| {
        let (rows_a, cols_a) = if trans.0 { (k, m) } else { (m, k) };
        let (rows_b, cols_b) = if trans.1 { (n, k) } else { (k, n) };
        // The real batch count: it decides how many workgroups run at once.
        let a = Tensor::zeros(&[batch * rows_a * cols_a])?;
        let b = Tensor::zeros(&[batch * rows_b * cols_b])?;
        let c = Tensor::zeros(&[batch * m * n])?;
        let (am, bm, cm) = (Mat::dense(&a, rows_a, cols_a), Mat::dense(&b, rows_b, cols_b), Mat::dense(&c, m, n));
        let run = || launch(cands[i], am, bm, cm, batch, trans, 1.0, 0.0);
        Ok(crate::bench::time_gpu(3, run)?.0)
    })?;
    Ok(cands.into_iter().find(|c| c.name == name).unwrap_or_else(|| unreachable!("tune::choose returns a candidate")))
}

/// The uniform block of `gemm.wgsl`, field for field.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    beta: f32,
    a_batch: u32,
    b_batch: u32,
    c_batch: u32,
    _pad: u32,
    a_shift: u32,
    b_shift: u32,
    c_shift: u32,
    bias_shift: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    alpha: f32,
}

/// [batch, M, N] = alpha * op(a) · op(b) + bias, for 3-D contiguous `a` and `b` with equal
/// batch. No autograd.
pub(crate) fn gemm_raw(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    ta: bool,
    tb: bool,
    alpha: f32,
) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() != 3 || sb.len() != 3 || sa[0] != sb[0] {
        return Err(Error::shape_hint("gemm", sa, sb, "expected [batch, rows, cols] operands with equal batch"));
    }
    let batch = sa[0];
    let (m, k) = if ta { (sa[2], sa[1]) } else { (sa[1], sa[2]) };
    let (kb, n) = if tb { (sb[2], sb[1]) } else { (sb[1], sb[2]) };
    if k != kb {
        return Err(Error::shape_hint(
            "gemm",
            sa,
            sb,
            format!("inner dimensions differ: {k} vs {kb} (transpose a: {ta}, b: {tb})"),
        ));
    }
    if let Some(bias) = bias {
        if bias.shape() != [n] {
            return Err(Error::shape_hint(
                "gemm bias",
                bias.shape(),
                &[n],
                "bias must have one value per output column",
            ));
        }
    }
    let c = Tensor::empty(&[batch, m, n])?;
    if m == 0 || n == 0 {
        return Ok(c);
    }
    if k == 0 {
        // An empty sum: the bias (or zero) everywhere.
        let z = Tensor::zeros(&[batch, m, n])?;
        return match bias {
            Some(bias) => z.detach().add(&bias.detach()),
            None => Ok(z),
        };
    }
    let spec = Spec::new().bool("TRANS_A", ta).bool("TRANS_B", tb).bool("HAS_BIAS", bias.is_some());
    let (bias_view, bias_shift) = match bias {
        Some(bias) => whole(ctx, "gemm bias", bias)?,
        None => (dummy_binding()?, 0),
    };
    let (a_bs, b_bs, c_bs) = (m * k, k * n, m * n);
    let base = Params {
        m: u(m),
        n: u(n),
        k: u(k),
        beta: 0.0,
        a_batch: u(a_bs),
        b_batch: u(b_bs),
        c_batch: u(c_bs),
        _pad: 0,
        a_shift: 0,
        b_shift: 0,
        c_shift: 0,
        bias_shift,
        lda: u(sa[2]),
        ldb: u(sb[2]),
        ldc: u(n),
        alpha,
    };
    // Dispatches one GEMM over windows of a, b and c, with `batches` batches along z.
    let run = |spec: &Spec, p: Params, a: (BindView, u32), b: (BindView, u32), c: (BindView, u32), batches: usize| {
        let p = Params { a_shift: a.1, b_shift: b.1, c_shift: c.1, ..p };
        let pick = pick(p.m as usize, p.n as usize, p.k as usize, batches, (ta, tb))?;
        dispatch(pick, spec.clone(), p, [a.0, b.0, bias_view, c.0], batches)
    };
    let max = ctx.max_binding_elems();
    let per_batch = max / a_bs.max(b_bs).max(c_bs);
    if per_batch >= 1 {
        for (b0, bn) in chunks(batch, per_batch.min(65535)) {
            let aw = win(ctx, a, b0 * a_bs, bn * a_bs)?;
            let bw = win(ctx, b, b0 * b_bs, bn * b_bs)?;
            let cw = win(ctx, &c, b0 * c_bs, bn * c_bs)?;
            run(&spec, base, aw, bw, cw, bn)?;
        }
        return Ok(c);
    }
    // One matrix is larger than a binding.
    if !ta && b_bs <= max {
        // Split the rows of a and c (contiguous when a is not transposed); b stays whole.
        let rows = (max / k.max(n)).max(1);
        for bi in 0..batch {
            for (m0, mn) in chunks(m, rows) {
                let aw = win(ctx, a, bi * a_bs + m0 * k, mn * k)?;
                let bw = win(ctx, b, bi * b_bs, b_bs)?;
                let cw = win(ctx, &c, bi * c_bs + m0 * n, mn * n)?;
                run(&spec, Params { m: u(mn), ..base }, aw, bw, cw, 1)?;
            }
        }
        return Ok(c);
    }
    if ta && !tb && c_bs <= max && m.max(n) <= max {
        // A long inner dimension (a weight gradient xᵀ·g over many rows): split K, whose rows
        // are contiguous in both operands, and accumulate into c (beta = 1 after the first).
        let ks = max / m.max(n);
        for bi in 0..batch {
            for (i, (k0, kn)) in chunks(k, ks).into_iter().enumerate() {
                let first = i == 0;
                let spec =
                    Spec::new().bool("TRANS_A", true).bool("TRANS_B", false).bool("HAS_BIAS", first && bias.is_some());
                let aw = win(ctx, a, bi * a_bs + k0 * m, kn * m)?;
                let bw = win(ctx, b, bi * b_bs + k0 * n, kn * n)?;
                let cw = win(ctx, &c, bi * c_bs, c_bs)?;
                let beta = if first { 0.0 } else { 1.0 };
                run(&spec, Params { k: u(kn), beta, ..base }, aw, bw, cw, 1)?;
            }
        }
        return Ok(c);
    }
    let largest = if a_bs >= b_bs.max(c_bs) {
        &sa[1..]
    } else if b_bs >= c_bs {
        &sb[1..]
    } else {
        &[m, n][..]
    };
    Err(too_large(ctx, "gemm", largest))
}

/// The differentiable batched GEMM: [batch, M, N] = op(a) · op(b) (+ bias[N]).
fn gemm3(a: &Tensor, b: &Tensor, bias: Option<&Tensor>, ta: bool, tb: bool) -> Result<Tensor> {
    let c = gemm_raw(a, b, bias, ta, tb, 1.0)?;
    let (ga, gb) = (needs_grad(a), needs_grad(b));
    let gbias = bias.is_some_and(needs_grad);
    let (sa, sb) = (a.detach(), b.detach());
    let mut inputs = vec![a, b];
    if let Some(bias) = bias {
        inputs.push(bias);
    }
    let has_bias = bias.is_some();
    Ok(record(c, "gemm", &inputs, move |g| {
        let da = if ga {
            Some(if ta { gemm_raw(&sb, g, None, tb, true, 1.0)? } else { gemm_raw(g, &sb, None, false, !tb, 1.0)? })
        } else {
            None
        };
        let db = if gb {
            Some(if tb { gemm_raw(g, &sa, None, true, ta, 1.0)? } else { gemm_raw(&sa, g, None, !ta, false, 1.0)? })
        } else {
            None
        };
        let mut out = vec![da, db];
        if has_bias {
            let n = g.dim(-1);
            out.push(if gbias { Some(g.reshape(&[g.numel() / n, n])?.sum(0, false)?) } else { None });
        }
        Ok(out)
    }))
}

/// op(a) · op(b) for a [..., M, K] (or [..., K, M] if `ta`) and b of the same rank with the
/// same leading (batch) dims, or a 2-D b shared by every batch. Leading dims are kept.
pub fn matmul_t(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    if a.rank() < 2 || b.rank() < 2 {
        return Err(Error::shape_hint("matmul", a.shape(), b.shape(), "operands need at least 2 dims"));
    }
    let ka = if ta { a.dim(-2) } else { a.dim(-1) };
    let kb = if tb { b.dim(-1) } else { b.dim(-2) };
    if ka != kb {
        return Err(Error::shape_hint(
            "matmul",
            a.shape(),
            b.shape(),
            format!("inner dimensions differ: {ka} vs {kb} (transpose a: {ta}, b: {tb})"),
        ));
    }
    let lead = &a.shape()[..a.rank() - 2];
    let batch: usize = lead.iter().product();
    let (r, c) = (a.dim(-2), a.dim(-1));
    let a3 = a.reshape(&[batch, r, c])?;
    let (m, n);
    let out = if b.rank() == 2 {
        n = if tb { b.dim(0) } else { b.dim(1) };
        if !ta {
            // A shared right operand: fold the batch into the rows, one large GEMM.
            m = r;
            let b3 = b.reshape(&[1, b.dim(0), b.dim(1)])?;
            gemm3(&a3.reshape(&[1, batch * r, c])?, &b3, None, false, tb)?
        } else {
            m = c;
            let b3 = b.reshape(&[1, b.dim(0), b.dim(1)])?.expand(&[batch, b.dim(0), b.dim(1)])?;
            gemm3(&a3, &b3, None, true, tb)?
        }
    } else {
        if b.shape()[..b.rank() - 2] != *lead {
            return Err(Error::shape_hint("matmul", a.shape(), b.shape(), "batch dims differ"));
        }
        m = if ta { c } else { r };
        n = if tb { b.dim(-2) } else { b.dim(-1) };
        let b3 = b.reshape(&[batch, b.dim(-2), b.dim(-1)])?;
        gemm3(&a3, &b3, None, ta, tb)?
    };
    let mut shape = lead.to_vec();
    shape.extend_from_slice(&[m, n]);
    out.reshape(&shape)
}

/// A fully connected layer as torch.nn.Linear: y = x · wᵀ + bias, x [..., K], w [N, K],
/// bias [N] -> y [..., N].
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if w.rank() != 2 || x.rank() == 0 || x.dim(-1) != w.dim(1) {
        return Err(Error::shape_hint("linear", x.shape(), w.shape(), "expected x [..., K] and weight [N, K]"));
    }
    let k = w.dim(1);
    let rows = x.numel() / k.max(1);
    let x3 = x.reshape(&[1, rows, k])?;
    let w3 = w.reshape(&[1, w.dim(0), k])?;
    let y = gemm3(&x3, &w3, bias, false, true)?;
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap() = w.dim(0);
    y.reshape(&shape)
}

impl Tensor {
    /// Matrix product (see [`matmul_t`]).
    pub fn matmul(&self, b: &Tensor) -> Result<Tensor> {
        matmul_t(self, b, false, false)
    }
}

/// One matrix operand of [`gemm_strided`]: `batch` matrices stored in `t`, the first at
/// element `offset`, each `batch_stride` elements after the previous, rows `ld` apart. The
/// stored shape is [rows, cols] (a transposed operand is stored transposed).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub t: &'a Tensor,
    pub offset: usize,
    pub batch_stride: usize,
    pub ld: usize,
    pub rows: usize,
    pub cols: usize,
}

impl<'a> Mat<'a> {
    /// A whole [rows, cols] matrix.
    fn dense(t: &'a Tensor, rows: usize, cols: usize) -> Mat<'a> {
        Mat { t, offset: 0, batch_stride: rows * cols, ld: cols, rows, cols }
    }

    /// Elements from the first to one past the last that the batches touch.
    fn span(&self, batch: usize) -> usize {
        (batch - 1) * self.batch_stride + (self.rows - 1) * self.ld + self.cols
    }
}

/// c = alpha · op(a) · op(b) + beta · c over `batch` strided matrices, for callers that slice
/// their operands in place (attention's query chunks). No autograd and no splitting: each
/// operand's span must fit one storage binding, which the caller arranges.
pub(crate) fn gemm_strided(
    a: Mat,
    b: Mat,
    c: Mat,
    batch: usize,
    trans: (bool, bool),
    alpha: f32,
    beta: f32,
) -> Result<()> {
    let (ta, tb) = trans;
    let (m, k) = if ta { (a.cols, a.rows) } else { (a.rows, a.cols) };
    let n = if tb { b.rows } else { b.cols };
    if batch == 0 || m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    launch(pick(m, n, k, batch, trans)?, a, b, c, batch, trans, alpha, beta)
}

/// [`gemm_strided`] with a given variant.
#[allow(clippy::too_many_arguments)]
fn launch(pick: Pick, a: Mat, b: Mat, c: Mat, batch: usize, trans: (bool, bool), alpha: f32, beta: f32) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let (ta, tb) = trans;
    let (m, k) = if ta { (a.cols, a.rows) } else { (a.rows, a.cols) };
    let n = if tb { b.rows } else { b.cols };
    let aw = win(ctx, a.t, a.offset, a.span(batch))?;
    let bw = win(ctx, b.t, b.offset, b.span(batch))?;
    let cw = win(ctx, c.t, c.offset, c.span(batch))?;
    let p = Params {
        m: u(m),
        n: u(n),
        k: u(k),
        beta,
        a_batch: u(a.batch_stride),
        b_batch: u(b.batch_stride),
        c_batch: u(c.batch_stride),
        _pad: 0,
        a_shift: aw.1,
        b_shift: bw.1,
        c_shift: cw.1,
        bias_shift: 0,
        lda: u(a.ld),
        ldb: u(b.ld),
        ldc: u(c.ld),
        alpha,
    };
    let spec = Spec::new().bool("TRANS_A", ta).bool("TRANS_B", tb).bool("HAS_BIAS", false);
    dispatch(pick, spec, p, [aw.0, bw.0, dummy_binding()?, cw.0], batch)
}

/// One dispatch of `pick` over `batches` matrices; `spec` holds the transposes and bias flag.
fn dispatch(pick: Pick, spec: Spec, p: Params, views: [BindView; 4], batches: usize) -> Result<()> {
    let spec = spec.u32("WG_X", pick.wg.0).u32("WG_Y", pick.wg.1);
    let groups = [p.n.div_ceil(pick.tile.1), p.m.div_ceil(pick.tile.0), u(batches)];
    Tensor::ctx()?.dispatch(pick.kernel, &spec, bytemuck::cast_slice(&[p]), &views, groups)
}
