//! 2-D convolution (torch.nn.functional.conv2d: NCHW, any kernel size, stride, zero padding,
//! optional bias), forward and backward, as implicit GEMMs with 8x8 register blocks in
//! `conv.wgsl`.
//!
//! Activations larger than one storage binding (a 512x512 VAE activation with 128 channels is
//! 128 MiB) are split into images, input-channel and output-channel chunks; chunks along a
//! summed dimension accumulate into the output.

use std::fmt;
use std::sync::OnceLock;

use super::cast::autocast_input;
use super::copy::permuted_f32;
use super::elementwise::dummy_binding;
use super::launch::{chunks, gpu_split_rules, tuned_split, u, whole, win, win_any, with_forced, Dtypes, SplitKey};
use super::{blocked, gemm};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::tune::{bucket, tuner, TuneKey};
use crate::gpu::variant::{self, balanced_rows, Block, Family, Variant};
use crate::gpu::CoopShape;
use crate::gpu::{time_gpu, Access, BindView, Kernel, Shader, Spec, SpecValue, Uniforms};
use crate::tensor::DType;
use crate::tensor::Tensor;

use SpecValue::{Bool as B, U32 as U};

pub static SHADER: Shader = Shader {
    name: "conv",
    file: "conv",
    source: include_str!("../../shaders/conv.wgsl"),
    generated: Some(|| entries(false)),
    full: OnceLock::new(),
    variants: &[
        &[
            ("MODE", U(0)),
            ("HAS_BIAS", B(true)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("A_DTYPE", U(2)),
            ("B_DTYPE", U(0)),
        ],
        &[
            ("MODE", U(0)),
            ("HAS_BIAS", B(false)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("A_DTYPE", U(0)),
            ("B_DTYPE", U(2)),
        ],
        &[
            ("MODE", U(1)),
            ("HAS_BIAS", B(false)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("A_DTYPE", U(0)),
            ("B_DTYPE", U(0)),
        ],
        &[("MODE", U(0)), ("HAS_BIAS", B(true)), ("WG_X", U(64)), ("WG_Y", U(1)), ("A_DTYPE", U(0)), ("B_DTYPE", U(0))],
        &[
            ("MODE", U(1)),
            ("HAS_BIAS", B(false)),
            ("WG_X", U(32)),
            ("WG_Y", U(4)),
            ("A_DTYPE", U(0)),
            ("B_DTYPE", U(0)),
        ],
    ],
    uniforms: &[&Params::LAYOUT],
};
/// The subgroup entries: a module of their own, which only adapters with subgroups compile.
pub static SUBGROUP_SHADER: Shader = Shader {
    name: "conv_subgroup",
    file: "conv",
    source: include_str!("../../shaders/conv.wgsl"),
    generated: Some(|| entries(true)),
    full: OnceLock::new(),
    variants: &[
        &[
            ("MODE", U(0)),
            ("HAS_BIAS", B(true)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("A_DTYPE", U(0)),
            ("B_DTYPE", U(1)),
        ],
        &[
            ("MODE", U(1)),
            ("HAS_BIAS", B(false)),
            ("WG_X", U(32)),
            ("WG_Y", U(8)),
            ("A_DTYPE", U(0)),
            ("B_DTYPE", U(0)),
        ],
    ],
    uniforms: &[&Params::LAYOUT],
};
const BINDINGS: &[Access] = &[Access::Read, Access::Read, Access::Read, Access::ReadWrite];

/// The forward / backward-input entry with its products on the adapter's matrix units
/// (`blocked::conv_coop_entry`), one module per matrix shape of `CoopShape::PREFERENCE` as
/// GEMM's (`gemm::coop_aliases` declares the shape's types), written for the adapter's
/// largest subgroup size (`ops::coop_module!`). Only adapters opened with cooperative
/// matrices compile them; the offline test translates them in these specialisations.
const COOP_SPECS: &[&[(&str, SpecValue)]] = &[
    &[("MODE", U(0)), ("HAS_BIAS", B(true)), ("WG_X", U(16)), ("WG_Y", U(16)), ("A_DTYPE", U(0)), ("B_DTYPE", U(1))],
    &[("MODE", U(1)), ("HAS_BIAS", B(false)), ("WG_X", U(16)), ("WG_Y", U(16)), ("A_DTYPE", U(1)), ("B_DTYPE", U(0))],
];
coop_module!(COOP16_F16_SHADER, "conv_coop16_f16", "conv", || coop_entries(gemm::COOP16_F16), COOP_SPECS);
coop_module!(COOP8_F32_SHADER, "conv_coop8_f32", "conv", || coop_entries(gemm::COOP8_F32), COOP_SPECS);
coop_module!(COOP8_F16_SHADER, "conv_coop8_f16", "conv", || coop_entries(gemm::COOP8_F16), COOP_SPECS);

/// Each matrix shape's entries (forward / backward-input and weight gradient), plain and
/// software-pipelined, in `CoopShape::PREFERENCE`'s order (as GEMM's).
static COOP_KERNELS: [(CoopShape, ConvKernels, ConvKernels); 3] = [
    (gemm::COOP16_F16, coop_row(&COOP16_F16_SHADER, false), coop_row(&COOP16_F16_SHADER, true)),
    (gemm::COOP8_F32, coop_row(&COOP8_F32_SHADER, false), coop_row(&COOP8_F32_SHADER, true)),
    (gemm::COOP8_F16, coop_row(&COOP8_F16_SHADER, false), coop_row(&COOP8_F16_SHADER, true)),
];

/// One coop module's entries, plain or pipelined, as a kernel table row.
const fn coop_row(shader: &'static Shader, pipelined: bool) -> ConvKernels {
    let (conv, dw) =
        if pipelined { ("conv_coop_pipelined", "conv_dw_coop_pipelined") } else { ("conv_coop", "conv_dw_coop") };
    ConvKernels {
        block: blocked::Coop::block(pipelined),
        conv: Kernel { shader, entry: conv, bindings: BINDINGS },
        dw: Kernel { shader, entry: dw, bindings: BINDINGS },
    }
}

/// The generated part of a coop module: the shape's aliases and the four entries.
fn coop_entries(shape: CoopShape) -> String {
    let coop = blocked::Coop::for_adapter(shape.size);
    format!(
        "{}\n{}\n{}\n{}\n{}",
        gemm::coop_aliases(shape),
        blocked::conv_coop_entry("conv_coop", coop, false),
        blocked::conv_coop_entry("conv_coop_pipelined", coop, true),
        blocked::conv_dw_coop_entry("conv_dw_coop", coop, false),
        blocked::conv_dw_coop_entry("conv_dw_coop_pipelined", coop, true)
    )
}

/// This adapter's coop entries that run: the shape, the plain entries, the pipelined ones.
type CoopEntries = (CoopShape, &'static ConvKernels, Option<&'static ConvKernels>);

/// The coop entries of this adapter that run here: GEMM's run (`gemm::coop`,
/// `gemm::coop_pipelined`: the same matrices, layouts and workgroup memory) and each row's
/// own check against the plain kernels passed (the pipelined one only beside the plain one).
fn coop_kernel() -> Result<Option<CoopEntries>> {
    static COOP: OnceLock<Option<CoopEntries>> = OnceLock::new();
    if let Some(c) = COOP.get() {
        return Ok(*c);
    }
    let c = match gemm::coop()? {
        Some(shape) => {
            let (_, plain, pipe) =
                COOP_KERNELS.iter().find(|(s, _, _)| *s == shape).expect("every preferred shape has a kernel");
            if coop_self_test(shape, plain)? {
                let pipe = (gemm::coop_pipelined()? && coop_self_test(shape, pipe)?).then_some(pipe);
                Some((shape, plain, pipe))
            } else {
                None
            }
        }
        None => None,
    };
    Ok(*COOP.get_or_init(|| c))
}

/// The matrix shape conv2d's coop entry runs with on this adapter, if it runs here (tests:
/// which rounding to expect where `coop` is forced).
pub fn coop() -> Result<Option<CoopShape>> {
    Ok(coop_kernel()?.map(|(shape, _, _)| shape))
}

/// Whether the pipelined coop entry runs here too.
pub fn coop_pipelined() -> Result<bool> {
    Ok(coop_kernel()?.is_some_and(|(_, _, pipe)| pipe.is_some()))
}

/// Whether the coop entries may take this dispatch: they run here, and their rounding is the
/// product's own: f32 matrices serve every pass; f16 ones the forward whose image is already
/// f16 (`--mixed-precision fp16`'s autocast input), where rounding the weights to f16 as well
/// is what torch.autocast does, and every pass that runs under fp16 autocast
/// (`gemm::half_products`: the gradients, dy rounded to f16 as torch's is).
fn coop_for(pass: Pass, dtypes: Dtypes) -> Result<Option<CoopEntries>> {
    let half_image = pass == Pass::Conv && dtypes.b == DType::F16;
    Ok(coop_kernel()?.filter(|(shape, _, _)| !shape.half || half_image || gemm::half_products()))
}

/// A coop row beside the plain kernels on a small convolution with partial tiles both ways,
/// a bias, stride 1 and padding: the forward from an f16 image, the input gradient and the
/// weight gradient from an f32 dy (what fp16 autocast's backward rounds); then a forward of
/// whole 128 x 128 tiles with a bias, which go from the accumulators (the bias their first
/// value) straight to the output (`blocked::Coop::accumulators`). Values multiples of 1/64
/// below 1, exact in f16, so that every product and sum is exact in f32 and the two agree to
/// the bit.
fn coop_self_test(shape: CoopShape, row: &'static ConvKernels) -> Result<bool> {
    let (n, ci, h, w, co) = (1usize, 5usize, 13usize, 11usize, 130usize);
    let vals =
        |len: usize, mul: usize| -> Vec<f32> { (0..len).map(|i| ((i * mul % 127) as f32 - 63.0) / 64.0).collect() };
    let x = Tensor::from_slice(&vals(n * ci * h * w, 37), &[n, ci, h, w])?.cast(DType::F16)?;
    let wt = Tensor::from_slice(&vals(co * ci * 9, 53), &[co, ci, 3, 3])?;
    let bias = Tensor::from_slice(&vals(co, 11), &[co])?;
    let dy = Tensor::from_slice(&vals(n * co * h * w, 29), &[n, co, h, w])?;
    let g = Geom { n, ci, h, w, co, kh: 3, kw: 3, oh: h, ow: w, stride: 1, pad: 1 };
    let (co_whole, h_whole) = (128usize, 16usize);
    let wt_whole = Tensor::from_slice(&vals(co_whole * ci * 9, 53), &[co_whole, ci, 3, 3])?;
    let x_whole = Tensor::from_slice(&vals(n * ci * h_whole * 8, 37), &[n, ci, h_whole, 8])?.cast(DType::F16)?;
    let whole = Geom { co: co_whole, h: h_whole, w: 8, oh: h_whole, ow: 8, ..g };
    let passes: [(&str, &dyn Fn() -> Result<Tensor>); 4] = [
        ("forward", &|| forward_raw(&x, &wt, Some(&bias), g)),
        ("input gradient", &|| backward_input_raw(&dy, &wt, g)),
        ("weight gradient", &|| backward_weight_raw(&dy, &x, g)),
        ("forward of whole tiles", &|| forward_raw(&x_whole, &wt_whole, Some(&bias.narrow0(0, co_whole)?), whole)),
    ];
    for (pass, run) in passes {
        let plain = {
            let _t = SelfTest::run(None);
            let _f = variant::force(Family::Conv, "plain");
            run().and_then(|y| y.to_vec())
        };
        let coop = {
            let _k = SelfTest::run(Some(row));
            let _f = variant::force(Family::Conv, gemm::COOP_VARIANTS[0]);
            run().and_then(|y| y.to_vec())
        };
        let why = match (plain, coop) {
            (Ok(p), Ok(c)) if c == p => continue,
            (Ok(_), Ok(_)) => format!("its {pass} disagrees with the plain kernel's"),
            (Err(e), _) => format!("its self-test could not run the plain kernel: {e}"),
            (_, Err(e)) => format!("its {pass} failed: {e}"),
        };
        eprintln!(
            "note: not using this adapter's cooperative matrices for conv2d ({}, {}x{}): {why}",
            row.conv.entry, shape.size, shape.size
        );
        return Ok(false);
    }
    Ok(true)
}

thread_local! {
    /// While this thread runs the coop self-test: `Some(None)` for its plain run (no coop
    /// variant offered), `Some(Some(row))` for its coop run (that row's entries offered as
    /// `coop`, which the run forces).
    static SELF_TEST: std::cell::Cell<Option<Option<&'static ConvKernels>>> = const { std::cell::Cell::new(None) };
}

/// Holds this thread in one run of the self-test ([`SELF_TEST`]).
struct SelfTest;

impl SelfTest {
    fn run(row: Option<&'static ConvKernels>) -> SelfTest {
        SELF_TEST.with(|c| c.set(Some(row)));
        SelfTest
    }
}

impl Drop for SelfTest {
    fn drop(&mut self) {
        SELF_TEST.with(|c| c.set(None));
    }
}

/// One row of the kernel table: a register block (8 columns, `rows` rows, A by broadcast or
/// not, or staged through workgroup memory) and its two entry points, forward / backward-input
/// (`conv`, MODE in the spec) and weight gradient (`conv_dw`).
pub struct ConvKernels {
    pub block: Block,
    pub conv: Kernel,
    pub dw: Kernel,
}

const fn row(block: Block, conv: &'static str, dw: &'static str) -> ConvKernels {
    let shader = if block.broadcast { &SUBGROUP_SHADER } else { &SHADER };
    ConvKernels {
        block,
        conv: Kernel { shader, entry: conv, bindings: BINDINGS },
        dw: Kernel { shader, entry: dw, bindings: BINDINGS },
    }
}

/// Every conv2d kernel; their WGSL is written from these rows (`blocked::conv_entry`,
/// `blocked::conv_dw_entry` and their tiled twins), the variants are built from them.
pub static KERNELS: [ConvKernels; 7] = [
    row(Block::plain(8, 8), "conv", "conv_dw"),
    row(Block::subgroup(8, 8), "conv_subgroup8", "conv_dw_subgroup8"),
    row(Block::subgroup(16, 8), "conv_subgroup16", "conv_dw_subgroup16"),
    row(Block::subgroup(32, 8), "conv_subgroup32", "conv_dw_subgroup32"),
    // The implicit GEMM staged through workgroup memory in 128 x 128 tiles, as GEMM's GPU
    // default: written for GPUs, where the plain kernel's storage loads bound conv2d at
    // 2.4-9 TFLOP/s on an H200 (cuDNN 4-19). Not yet run on a GPU: tuner-only until measured.
    row(Block::tiled(8, 8), "conv_tiled", "conv_dw_tiled"),
    row(Block::tiled_quads(8, 8), "conv_tiled_vec4", "conv_dw_tiled_vec4"),
    // The vec4 tiles software-pipelined (`Block::pipelined`): each step's loads in flight
    // during the previous step's products. Written for GPUs, not yet run on one.
    row(Block::tiled_quads(8, 8).pipelined(), "conv_tiled_vec4_pipelined", "conv_dw_tiled_vec4_pipelined"),
];

/// The names of the tiled rows' variants, by their block.
fn tiled_name(b: Block) -> &'static str {
    match (b.quads, b.pipelined) {
        (true, true) => "8x8 tiled vec4 pipelined",
        (true, false) => "8x8 tiled vec4",
        (false, true) => "8x8 tiled pipelined",
        (false, false) => "8x8 tiled",
    }
}

/// The generated entries of the plain (`subgroup` false) or the subgroup module.
fn entries(subgroup: bool) -> String {
    let mut out = String::from(crate::gpu::HALF_WGSL);
    out.push_str("\n// ---- entries written from ops::conv::KERNELS by ops::blocked ----\n");
    let rows: Vec<&ConvKernels> = KERNELS.iter().filter(|k| k.block.broadcast == subgroup).collect();
    for k in &rows {
        out.push('\n');
        out.push_str(&if k.block.tiled {
            blocked::conv_tiled_entry(k.conv.entry, k.block)
        } else {
            blocked::conv_entry(k.conv.entry, k.block)
        });
    }
    for k in &rows {
        out.push('\n');
        out.push_str(&if k.block.tiled {
            blocked::conv_dw_tiled_entry(k.dw.entry, k.block)
        } else {
            blocked::conv_dw_entry(k.dw.entry, k.block)
        });
    }
    out
}

/// Which pass a dispatch computes; picks the entry among the variants.
#[derive(Clone, Copy, PartialEq)]
enum Pass {
    /// Forward or backward-input (`conv`, MODE in the spec).
    Conv,
    /// Weight gradient (`conv_dw`).
    Weight,
}

/// The workgroup shape (WG_X, WG_Y) for an M x N output: each invocation computes 8x8, so a
/// workgroup covers 8 WG_Y rows by 8 WG_X columns, at most 256 invocations. As many lanes
/// across as the columns need, up to 16 (the 64 pixels of an 8x8 latent take 8, a 4x4 latent's
/// 16 take 2), then as many rows as M needs, then wider where M is narrow (conv_out's 4
/// channels), so that few computed rows or columns are thrown away.
fn shape_for(m: u32, n: u32) -> (u32, u32) {
    let wx_need = n.div_ceil(8).next_power_of_two().clamp(1, 64);
    let wy_need = m.div_ceil(8).next_power_of_two().clamp(1, 256);
    let wx = wx_need.min(16);
    let wy = wy_need.min(256 / wx);
    (wx_need.min(256 / wy).max(wx), wy)
}

/// Workgroup shapes the tuner may try besides [`shape_for`]'s, by name.
const SHAPES: [(&str, (u32, u32)); 4] = [("16x16", (16, 16)), ("32x8", (32, 8)), ("8x32", (8, 32)), ("64x4", (64, 4))];

/// The names of every launch variant (for tests that force each in turn).
pub fn variant_names() -> Vec<&'static str> {
    let mut names = vec!["plain"];
    names.extend(SHAPES.iter().map(|(n, _)| *n));
    for wide in [true, false] {
        names.extend(KERNELS.iter().filter(|k| k.block.broadcast).map(|k| subgroup_name(k.block.rows, wide)));
    }
    names.extend(KERNELS.iter().filter(|k| k.block.tiled).map(|k| tiled_name(k.block)));
    names
}

/// The name of the subgroup variant with `rows` rows, in the GEMM kernels' width (`wide`) or
/// the subgroup's own.
fn subgroup_name(rows: u32, wide: bool) -> &'static str {
    match (rows, wide) {
        (8, true) => "subgroup 8",
        (16, true) => "subgroup 16",
        (32, true) => "subgroup 32",
        (8, false) => "subgroup 8 narrow",
        (16, false) => "subgroup 16 narrow",
        (32, false) => "subgroup 32 narrow",
        _ => "subgroup",
    }
}

/// The variants for one dispatch and the default among them: the plain kernel in
/// [`shape_for`]'s shape and the others of [`SHAPES`] that fit M; where the GEMM subgroup
/// kernels run (same lane layout), the subgroup entries whose tiles fit M and N, each as tall
/// as M needs, in the GEMM kernels' width and in the subgroup's own where smaller (8 on
/// lavapipe, whose 64-column tiles suit the 64 pixels of an 8x8 latent). On a CPU adapter the
/// default minimises the cost model ([`Variant::cost`], measured on lavapipe); elsewhere it is
/// the 8-row subgroup entry for the forward and input gradient where it fits (measured on the
/// H200, below), else the plain kernel, until tuned.
fn variants(pass: Pass, dtypes: Dtypes, m: u32, n: u32, z: u32) -> Result<(Vec<Variant>, usize)> {
    let kernel_of = |k: &'static ConvKernels| if pass == Pass::Conv { &k.conv } else { &k.dw };
    let plain = &KERNELS[0];
    let default_wg = shape_for(m, n);
    let mut v = vec![Variant { name: "plain", kernel: kernel_of(plain), block: plain.block, wg: default_wg }];
    // The matrix units where they may take the dispatch (tuner-only, as GEMM's); the
    // self-test's entry alone while it runs.
    let [coop_name, pipelined_name] = gemm::COOP_VARIANTS;
    let coop = match SELF_TEST.with(|c| c.get()) {
        Some(row) => row.map(|r| (r, None)),
        None => coop_for(pass, dtypes)?.map(|(_, plain, pipe)| (plain, pipe)),
    };
    if let Some((plain, pipe)) = coop {
        let wg = blocked::TILED_WG;
        v.push(Variant { name: coop_name, kernel: kernel_of(plain), block: plain.block, wg });
        if let Some(pipe) = pipe {
            v.push(Variant { name: pipelined_name, kernel: kernel_of(pipe), block: pipe.block, wg });
        }
    }
    for (name, wg) in SHAPES {
        if wg != default_wg && 8 * wg.1 <= m.next_power_of_two().max(8) * 2 {
            v.push(Variant { name, kernel: kernel_of(plain), block: plain.block, wg });
        }
    }
    // The tiled kernels' 128 x 128 tiles, for every shape (the tuner decides; tests force them
    // on small ones).
    for k in KERNELS.iter().filter(|k| k.block.tiled) {
        v.push(Variant { name: tiled_name(k.block), kernel: kernel_of(k), block: k.block, wg: blocked::TILED_WG });
    }
    let mut default = 0;
    if let Some(wide) = super::gemm::subgroup_kernels()? {
        let caps = &Tensor::ctx()?.caps;
        let narrow = caps.subgroup_sizes.1;
        for (wx, is_wide) in [(wide, true), (narrow, false)] {
            if (wx == wide && !is_wide) || 8 * wx > n.next_power_of_two() {
                continue;
            }
            for k in KERNELS.iter().filter(|k| k.block.broadcast) {
                let rows = k.block.rows;
                if rows == 8 || rows <= m {
                    let wg = (wx, balanced_rows(m, rows, 256 / wx));
                    v.push(Variant { name: subgroup_name(rows, is_wide), kernel: kernel_of(k), block: k.block, wg });
                }
            }
        }
        if caps.cpu {
            // Tiled kernels are tuner-only (their load count would win the cost model, which
            // was measured on the register-blocked kernels).
            default = variant::cheapest(&v, m, n, z, |i| !v[i].block.tiled);
        } else if pass == Pass::Conv {
            // GPUs: the forward and the input gradient take the 8-row subgroup kernel where it
            // fits. In the H200's tuned run (2026-12-04, `benches/results/h200-vulkan-2026-12-04-after.json`)
            // seven such classes offered it: the tuner chose it in the six f32 ones (16x16 to
            // 64x64 latents), 1.17-1.91x faster than the plain kernel, the default then, and
            // the 16-row entry in the seventh (bf16 weights), where the 8-row one was still
            // 2.15x faster than plain; the suites' conv rows ran up to 1.9x faster tuned.
            // Weight gradients keep the plain kernel (it won one of three classes there, the
            // 8-row entry the others by 6-8%), and 8x8 latents (64 pixels, too few for its
            // 8 x 32-lane tiles) have no subgroup entry.
            if let Some(i) = v.iter().position(|x| x.name == subgroup_name(8, true)) {
                default = i;
            }
        }
    }
    Ok((v, default))
}

/// conv2d's tuning key: the operands' storage dtypes, the pass (and MODE), and the shape class.
struct ConvKey {
    dtype: Dtypes,
    /// Under fp16 autocast with f16 matrix units among the candidates, which round what they
    /// stage (`coop_for`).
    rounded: bool,
    weight_pass: bool,
    mode: u32,
    m: usize,
    n: usize,
    /// Channels summed (images for the weight gradient).
    c: usize,
    kh: u32,
    kw: u32,
}

impl fmt::Display for ConvKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let ConvKey { dtype, rounded, weight_pass, mode, m, n, c, kh, kw } = self;
        let pass = if *weight_pass { "dw" } else { "conv" };
        let rounded = if *rounded { " rounded to f16" } else { "" };
        write!(f, "conv {dtype}{rounded} {pass} mode{mode} m{m} n{n} c{c} k{kh}x{kw}")
    }
}

impl TuneKey for ConvKey {}

/// The variant for one dispatch: a forced one where it applies, else the tuned choice for its
/// class, else the default. Timing reruns the dispatch, so only dispatches that overwrite
/// their output (beta = 0) tune.
fn tuned(pass: Pass, dtype: Dtypes, spec: &Spec, p: &Params, views: &[BindView; 4], z: usize) -> Result<Variant> {
    let (vs, default) = variants(pass, dtype, p.m, p.n, z as u32)?;
    if let Some(force) = variant::forced(Family::Conv) {
        if let Some(v) = vs.iter().find(|v| v.name == force) {
            return Ok(*v);
        }
    }
    let key = ConvKey {
        dtype,
        rounded: gemm::half_products()
            && vs.iter().any(|v| v.name == gemm::COOP_VARIANTS[0])
            && gemm::coop()?.is_some_and(|shape| shape.half),
        weight_pass: pass == Pass::Weight,
        mode: spec.get("MODE").unwrap_or(0),
        m: bucket(p.m as usize),
        n: bucket(p.n as usize),
        c: bucket(p.chans.max(p.imgs) as usize),
        kh: p.kh,
        kw: p.kw,
    };
    let mut time = |i: usize| -> Result<f64> { Ok(time_gpu(3, || launch(vs[i], spec.clone(), *p, views, z))?.0) };
    let names: Vec<&'static str> = vs.iter().map(|v| v.name).collect();
    let time: Option<&mut dyn FnMut(usize) -> Result<f64>> = if p.beta == 0.0 { Some(&mut time) } else { None };
    let name = tuner()?.choose(&key, &names, default, time)?;
    Ok(vs.iter().find(|v| v.name == name).copied().unwrap_or(vs[default]))
}

fn launch(v: Variant, spec: Spec, p: Params, views: &[BindView; 4], z: usize) -> Result<()> {
    let spec = spec.u32("WG_X", v.wg.0).u32("WG_Y", v.wg.1);
    Tensor::ctx()?.dispatch(v.kernel, &spec, &p, views, v.groups(p.m, p.n, z as u32))
}

crate::uniforms! {
    /// The uniform block of `conv.wgsl`.
    struct Params {
        m: u32,
        n: u32,
        chans: u32,
        beta: f32,
        a_shift: u32,
        b_shift: u32,
        c_shift: u32,
        bias_shift: u32,
        h: u32,
        w: u32,
        oh: u32,
        ow: u32,
        kh: u32,
        kw: u32,
        stride: u32,
        pad: u32,
        a_rs: u32,
        a_cs: u32,
        a_img: u32,
        b_plane: u32,
        b_img: u32,
        c_row: u32,
        c_img: u32,
        imgs: u32,
        cw: u32,
        a_px: u32,
        b_px: u32,
        split_chans: u32,
    }
}

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    ci: usize,
    h: usize,
    w: usize,
    co: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: usize,
    pad: usize,
}

/// How many images, input channels and output channels one dispatch covers.
struct Plan {
    imgs: usize,
    ci: usize,
    co: usize,
}

impl Geom {
    fn kk(&self) -> usize {
        self.kh * self.kw
    }
    fn x_img(&self) -> usize {
        self.ci * self.h * self.w
    }
    fn y_img(&self) -> usize {
        self.co * self.oh * self.ow
    }
    fn w_row(&self) -> usize {
        self.ci * self.kk()
    }
    /// Extent in elements of a block of `rows` x `cols` planes of `plane` elements, where a
    /// row is `row` elements long (an [images, channels] block of x or y, or a [co, ci] block of w).
    fn extent(rows: usize, row: usize, cols: usize, plane: usize) -> usize {
        (rows - 1) * row + cols * plane
    }

    /// Whole images when they fit, else one image at a time with channel chunks.
    fn plan(&self, max: usize) -> Result<Plan> {
        let (x_img, y_img) = (self.x_img(), self.y_img());
        if x_img <= max && y_img <= max && self.co * self.w_row() <= max {
            let imgs = (max / x_img.max(1)).min(max / y_img.max(1)).clamp(1, 65535);
            return Ok(Plan { imgs, ci: self.ci, co: self.co });
        }
        let ci = self.ci.min(max / (self.h * self.w).max(self.kk()));
        let mut co = self.co.min(max / (self.oh * self.ow).max(1));
        while co > 0 && ci > 0 && Self::extent(co, self.w_row(), ci, self.kk()) > max {
            co /= 2;
        }
        if ci == 0 || co == 0 {
            return Err(Error::invalid(
                "conv2d",
                format!("one channel plane of {self:?} exceeds the storage binding limit ({max} floats)"),
            ));
        }
        Ok(Plan { imgs: 1, ci, co })
    }

    fn params(&self) -> Params {
        Params {
            h: u(self.h),
            w: u(self.w),
            oh: u(self.oh),
            ow: u(self.ow),
            kh: u(self.kh),
            kw: u(self.kw),
            stride: u(self.stride),
            pad: u(self.pad),
            ..Default::default()
        }
    }
}

/// One dispatch of `pass` over an M x N output (per image, or per tap for `conv_dw`), `z`
/// deep; `dtypes` are A's and B's storage (weights and image in forward, f32 and the weights
/// in backward-input; dy and image in `conv_dw`).
fn run(
    pass: Pass,
    dtypes: Dtypes,
    spec: Spec,
    p: Params,
    views: [(BindView, u32); 3],
    bias: (BindView, u32),
    z: usize,
) -> Result<()> {
    let [a, b, c] = views;
    let p = Params { a_shift: a.1, b_shift: b.1, c_shift: c.1, bias_shift: bias.1, ..p };
    let views = [a.0, b.0, bias.0, c.0];
    let spec = dtypes.spec(spec);
    let variant = tuned(pass, dtypes, &spec, &p, &views, z)?;
    // Nominal FLOPs, as `engine bench` counts them (padding taps included): each of the
    // rows x columns outputs sums the summed channels over every tap, for each image; the
    // weight gradient's sum runs over the images' output pixels instead.
    let taps = (p.kh * p.kw) as u64;
    let sums = match pass {
        Pass::Weight => p.imgs as u64 * (p.oh * p.ow) as u64,
        Pass::Conv => p.imgs as u64 * p.chans as u64,
    };
    crate::gpu::profile::count_flops(2 * p.m as u64 * p.n as u64 * taps * sums);
    launch(variant, spec, p, &views, z)
}

thread_local! {
    static FORCED_SPLITS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Forces the split-K slice count on this thread (`None`: the default): of `conv`'s summed
/// channels and of the weight gradient's output rows (`dw_splits`). Tests use it to run the
/// split paths on lavapipe, whose default is no split.
pub fn force_splits(n: Option<usize>) {
    FORCED_SPLITS.with(|f| f.set(n));
}

/// How many slices `conv` splits its summed channels (`chans`) into for the M x N output of
/// `key.batch` whole images. On a GPU the deep, small convolutions of SD 1.5 (1280 channels at
/// 16x16 and 8x8 latents: M = 1280, N = 256 or 64) made 20-160 workgroups of 64 x 64 for an
/// H200's 132 multiprocessors and ran at 0.3-1.2 TFLOP/s, a tenth of the same work at 64x64.
/// Slices run side by side, each into its own copy of C, and a reduction adds the copies:
/// enough slices for about 640 workgroups, each at least 128 channels deep, unless the tuner
/// chose another count for the class (`run` runs the whole pass with a given count). No split
/// on CPU adapters (lavapipe runs a workgroup per host thread: 2 here, already busy) nor where
/// the copies would not fit a storage binding.
fn k_splits(key: &SplitKey, chans: usize, run: &mut dyn FnMut(usize) -> Result<()>) -> Result<usize> {
    let (m, n, imgs) = (key.m, key.n, key.batch);
    split_rule(m.div_ceil(64) * n.div_ceil(64) * imgs, chans, chans / 128, m * n * imgs)?.tuned(key, run)
}

/// How many slices the weight gradient splits its sum over the output rows of every image
/// (images x OH) into, for whole images ([`k_splits`]' rule for the weight gradient): its grid
/// is a 64 x 64 tile of (Co, Ci) per tap, so SD 1.5's 320-channel 3x3 convolutions at 64x64
/// latents make 225 workgroups, each summing 8192 pixels, and the 1x1 ones 25. Enough slices for
/// about 640 workgroups, each at least 1024 pixels, or the tuner's count; GPUs only.
fn dw_splits(g: Geom, key: &SplitKey, run: &mut dyn FnMut(usize) -> Result<()>) -> Result<usize> {
    let rows = g.n * g.oh;
    let workgroups = g.co.div_ceil(64) * g.ci.div_ceil(64) * g.kk();
    split_rule(workgroups, rows, rows / 1024usize.div_ceil(g.ow.max(1)), g.co * g.w_row())?.tuned(key, run)
}

/// What the split rule says for one pass: `count`, and whether it was forced; else the most
/// slices the depth and the binding allow (`cap`, the tuner's bound).
struct SplitRule {
    count: usize,
    forced: bool,
    cap: usize,
}

/// The split-K rule both passes share: the forced count (at most `most`, the summed extent),
/// else 1 on CPU adapters, else enough slices for about 640 workgroups from `workgroups`
/// unsplit, at most `by_depth`, and no more copies of the `copy`-element output than fit a
/// storage binding.
fn split_rule(workgroups: usize, most: usize, by_depth: usize, copy: usize) -> Result<SplitRule> {
    if let Some(s) = FORCED_SPLITS.with(|f| f.get()) {
        return Ok(SplitRule { count: s.clamp(1, most.max(1)), forced: true, cap: 0 });
    }
    let ctx = Tensor::ctx()?;
    if !gpu_split_rules(ctx.caps.cpu) {
        return Ok(SplitRule { count: 1, forced: false, cap: 1 });
    }
    let by_occupancy = 640usize.div_ceil(workgroups.max(1));
    let cap = by_depth.min(ctx.max_binding_elems() / copy.max(1)).max(1);
    Ok(SplitRule { count: by_occupancy.min(cap), forced: false, cap })
}

impl SplitRule {
    /// The count to run: the forced one, else the rule's or the tuner's choice (within `cap`).
    fn tuned(self, key: &SplitKey, run: &mut dyn FnMut(usize) -> Result<()>) -> Result<usize> {
        if self.forced {
            return Ok(self.count);
        }
        tuned_split(key, self.count, &|c| c <= self.cap, run)
    }
}

/// `conv` (MODE 0 or 1 in `spec`) over all `imgs` images at once, its summed channels
/// (`p.chans`) in `splits` slices side by side (wg.z = slice * imgs + image), each slice into
/// its own copy of C ([slices, imgs * c_img], the bias added by slice 0), then the copies
/// summed: C as [imgs * c_img].
#[allow(clippy::too_many_arguments)]
fn run_split(
    spec: Spec,
    w: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    p: Params,
    imgs: usize,
    splits: usize,
) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let chans = p.chans as usize;
    let split_chans = chans.div_ceil(splits);
    let splits = chans.div_ceil(split_chans); // no empty slice
    let c_len = imgs * p.c_img as usize;
    let scratch = Tensor::empty(&[splits, c_len])?;
    let bias_v = match bias {
        Some(t) => win(ctx, t, 0, t.numel())?,
        None => (dummy_binding()?, 0),
    };
    let av = win_any(ctx, w, 0, w.numel())?;
    let bv = win_any(ctx, b, 0, b.numel())?;
    let cv = win(ctx, &scratch, 0, scratch.numel())?;
    let p = Params { beta: 0.0, imgs: u(imgs), split_chans: u(split_chans), ..p };
    let spec = spec.bool("HAS_BIAS", bias.is_some());
    run(Pass::Conv, Dtypes::of(w, b), spec, p, [av, bv, cv], bias_v, imgs * splits)?;
    crate::with_no_grad(|| scratch.sum(0, false))
}

fn forward_raw(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: Geom) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let plan = g.plan(ctx.max_binding_elems())?;
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.kk());
    // The whole convolution's parameters; the chunks below narrow rows and channels.
    let whole_p = Params {
        m: u(g.co),
        n: u(ohw),
        chans: u(g.ci),
        a_rs: u(g.w_row()),
        a_cs: u(kk),
        b_plane: u(hw),
        b_img: u(g.x_img()),
        c_row: u(ohw),
        c_img: u(g.y_img()),
        cw: u(g.ow),
        ..g.params()
    };
    let whole = plan.imgs >= g.n && plan.ci == g.ci && plan.co == g.co;
    let splits = if whole {
        let key = SplitKey { what: "conv", dtypes: Dtypes::of(w, x), m: g.co, n: ohw, k: g.ci * kk, batch: g.n };
        k_splits(&key, g.ci, &mut |c| with_forced(&FORCED_SPLITS, c, || forward_raw(x, w, bias, g).map(drop)))?
    } else {
        1
    };
    if splits > 1 {
        let spec = Spec::new().u32("MODE", 0);
        return run_split(spec, w, x, bias, whole_p, g.n, splits)?.reshape(&[g.n, g.co, g.oh, g.ow]);
    }
    let y = Tensor::empty(&[g.n, g.co, g.oh, g.ow])?;
    for (n0, nn) in chunks(g.n, plan.imgs) {
        for (co0, mc) in chunks(g.co, plan.co) {
            for (i, (ci0, cc)) in chunks(g.ci, plan.ci).into_iter().enumerate() {
                let first = i == 0;
                let with_bias = first && bias.is_some();
                let bias_v = match (with_bias, bias) {
                    (true, Some(b)) => win(ctx, b, co0, mc)?,
                    _ => (dummy_binding()?, 0),
                };
                let av = win_any(ctx, w, co0 * g.w_row() + ci0 * kk, Geom::extent(mc, g.w_row(), cc, kk))?;
                let bv = win_any(ctx, x, n0 * g.x_img() + ci0 * hw, Geom::extent(nn, g.x_img(), cc, hw))?;
                let cv = win(ctx, &y, n0 * g.y_img() + co0 * ohw, Geom::extent(nn, g.y_img(), mc, ohw))?;
                let p = Params {
                    m: u(mc),
                    chans: u(cc),
                    beta: if first { 0.0 } else { 1.0 },
                    imgs: u(nn),
                    split_chans: u(cc),
                    ..whole_p
                };
                let spec = Spec::new().u32("MODE", 0).bool("HAS_BIAS", with_bias);
                run(Pass::Conv, Dtypes::of(w, x), spec, p, [av, bv, cv], bias_v, nn)?;
            }
        }
    }
    Ok(y)
}

fn backward_input_raw(dy: &Tensor, w: &Tensor, g: Geom) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let plan = g.plan(ctx.max_binding_elems())?;
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.kk());
    // The whole convolution's parameters; the chunks below narrow rows and channels.
    let whole_p = Params {
        m: u(g.ci),
        n: u(hw),
        chans: u(g.co),
        a_rs: u(kk),
        a_cs: u(g.w_row()),
        b_plane: u(ohw),
        b_img: u(g.y_img()),
        c_row: u(hw),
        c_img: u(g.x_img()),
        cw: u(g.w),
        ..g.params()
    };
    let whole = plan.imgs >= g.n && plan.ci == g.ci && plan.co == g.co;
    let splits = if whole {
        let key = SplitKey { what: "conv-dx", dtypes: Dtypes::of(w, dy), m: g.ci, n: hw, k: g.co * kk, batch: g.n };
        k_splits(&key, g.co, &mut |c| with_forced(&FORCED_SPLITS, c, || backward_input_raw(dy, w, g).map(drop)))?
    } else {
        1
    };
    if splits > 1 {
        let spec = Spec::new().u32("MODE", 1);
        return run_split(spec, w, dy, None, whole_p, g.n, splits)?.reshape(&[g.n, g.ci, g.h, g.w]);
    }
    let dx = Tensor::empty(&[g.n, g.ci, g.h, g.w])?;
    for (n0, nn) in chunks(g.n, plan.imgs) {
        for (ci0, cc) in chunks(g.ci, plan.ci) {
            for (i, (co0, mc)) in chunks(g.co, plan.co).into_iter().enumerate() {
                let av = win_any(ctx, w, co0 * g.w_row() + ci0 * kk, Geom::extent(mc, g.w_row(), cc, kk))?;
                let bv = win(ctx, dy, n0 * g.y_img() + co0 * ohw, Geom::extent(nn, g.y_img(), mc, ohw))?;
                let cv = win(ctx, &dx, n0 * g.x_img() + ci0 * hw, Geom::extent(nn, g.x_img(), cc, hw))?;
                let p = Params {
                    m: u(cc),
                    chans: u(mc),
                    beta: if i == 0 { 0.0 } else { 1.0 },
                    imgs: u(nn),
                    split_chans: u(mc),
                    ..whole_p
                };
                let spec = Spec::new().u32("MODE", 1).bool("HAS_BIAS", false);
                run(Pass::Conv, Dtypes::of(w, dy), spec, p, [av, bv, cv], (dummy_binding()?, 0), nn)?;
            }
        }
    }
    Ok(dx)
}

fn backward_weight_raw(dy: &Tensor, x: &Tensor, g: Geom) -> Result<Tensor> {
    let ctx = Tensor::ctx()?;
    let dw = Tensor::empty(&[g.co, g.ci, g.kh, g.kw])?;
    let plan = g.plan(ctx.max_binding_elems())?;
    let (hw, ohw, kk) = (g.h * g.w, g.oh * g.ow, g.kk());
    let spec = || Spec::new().u32("MODE", 0).bool("HAS_BIAS", false);
    if plan.ci == g.ci && plan.co == g.co && plan.imgs >= g.n {
        let rows = g.n * g.oh;
        let key = SplitKey { what: "conv-dw", dtypes: Dtypes::of(dy, x), m: g.co, n: g.ci, k: rows * g.ow, batch: kk };
        let splits =
            dw_splits(g, &key, &mut |c| with_forced(&FORCED_SPLITS, c, || backward_weight_raw(dy, x, g).map(drop)))?;
        let rows_per = rows.div_ceil(splits);
        let splits = rows.div_ceil(rows_per); // no empty slice

        // Channels-last copies make the lanes of a subgroup (neighbouring channels) read
        // neighbouring addresses; in NCHW they are a whole plane apart, which at 64x64 halved
        // the kernel's rate on lavapipe. The copies cost two passes over dy and x (a half x,
        // autocast's, is widened by its copy).
        let dyt = dy.permute(&[0, 2, 3, 1])?;
        let xt = permuted_f32(x, &[0, 2, 3, 1])?;
        let scratch = if splits > 1 { Some(Tensor::empty(&[splits, dw.numel()])?) } else { None };
        let out = scratch.as_ref().unwrap_or(&dw);
        let av = win(ctx, &dyt, 0, dyt.numel())?;
        let bv = win(ctx, &xt, 0, xt.numel())?;
        let cv = win(ctx, out, 0, out.numel())?;
        let p = Params {
            m: u(g.co),
            n: u(g.ci),
            a_rs: 1,
            a_px: u(g.co),
            a_img: u(g.y_img()),
            b_plane: 1,
            b_px: u(g.ci),
            b_img: u(g.x_img()),
            c_row: u(g.w_row()),
            c_img: u(dw.numel()),
            imgs: u(g.n),
            split_chans: u(rows_per),
            ..g.params()
        };
        run(Pass::Weight, Dtypes::of(&dyt, &xt), spec(), p, [av, bv, cv], (dummy_binding()?, 0), kk * splits)?;
        return match scratch {
            Some(s) => crate::with_no_grad(|| s.sum(0, false))?.reshape(&[g.co, g.ci, g.kh, g.kw]),
            None => Ok(dw),
        };
    }
    for (co0, mc) in chunks(g.co, plan.co) {
        for (ci0, cc) in chunks(g.ci, plan.ci) {
            for (i, (n0, nn)) in chunks(g.n, plan.imgs).into_iter().enumerate() {
                let av = win(ctx, dy, n0 * g.y_img() + co0 * ohw, Geom::extent(nn, g.y_img(), mc, ohw))?;
                let bv = win_any(ctx, x, n0 * g.x_img() + ci0 * hw, Geom::extent(nn, g.x_img(), cc, hw))?;
                let cv = win(ctx, &dw, co0 * g.w_row() + ci0 * kk, Geom::extent(mc, g.w_row(), cc, kk))?;
                let p = Params {
                    m: u(mc),
                    n: u(cc),
                    beta: if i == 0 { 0.0 } else { 1.0 },
                    a_rs: u(ohw),
                    a_px: 1,
                    a_img: u(g.y_img()),
                    b_plane: u(hw),
                    b_px: 1,
                    b_img: u(g.x_img()),
                    c_row: u(g.w_row()),
                    imgs: u(nn),
                    split_chans: u(nn * g.oh),
                    ..g.params()
                };
                run(Pass::Weight, Dtypes::of(dy, x), spec(), p, [av, bv, cv], (dummy_binding()?, 0), kk)?;
            }
        }
    }
    Ok(dw)
}

/// y = conv2d(x, w) + bias for x \[N, Ci, H, W\], w \[Co, Ci, KH, KW\], bias \[Co\]; zero padding
/// `padding` on every side, the same `stride` along both axes. y is [N, Co, OH, OW] with
/// OH = (H + 2 padding - KH) / stride + 1. Under `autograd::autocast` x is rounded to its
/// dtype first (and kept so for backward); w is read as stored; y is f32.
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, stride: usize, padding: usize) -> Result<Tensor> {
    if x.rank() != 4 || w.rank() != 4 || x.dim(1) != w.dim(1) {
        return Err(Error::shape_hint(
            "conv2d",
            x.shape(),
            w.shape(),
            "expected input [N, Ci, H, W] and weight [Co, Ci, KH, KW] with the same Ci",
        ));
    }
    if stride == 0 {
        return Err(Error::invalid("conv2d", "stride must be at least 1"));
    }
    let (n, ci, h, wd) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3));
    let (co, kh, kw) = (w.dim(0), w.dim(2), w.dim(3));
    if h + 2 * padding < kh || wd + 2 * padding < kw {
        return Err(Error::shape_hint(
            "conv2d",
            x.shape(),
            w.shape(),
            format!("kernel larger than the padded input (padding {padding})"),
        ));
    }
    if let Some(b) = bias {
        if b.shape() != [co] {
            return Err(Error::shape_hint("conv2d bias", b.shape(), &[co], "one value per output channel"));
        }
    }
    let g = Geom {
        n,
        ci,
        h,
        w: wd,
        co,
        kh,
        kw,
        oh: (h + 2 * padding - kh) / stride + 1,
        ow: (wd + 2 * padding - kw) / stride + 1,
        stride,
        pad: padding,
    };
    let ctx = Tensor::ctx()?;
    if let Some(b) = bias {
        whole(ctx, "conv2d bias", b)?;
    }
    let x = &autocast_input(x)?;
    let y = forward_raw(x, w, bias, g)?;
    let (gx, gw) = (needs_grad(x), needs_grad(w));
    let gb = bias.is_some_and(needs_grad);
    let (sx, sw) = (gw.then(|| x.detach()), gx.then(|| w.detach()));
    let mut inputs = vec![x, w];
    if let Some(b) = bias {
        inputs.push(b);
    }
    let has_bias = bias.is_some();
    Ok(record(y, "conv2d", &inputs, move |dy| {
        let dx = match &sw {
            Some(w) => Some(backward_input_raw(dy, w, g)?),
            None => None,
        };
        let dw = match &sx {
            Some(x) => Some(backward_weight_raw(dy, x, g)?),
            None => None,
        };
        let mut out = vec![dx, dw];
        if has_bias {
            out.push(if gb {
                Some(super::reduce::sum_except_middle(&dy.reshape(&[g.n, g.co, g.oh * g.ow])?)?)
            } else {
                None
            });
        }
        Ok(out)
    }))
}

impl Tensor {
    /// See [`conv2d`].
    pub fn conv2d(&self, w: &Tensor, bias: Option<&Tensor>, stride: usize, padding: usize) -> Result<Tensor> {
        conv2d(self, w, bias, stride, padding)
    }
}
