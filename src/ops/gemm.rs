//! Matrix multiplication: batched GEMM with transposed operands and an optional bias, and
//! the linear layer built on it. Backward is two more GEMMs with the transposes flipped
//! (and a column sum for the bias).

use std::fmt;
use std::sync::OnceLock;

use super::blocked::{self, Coop};
use super::cast::autocast_input;
use super::copy::strided_copy;
use super::elementwise::dummy_binding;
use super::launch::{
    chunks, gpu_split_rules, too_large, tuned_split, u, whole, win, win_any, with_forced, Dtypes, SplitKey,
};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::gpu::tune::{bucket, tuner, TuneKey};
use crate::gpu::variant::{self, balanced_rows, Block, Family, Variant};
use crate::gpu::{time_gpu, Access, BindView, CoopShape, DType, Kernel, Shader, Spec, SpecValue, Uniforms};
use crate::tensor::Tensor;

use SpecValue::{Bool as B, U32 as U};

pub static SHADER: Shader = Shader {
    name: "gemm",
    file: "gemm",
    source: include_str!("../../shaders/gemm.wgsl"),
    generated: Some(|| entries(false)),
    full: OnceLock::new(),
    variants: &[
        &[
            ("TRANS_A", B(false)),
            ("TRANS_B", B(false)),
            ("HAS_BIAS", B(false)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("B_DTYPE", U(0)),
            ("A_DTYPE", U(0)),
        ],
        &[
            ("TRANS_A", B(false)),
            ("TRANS_B", B(true)),
            ("HAS_BIAS", B(true)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("B_DTYPE", U(0)),
            ("A_DTYPE", U(2)),
        ],
        &[
            ("TRANS_A", B(true)),
            ("TRANS_B", B(false)),
            ("HAS_BIAS", B(false)),
            ("WG_X", U(8)),
            ("WG_Y", U(32)),
            ("B_DTYPE", U(0)),
            ("A_DTYPE", U(0)),
        ],
        &[
            ("TRANS_A", B(true)),
            ("TRANS_B", B(true)),
            ("HAS_BIAS", B(true)),
            ("WG_X", U(32)),
            ("WG_Y", U(8)),
            ("B_DTYPE", U(0)),
            ("A_DTYPE", U(1)),
        ],
        &[
            ("TRANS_A", B(false)),
            ("TRANS_B", B(true)),
            ("HAS_BIAS", B(true)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("B_DTYPE", U(1)),
            ("A_DTYPE", U(0)),
        ],
        &[
            ("TRANS_A", B(false)),
            ("TRANS_B", B(false)),
            ("HAS_BIAS", B(false)),
            ("WG_X", U(16)),
            ("WG_Y", U(16)),
            ("B_DTYPE", U(2)),
            ("A_DTYPE", U(0)),
        ],
    ],
    uniforms: &[&Params::LAYOUT],
};
/// The subgroup entries: a module of their own, which only adapters with subgroups compile.
/// The same hand-written part (parameters, helpers, the unused 4x4 entry).
pub static SUBGROUP_SHADER: Shader = Shader {
    name: "gemm_subgroup",
    file: "gemm",
    source: include_str!("../../shaders/gemm.wgsl"),
    generated: Some(|| entries(true)),
    full: OnceLock::new(),
    variants: &[&[
        ("TRANS_A", B(false)),
        ("TRANS_B", B(true)),
        ("HAS_BIAS", B(true)),
        ("WG_X", U(16)),
        ("WG_Y", U(16)),
        ("B_DTYPE", U(2)),
        ("A_DTYPE", U(1)),
    ]],
    uniforms: &[&Params::LAYOUT],
};
const BINDINGS: &[Access] = &[Access::Read, Access::Read, Access::Read, Access::ReadWrite];
/// The coop entries' bindings: [`BINDINGS`], then A and B again as f16 ([`COOP_HALF_VIEWS`]).
const COOP_BINDINGS: &[Access] =
    &[Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::Read, Access::Read];

/// The coop modules' second view of A and B (bound to the same windows as `a` and `b`), as
/// pairs of f16, and the pair loads of their staging (`blocked::Pairs`): f16 operands go into
/// f16 tiles as stored. Through the u32 view each pair was unpacked to f32 and each half
/// converted back (WGSL's `bitcast<vec2<f16>>(u32)` would say it directly, but naga 30 cannot
/// translate it: gfx-rs/wgpu#8896), three instructions of a dozen per staged pair. bf16 pairs
/// (and f32 matrices) convert as before.
pub(crate) const COOP_HALF_VIEWS: &str = "
// ---- the coop entries' f16 views of A and B, from ops::gemm::COOP_HALF_VIEWS ----
@group(0) @binding(5) var<storage, read> a_h: array<vec2<f16>>;
@group(0) @binding(6) var<storage, read> b_h: array<vec2<f16>>;

fn load_a2_ab(base: u32, row: u32, kk: u32) -> vec2<AB> {
    if (A_DTYPE == 1u) {
        return vec2<AB>(a_h[word_a(base, row, kk)]);
    }
    return vec2<AB>(load_a2(base, row, kk));
}

fn load_b2_ab(base: u32, kk: u32, col: u32) -> vec2<AB> {
    if (B_DTYPE == 1u) {
        return vec2<AB>(b_h[word_b(base, kk, col)]);
    }
    return vec2<AB>(load_b2(base, kk, col));
}
";

/// The cooperative-matrix GEMM (`blocked::gemm_coop_entry`: the tiled entry with its products
/// on the matrix units, after `gemm.wgsl`'s hand-written part), one module per matrix shape of
/// [`CoopShape::PREFERENCE`] (the shape's types and sizes are WGSL aliases, [`coop_aliases`]),
/// written for the adapter's largest subgroup size (`ops::coop_module!`). Only adapters opened
/// with cooperative matrices compile them; the offline test translates them, in these
/// specialisations, to SPIR-V and MSL (HLSL and GLSL have no cooperative matrices in naga).
const COOP_SPECS: &[&[(&str, SpecValue)]] = &[
    &[
        ("TRANS_A", B(false)),
        ("TRANS_B", B(true)),
        ("HAS_BIAS", B(true)),
        ("B_DTYPE", U(0)),
        ("A_DTYPE", U(1)),
        ("WG_X", U(16)),
        ("WG_Y", U(16)),
    ],
    &[
        ("TRANS_A", B(true)),
        ("TRANS_B", B(false)),
        ("HAS_BIAS", B(false)),
        ("B_DTYPE", U(1)),
        ("A_DTYPE", U(0)),
        ("WG_X", U(16)),
        ("WG_Y", U(16)),
    ],
    &[
        ("TRANS_A", B(false)),
        ("TRANS_B", B(false)),
        ("HAS_BIAS", B(false)),
        ("B_DTYPE", U(2)),
        ("A_DTYPE", U(0)),
        ("WG_X", U(16)),
        ("WG_Y", U(16)),
    ],
];
pub(crate) const COOP16_F16: CoopShape = CoopShape { size: 16, half: true };
pub(crate) const COOP8_F32: CoopShape = CoopShape { size: 8, half: false };
pub(crate) const COOP8_F16: CoopShape = CoopShape { size: 8, half: true };
coop_module!(COOP16_F16_SHADER, "gemm_coop16_f16", "gemm", || coop_entries(COOP16_F16), COOP_SPECS);
coop_module!(COOP8_F32_SHADER, "gemm_coop8_f32", "gemm", || coop_entries(COOP8_F32), COOP_SPECS);
coop_module!(COOP8_F16_SHADER, "gemm_coop8_f16", "gemm", || coop_entries(COOP8_F16), COOP_SPECS);

/// Each matrix shape's entries, plain and software-pipelined (`blocked::Coop::block`), in
/// [`CoopShape::PREFERENCE`]'s order (a test checks).
static COOP_KERNELS: [(CoopShape, [Kernel; 2]); 3] = [
    (COOP16_F16, coop_kernels(&COOP16_F16_SHADER)),
    (COOP8_F32, coop_kernels(&COOP8_F32_SHADER)),
    (COOP8_F16, coop_kernels(&COOP8_F16_SHADER)),
];

/// One coop module's two entries: plain, then pipelined.
const fn coop_kernels(shader: &'static Shader) -> [Kernel; 2] {
    [
        Kernel { shader, entry: "gemm_coop", bindings: COOP_BINDINGS },
        Kernel { shader, entry: "gemm_coop_pipelined", bindings: COOP_BINDINGS },
    ]
}

/// The generated part of a coop module: the shape's aliases and both entries.
fn coop_entries(shape: CoopShape) -> String {
    let coop = Coop::for_adapter(shape.size);
    format!(
        "{}{COOP_HALF_VIEWS}\n{}\n{}",
        coop_aliases(shape),
        blocked::gemm_coop_entry("gemm_coop", coop, false),
        blocked::gemm_coop_entry("gemm_coop_pipelined", coop, true)
    )
}

/// The aliases that make a coop module one shape's (GEMM's and conv2d's): the matrices'
/// element type `AB` and the three matrix types.
pub(crate) fn coop_aliases(shape: CoopShape) -> String {
    let (size, ab) = (shape.size, if shape.half { "f16" } else { "f32" });
    format!(
        "{half}\n// ---- the matrix shape, written by ops::gemm::coop_aliases ----\nconst S: u32 = {size}u;\n\
         alias AB = {ab};\nalias CR = f32;\nalias CoopA = coop_mat{size}x{size}<{ab}, A>;\n\
         alias CoopB = coop_mat{size}x{size}<{ab}, B>;\nalias CoopC = coop_mat{size}x{size}<f32, C>;\n",
        half = crate::gpu::HALF_WGSL
    )
}

/// The cooperative-matrix GEMM's matrix shape on this adapter, if it runs here (its entries are
/// launched with [`blocked::TILED_WG`]): the adapter's shape ([`crate::gpu::Caps::coop`]; the device was opened with the feature), the
/// entry's layout and workgroup memory within the adapter's limits, and one check against the
/// plain kernel passed. `None` elsewhere (GL, Mesa 25's lavapipe, any adapter without matrix
/// units), and then nothing of it is compiled.
pub fn coop() -> Result<Option<CoopShape>> {
    static COOP: OnceLock<Option<CoopShape>> = OnceLock::new();
    if let Some(c) = COOP.get() {
        return Ok(*c);
    }
    let ctx = Tensor::ctx()?;
    let c = match ctx.caps.coop {
        Some(shape) => {
            let coop = Coop::for_adapter(shape.size);
            let fits = coop.fits()
                && coop.invocations <= ctx.caps.max_invocations
                && coop.workgroup_bytes(shape.half, false) <= ctx.caps.workgroup_storage;
            (fits && coop_self_test(shape, false)?).then_some(shape)
        }
        None => None,
    };
    Ok(*COOP.get_or_init(|| c))
}

/// Whether the software-pipelined coop entry runs here too: [`coop`] does, its two copies of
/// the tiles fit the adapter's workgroup memory, and its own check passed.
pub fn coop_pipelined() -> Result<bool> {
    static PIPELINED: OnceLock<bool> = OnceLock::new();
    if let Some(p) = PIPELINED.get() {
        return Ok(*p);
    }
    let p = match coop()? {
        Some(shape) => coop_pipelined_fits()? && coop_self_test(shape, true)?,
        None => false,
    };
    Ok(*PIPELINED.get_or_init(|| p))
}

/// Whether the pipelined coop entry's workgroup memory fits the adapter's limit, where
/// [`coop`] runs (tests: where it fits, a pipelined entry that does not run failed its check).
pub fn coop_pipelined_fits() -> Result<bool> {
    Ok(match coop()? {
        Some(shape) => {
            Coop::for_adapter(shape.size).workgroup_bytes(shape.half, true) <= Tensor::ctx()?.caps.workgroup_storage
        }
        None => false,
    })
}

/// The coop variants' names (forced by `ENGINE_GEMM_VARIANT`, chosen by the tuner), plain
/// and pipelined; conv2d's are the same.
pub const COOP_VARIANTS: [&str; 2] = ["coop", "coop pipelined"];

/// Whether products on f16 matrix units may round f32 operands to f16 on this thread: under
/// fp16 autocast, in the forward and in the backward of what ran under it
/// (`autograd::record`), as torch's autocast runs matmul, conv2d and attention and their
/// gradients in half. Their sums stay f32.
pub(crate) fn half_products() -> bool {
    crate::autograd::autocast_dtype() == DType::F16
}

/// Whether a product may run on the matrix units: the adapter has them, no plain variant is
/// forced, and the rounding is the product's own: f32 matrices serve every product; f16 ones
/// only those whose A is already half (autocast's inputs, where rounding B to f16 as well is
/// what torch.autocast does) or that run under fp16 autocast ([`half_products`]: attention's
/// products, the gradients).
fn coop_for(a_dtype: DType) -> Result<Option<CoopShape>> {
    if variant::forced(Family::Gemm).is_some_and(|f| !COOP_VARIANTS.contains(&f.as_str())) {
        return Ok(None);
    }
    Ok(coop()?.filter(|shape| !shape.half || a_dtype == DType::F16 || half_products()))
}

/// The tuning key of the choice between the matrix units and the plain kernels: a GEMM's
/// shape class, and whether its f32 A is rounded to f16 on them ([`half_products`]).
struct CoopKey(GemmKey, bool);

impl fmt::Display for CoopKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let half = if self.1 { " rounded to f16" } else { "" };
        write!(f, "coop-or-plain {}{half}", self.0)
    }
}

impl TuneKey for CoopKey {}

/// Whether this product runs on the matrix units, and on which entry (`true`: pipelined):
/// where it may ([`coop_for`]), when a coop variant is the forced GEMM variant (the pipelined
/// one falls back to the plain coop entry where it does not run) or the tuner chose one for
/// the product's shape class (`engine bench --tune` times them beside the plain kernels). Not
/// by default: on the one GPU measured (an H200, 2026-12-04) the first cooperative-matrix kernel
/// ran GEMM f16 4096³ at 5.1 TFLOP/s and the plain tiled kernel f32 4096³ at 15, so that fp16
/// runs were slower with it than bf16 ones without.
fn coop_route(
    dtypes: Dtypes,
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    trans: (bool, bool),
) -> Result<Option<(CoopShape, bool)>> {
    let Some(shape) = coop_for(dtypes.a)? else {
        return Ok(None);
    };
    match variant::forced(Family::Gemm).as_deref() {
        Some("coop") => return Ok(Some((shape, false))),
        Some("coop pipelined") => return Ok(Some((shape, coop_pipelined()?))),
        _ => {}
    }
    let key = CoopKey(GemmKey::new(dtypes, m, n, k, batch, trans), shape.half && dtypes.a != DType::F16);
    let mut time = |i: usize| -> Result<f64> {
        let (ta, tb) = trans;
        let sa = if ta { [batch, k, m] } else { [batch, m, k] };
        let sb = if tb { [batch, n, k] } else { [batch, k, n] };
        let a = Tensor::zeros_of(&sa, dtypes.a)?;
        let b = Tensor::zeros_of(&sb, dtypes.b)?;
        let route = if i == 0 { Route::Plain } else { Route::Coop(shape, i == 2) };
        Ok(time_gpu(3, || gemm_on(&a, &b, None, ta, tb, 1.0, route).map(drop))?.0)
    };
    let names: &[&str] = if coop_pipelined()? { &["plain", "coop", "coop pipelined"] } else { &["plain", "coop"] };
    let choice = tuner()?.choose(&key, names, 0, Some(&mut time))?;
    Ok(match choice {
        "coop" => Some((shape, false)),
        "coop pipelined" => Some((shape, true)),
        _ => None,
    })
}

/// Whether a product of these operand dtypes and sizes runs on the matrix units (see
/// `coop_route`): tests use it to know which rounding to expect.
pub fn takes_coop(a: DType, b: DType, m: usize, n: usize, k: usize, batch: usize, trans: (bool, bool)) -> Result<bool> {
    Ok(coop_route(Dtypes { a, b }, m, n, k, batch, trans)?.is_some())
}

fn dispatch_coop(
    (shape, pipelined): (CoopShape, bool),
    spec: Spec,
    p: Params,
    views: [BindView; 4],
    batches: usize,
    dtypes: Dtypes,
) -> Result<()> {
    let (_, kernels) = COOP_KERNELS.iter().find(|(s, _)| *s == shape).expect("every preferred shape has a kernel");
    let kernel = &kernels[usize::from(pipelined)];
    let (wx, wy) = blocked::TILED_WG;
    let tile = 8 * wx;
    let spec = dtypes.spec(spec).u32("WG_X", wx).u32("WG_Y", wy);
    let p = Params { batches: if p.batches == 0 { u(batches) } else { p.batches }, ..p };
    count_product_flops(&p, batches);
    let [a, b, bias, c] = views;
    let views = [a, b, bias, c, a, b];
    Tensor::ctx()?.dispatch(kernel, &spec, &p, &views, [p.n.div_ceil(tile), p.m.div_ceil(tile), u(batches)])
}

/// The coop kernel beside the plain 4x4 kernel on small products with partial tiles, both
/// transposes, alpha, a bias, B in every storage dtype and A in f32 and f16 (autocast's half
/// input), both through [`gemm_on`], then attention's strided form (offsets, wide strides,
/// beta 1); the values are multiples of 1/64 below 2, exact in f16, so that every product and
/// sum is exact in f32 and the two must agree to the bit whatever order each sums in.
/// `pipelined`: the pipelined entry's.
fn coop_self_test(shape: CoopShape, pipelined: bool) -> Result<bool> {
    // Past one 128 x 128 workgroup tile in both directions, K not a multiple of S.
    // Two cases have even extents, so that half operands are staged two elements per load
    // (`blocked::Pairs`), along K and across the tile for each operand; the last is whole tiles
    // with alpha 1 and a bias, which go from the accumulators (the bias their first value)
    // straight to C (`Coop::accumulators`, `Coop::epilogue`).
    let tile = 8 * blocked::TILED_WG.0 as usize;
    let (odd, even, whole) = (
        (tile + 3, tile + 5, 2 * shape.size as usize + 7),
        (tile + 4, tile + 6, 2 * shape.size as usize + 8),
        (2 * tile, tile, 2 * shape.size as usize + 8),
    );
    let vals =
        |len: usize, mul: usize| -> Vec<f32> { (0..len).map(|i| ((i * mul % 127) as f32 - 63.0) / 64.0).collect() };
    let cases = [
        (odd, false, true, DType::F16, DType::F32),
        (odd, true, false, DType::F32, DType::F16),
        (odd, false, false, DType::F32, DType::BF16),
        (even, false, false, DType::F16, DType::F16),
        (even, true, true, DType::F16, DType::BF16),
        (whole, false, false, DType::F16, DType::F32),
    ];
    for ((m, n, k), ta, tb, a_dtype, b_dtype) in cases {
        let alpha = if (m, n, k) == whole { 1.0 } else { 0.5 };
        let bias = Tensor::from_slice(&vals(n, 11), &[n])?;
        let a = Tensor::from_slice(&vals(m * k, 37), &[1, if ta { k } else { m }, if ta { m } else { k }])?
            .cast(a_dtype)?;
        let b = Tensor::from_slice(&vals(k * n, 53), &[1, if tb { n } else { k }, if tb { k } else { n }])?
            .cast(b_dtype)?;
        let plain = {
            let _f = variant::force(Family::Gemm, "4x4");
            gemm_raw(&a, &b, Some(&bias), ta, tb, alpha).and_then(|c| c.to_vec())
        };
        let coop = gemm_on(&a, &b, Some(&bias), ta, tb, alpha, Route::Coop(shape, pipelined)).and_then(|c| c.to_vec());
        // A module the driver refuses, or a test the device cannot run (a binding limit
        // below the test's operands), is a reason to fall back, not to fail every product.
        let why = match (plain, coop) {
            (Ok(p), Ok(c)) if c == p => continue,
            (Ok(_), Ok(_)) => "its results disagree with the plain GEMM".to_string(),
            (Err(e), _) => format!("its self-test could not run the plain GEMM: {e}"),
            (_, Err(e)) => format!("it failed: {e}"),
        };
        return Ok(coop_self_test_failed(pipelined, &why));
    }
    // Attention's form (`gemm_strided`): both operands f32, A transposed, every matrix at an
    // offset with rows and batches apart by more than their widths, and C accumulated into
    // (beta 1: dK and dV over query chunks).
    let (batch, m, n, k) = (2, tile + 3, 2 * shape.size as usize + 5, 19);
    let (a_len, b_len) = (2 * (k * m + 11) + 7, 2 * k * (n + 2) + 3);
    let (at, bt) = (Tensor::from_slice(&vals(a_len, 29), &[a_len])?, Tensor::from_slice(&vals(b_len, 41), &[b_len])?);
    let a = Mat { t: &at, offset: 7, batch_stride: k * m + 11, ld: m, rows: k, cols: m };
    let b = Mat { t: &bt, offset: 3, batch_stride: k * (n + 2), ld: n + 2, rows: k, cols: n };
    let c_len = 2 * (m * (n + 1) + 2) + 5;
    let mut out = Vec::new();
    for coop in [false, true] {
        let c = Tensor::from_slice(&vals(c_len, 13), &[c_len])?;
        let cm = Mat { t: &c, offset: 5, batch_stride: m * (n + 1) + 2, ld: n + 1, rows: m, cols: n };
        let run = if coop {
            launch(Entry::Coop((shape, pipelined)), a, b, cm, batch, 1, (true, false), 0.5, 1.0)
        } else {
            let _f = variant::force(Family::Gemm, "4x4");
            gemm_strided(a, b, cm, batch, (true, false), 0.5, 1.0)
        };
        match run.and_then(|()| c.to_vec()) {
            Ok(v) => out.push(v),
            Err(e) => return Ok(coop_self_test_failed(pipelined, &format!("its strided check failed: {e}"))),
        }
    }
    if out[0] != out[1] {
        return Ok(coop_self_test_failed(pipelined, "its strided results disagree with the plain GEMM"));
    }
    Ok(true)
}

/// Says why the coop GEMM (`pipelined`: its pipelined entry) is not used here; false.
fn coop_self_test_failed(pipelined: bool, why: &str) -> bool {
    let which = if pipelined { "the pipelined entry of " } else { "" };
    eprintln!("note: not using {which}this adapter's cooperative matrices for GEMM: {why}");
    false
}

/// One row of the kernel table: an entry point and the register block it holds.
pub struct GemmKernel {
    /// The launch variant's name (tuning cache, forcing, tests).
    pub name: &'static str,
    pub kernel: Kernel,
    pub block: Block,
    /// Written from this row by `blocked::gemm_entry` (the 4x4 `gemm` is hand-written).
    pub generated: bool,
    /// Offered to the tuner only, never a default: the 64-row block's tall tiles lose on all
    /// but the largest products.
    pub tuner_only: bool,
    /// Checked against the plain kernel once per process before any subgroup kernel is used.
    /// One per block height (8, 16, 32 rows) and column count (8, 5) covers every lane layout
    /// the broadcasts use; checking all seven doubled `engine info`'s cold start on lavapipe
    /// (3.3 -> 6.9 s, the 64-row kernel's compile mostly).
    pub self_test: bool,
}

const fn row(name: &'static str, entry: &'static str, block: Block) -> GemmKernel {
    let shader = if block.broadcast { &SUBGROUP_SHADER } else { &SHADER };
    GemmKernel {
        name,
        kernel: Kernel { shader, entry, bindings: BINDINGS },
        block,
        generated: true,
        tuner_only: false,
        self_test: false,
    }
}

/// Every GEMM kernel, in the order the candidates are offered (the cost model takes the first
/// of equals). Adding a variant is a row here: its WGSL is written from the row, the
/// candidates and the tests take it from here.
pub static KERNELS: [GemmKernel; 14] = [
    GemmKernel { generated: false, ..row("4x4", "gemm", Block::plain(4, 4)) },
    row("8x8", "gemm8x8", Block::plain(8, 8)),
    row("8x5", "gemm8x5", Block::plain(8, 5)),
    GemmKernel { self_test: true, ..row("8x5 subgroup", "gemm8x5_subgroup", Block::subgroup(8, 5)) },
    row("16x5 subgroup", "gemm16x5_subgroup", Block::subgroup(16, 5)),
    row("32x5 subgroup", "gemm32x5_subgroup", Block::subgroup(32, 5)),
    GemmKernel { self_test: true, ..row("8x8 subgroup", "gemm8x8_subgroup", Block::subgroup(8, 8)) },
    GemmKernel { self_test: true, ..row("16x8 subgroup", "gemm16x8_subgroup", Block::subgroup(16, 8)) },
    GemmKernel { self_test: true, ..row("32x8 subgroup", "gemm32x8_subgroup", Block::subgroup(32, 8)) },
    GemmKernel { tuner_only: true, ..row("64x8 subgroup", "gemm64x8_subgroup", Block::subgroup(64, 8)) },
    row("8x8 tiled", "gemm8x8_tiled", Block::tiled(8, 8)),
    // The same tiles read from workgroup memory as vec4s (`Block::quads`): written for GPUs,
    // where the 8x8 tiled kernel's 16 scalar workgroup loads per 64 FMAs bound it at 15
    // TFLOP/s on an H200 (cuBLAS: 49). Not yet run on a GPU: tuner-only until measured.
    GemmKernel { tuner_only: true, ..row("8x8 tiled vec4", "gemm8x8_tiled_vec4", Block::tiled_quads(8, 8)) },
    // The vec4 tiles software-pipelined (`Block::pipelined`): two copies of each tile, each k
    // step's storage loads in flight during the previous step's products, one barrier a step.
    // Written for GPUs, not yet run on one: tuner-only until measured.
    GemmKernel {
        tuner_only: true,
        ..row("8x8 tiled vec4 pipelined", "gemm8x8_tiled_vec4_pipelined", Block::tiled_quads(8, 8).pipelined())
    },
    // Attention's products with the head width as N (P·V and its gradients: M and K the tokens,
    // N 40-160) ran on the plain 8x5 at 2.5 TFLOP/s on an H200, 29% of an SD 1.5 step. Staged
    // through workgroup memory they ran slower there (gemm_attn_values 0.43 ms against 0.30;
    // the step's 8x5 products 0.85 s against 0.66): 256 x 40 tiles leave 256 workgroups for 132
    // multiprocessors, and K is not split. Offered to the tuner only until that is done.
    GemmKernel { tuner_only: true, ..row("8x5 tiled", "gemm8x5_tiled", Block::tiled(8, 5)) },
];

/// The generated entries of the plain (`subgroup` false) or the subgroup module.
fn entries(subgroup: bool) -> String {
    let rows = KERNELS.iter().filter(|k| k.generated && k.block.broadcast == subgroup);
    let mut out = String::from(crate::gpu::HALF_WGSL);
    out.push_str("\n// ---- entries written from ops::gemm::KERNELS by ops::blocked::gemm_entry ----\n");
    for k in rows {
        out.push('\n');
        out.push_str(&if k.block.tiled {
            blocked::gemm_tiled_entry(k.kernel.entry, k.block)
        } else {
            blocked::gemm_entry(k.kernel.entry, k.block)
        });
    }
    out
}

/// The names of every launch variant (for tests that force each in turn).
pub fn variant_names() -> impl Iterator<Item = &'static str> {
    KERNELS.iter().map(|k| k.name)
}

fn by_name(name: &str) -> &'static GemmKernel {
    KERNELS.iter().find(|k| k.name == name).unwrap_or_else(|| panic!("no GEMM kernel {name}"))
}

/// WG_X for the subgroup kernels on this adapter, if they can run here: the adapter's blocked
/// subgroup width (at least 16), checked once against the plain kernels in case a driver forms
/// subgroups other than from consecutive invocations. Taking A's rows by broadcast makes one
/// load where the plain kernels make eight (on lavapipe 1024³ goes from 16.7 to 28 GFLOP/s).
fn subgroup_width() -> Result<Option<u32>> {
    static WIDTH: OnceLock<Option<u32>> = OnceLock::new();
    if let Some(w) = WIDTH.get() {
        return Ok(*w);
    }
    let ctx = Tensor::ctx()?;
    let w = match ctx.caps.blocked_subgroup_width() {
        Some(hi) if !crate::gpu::options()?.no_subgroups => {
            let wx = hi.max(16);
            subgroup_self_test(wx)?.then_some(wx)
        }
        _ => None,
    };
    Ok(*WIDTH.get_or_init(|| w))
}

/// The workgroup width of the subgroup GEMM kernels if this adapter runs them (for `engine info`).
pub fn subgroup_kernels() -> Result<Option<u32>> {
    subgroup_width()
}

/// Runs each subgroup kernel marked `self_test` beside the plain kernel with as many columns
/// on one small product; true if all agree.
fn subgroup_self_test(wx: u32) -> Result<bool> {
    let wy = 256 / wx;
    for sg in KERNELS.iter().filter(|k| k.self_test) {
        let cols = sg.block.cols;
        let plain = by_name(if cols == 5 { "8x5" } else { "8x8" });
        // Small enough for any binding limit (the chunking tests shrink it to 8 KiB: 2048
        // elements): C's rows are cut to fit, since the 8x5 entry's C is 5·WG_X wide (320
        // columns at 64 lanes, where wy + 3 = 7 rows made 8960 bytes and the self-test's error
        // failed every GEMM). Rows still differ, so lanes broadcasting the wrong rows show.
        let n = if cols == 5 { 5 * wx as usize } else { 40 };
        let (m, k) = ((wy as usize + 3).min(Tensor::ctx()?.max_binding_elems() / n).max(2), 5);
        let a = Tensor::from_slice(
            &(0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect::<Vec<_>>(),
            &[1, m, k],
        )?;
        let b = Tensor::from_slice(
            &(0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect::<Vec<_>>(),
            &[1, k, n],
        )?;
        let mut out = Vec::new();
        for row in [sg, plain] {
            let v = Variant { name: row.name, kernel: &row.kernel, block: row.block, wg: (wx, wy) };
            let c = Tensor::zeros(&[1, m, n])?;
            launch(
                Entry::Plain(v),
                Mat::dense(&a, m, k),
                Mat::dense(&b, k, n),
                Mat::dense(&c, m, n),
                1,
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

/// The workgroup shape of `row`'s kernel for an M x N output, or `None` where it is not
/// offered. The 4x4 kernel's shape is fixed (64x64 tiles). 8x8 blocks are 128 columns wide
/// (with subgroups, the subgroup width `sg` across, for N of 128 or more); 8x5 blocks, for N up
/// to 160, take WG_X = N/5 rounded up to a power of two, so the 20, 40, 80 and 160 columns of
/// attention heads and the 77 keys of cross-attention waste little (with subgroups, where WG_X
/// is a multiple of the largest subgroup: every subgroup size divides it, so rows stay
/// shared). Each is as tall as M needs; blocks taller than 8 rows only where M has that many.
fn launch_shape(b: Block, m: u32, n: u32, sg: Option<u32>, sg_max: u32) -> Option<(u32, u32)> {
    if b == Block::plain(4, 4) {
        return Some((16, 16));
    }
    if b.tiled && b.cols == 5 && !b.pipelined {
        // 8x5 tiled: WG_X = N/5 rounded up to a power of two (as the plain 8x5), 256
        // invocations, so 256 x 40 tiles for 40 columns; from 11 columns up (WG_Y at most 64:
        // the A tile stays within 16 KiB of workgroup memory).
        return (m >= 64 && n > 10 && n <= 160).then(|| {
            let wx = n.div_ceil(5).next_power_of_two();
            (wx, 256 / wx)
        });
    }
    if b.tiled {
        // 128 x 128 tiles (pipelined entries are written for this shape): for products that
        // fill at least a quarter of one.
        return (m >= 64 && n >= 64).then_some(blocked::TILED_WG);
    }
    let wx = match (b.cols, b.broadcast) {
        (5, _) if n > 160 => return None,
        (5, false) => n.div_ceil(5).next_power_of_two(),
        (5, true) => {
            let wx = n.div_ceil(5).next_power_of_two();
            (sg.is_some() && wx.is_multiple_of(sg_max)).then_some(wx)?
        }
        (8, false) => 16,
        (8, true) if n >= 128 => sg?,
        _ => return None,
    };
    if b.rows != 8 && b.rows > m {
        return None;
    }
    Some((wx, balanced_rows(m, b.rows, 256 / wx)))
}

/// The launch variants for an M x N output (`batch` deep), and which of them is the default:
/// the cheapest by the cost model ([`Variant::cost`]). On a CPU adapter every kernel but the
/// tiled ones is a default candidate; off one, the plain and tiled kernels (the model was
/// measured on lavapipe; on a GPU its storage-load count makes the tiled kernel the default
/// wherever its 128 x 128 tiles fit), and the tuner (`engine bench --tune`) decides the rest.
fn candidates(m: u32, n: u32, batch: u32) -> Result<(Vec<Variant>, usize)> {
    let ctx = Tensor::ctx()?;
    let sg = subgroup_width()?;
    let cpu = ctx.caps.cpu;
    let mut v = Vec::new();
    let mut tuner_only = Vec::new();
    for row in &KERNELS {
        if row.block.broadcast && sg.is_none() {
            continue;
        }
        if let Some(wg) = launch_shape(row.block, m, n, sg, ctx.caps.subgroup_sizes.1) {
            v.push(Variant { name: row.name, kernel: &row.kernel, block: row.block, wg });
            tuner_only.push(row.tuner_only);
        }
    }
    // Tiled kernels are GPU defaults only: on lavapipe staging through workgroup memory
    // costs more than the loads it saves (the tuner may still find otherwise).
    let default = variant::cheapest(&v, m, n, batch, |i| {
        let b = v[i].block;
        (if cpu { !b.tiled } else { !b.broadcast }) && !tuner_only[i]
    });
    Ok((v, default))
}

/// GEMM's tuning key: the operands' storage dtypes, the transposes and the shape class (each
/// size rounded up to a power of two; N exact up to 160, where the 8x5 variants' widths depend
/// on it).
struct GemmKey {
    dtype: Dtypes,
    trans: (bool, bool),
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
}

impl GemmKey {
    fn new(dtype: Dtypes, m: usize, n: usize, k: usize, batch: usize, trans: (bool, bool)) -> GemmKey {
        let n = if n <= 160 { n } else { bucket(n) };
        GemmKey { dtype, trans, m: bucket(m), n, k: bucket(k), batch: bucket(batch) }
    }
}

impl fmt::Display for GemmKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let GemmKey { dtype, trans, m, n, k, batch } = self;
        write!(f, "gemm {dtype} ta{} tb{} m{m} n{n} k{k} b{batch}", trans.0 as u8, trans.1 as u8)
    }
}

impl TuneKey for GemmKey {}

/// The variant for this product: a forced one where it applies, else the tuned choice for its
/// shape class, else the default.
fn pick(dtype: Dtypes, m: usize, n: usize, k: usize, batch: usize, trans: (bool, bool)) -> Result<Variant> {
    let (cands, default) = candidates(u(m), u(n), u(batch))?;
    if let Some(force) = variant::forced(Family::Gemm) {
        if let Some(c) = cands.iter().find(|c| c.name == force) {
            return Ok(*c);
        }
    }
    if cands.len() == 1 {
        return Ok(cands[0]);
    }
    let key = GemmKey::new(dtype, m, n, k, batch, trans);
    let names: Vec<&'static str> = cands.iter().map(|c| c.name).collect();
    let mut time = |i: usize| -> Result<f64> {
        let (rows_a, cols_a) = if trans.0 { (k, m) } else { (m, k) };
        let (rows_b, cols_b) = if trans.1 { (n, k) } else { (k, n) };
        // The real batch count: it decides how many workgroups run at once.
        let a = Tensor::zeros_of(&[batch * rows_a * cols_a], dtype.a)?;
        let b = Tensor::zeros_of(&[batch * rows_b * cols_b], dtype.b)?;
        let c = Tensor::zeros(&[batch * m * n])?;
        let (am, bm, cm) = (Mat::dense(&a, rows_a, cols_a), Mat::dense(&b, rows_b, cols_b), Mat::dense(&c, m, n));
        Ok(time_gpu(3, || launch(Entry::Plain(cands[i]), am, bm, cm, batch, 1, trans, 1.0, 0.0))?.0)
    };
    let name = tuner()?.choose(&key, &names, default, Some(&mut time))?;
    Ok(cands.iter().copied().find(|c| c.name == name).unwrap_or(cands[default]))
}

crate::uniforms! {
    /// The uniform block of `gemm.wgsl`.
    struct Params {
        m: u32,
        n: u32,
        k: u32,
        beta: f32,
        a_batch: u32,
        b_batch: u32,
        c_batch: u32,
        /// Batches along the grid's z (z = split-K slice * batches + batch); 0: the dispatch's z.
        batches: u32,
        a_shift: u32,
        b_shift: u32,
        c_shift: u32,
        bias_shift: u32,
        lda: u32,
        ldb: u32,
        ldc: u32,
        alpha: f32,
    }
}

/// Which kernels a product runs on.
#[derive(Clone, Copy)]
enum Route {
    /// The adapter's cooperative matrices where [`coop_route`] takes them, else the tuned plain
    /// kernel.
    Auto,
    /// The tuned plain kernel (timing the choice).
    Plain,
    /// This cooperative-matrix shape's entry, pipelined or not (the self-tests, before [`coop`]
    /// and [`coop_pipelined`] have decided).
    Coop(CoopShape, bool),
}

thread_local! {
    static FORCED_K_SPLITS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Forces GEMM's split-K slice count on this thread (`None`: the default; a count that does
/// not divide K is not used). Tests use it to run the split path on lavapipe.
pub fn force_k_splits(n: Option<usize>) {
    FORCED_K_SPLITS.with(|f| f.set(n));
}

/// How many runs split-K cuts K into for an M x N x K product of `batch` matrices (1: no
/// split), by the rule below; [`summed_runs`] lets the tuner change it. Split-K is for
/// products with few output tiles and a long K, on GPUs: attention's P·V and its gradients
/// (M and K the tokens, N the head width 40-160: 256 workgroups on an H200's 132
/// multiprocessors, 2.5 TFLOP/s) and the weight gradients of Linear layers (M, N the
/// features, K the tokens: 9 tiles of 128 x 128 for 320 x 320). K goes in S equal runs
/// side by side (wg.z = run * batches + batch, `gemm.wgsl`'s `bases`), each into its own copy
/// of C, then the copies are summed. S doubles while the grid has fewer than 640 workgroups,
/// each run stays at least 256 deep and S divides K. Never on CPU adapters, whose few threads
/// are already busy.
fn k_splits(m: usize, n: usize, k: usize, batch: usize) -> Result<usize> {
    let s = match FORCED_K_SPLITS.with(|f| f.get()) {
        Some(s) => {
            if s < 2 || !k.is_multiple_of(s) {
                return Ok(1);
            }
            s
        }
        None if !gpu_split_rules(Tensor::ctx()?.caps.cpu) => return Ok(1),
        None => {
            // The default variant's grid, not `pick`'s: under `--tune` that would time (and
            // record) the whole product, which then runs split.
            let (cands, default) = candidates(u(m), u(n), u(batch))?;
            let [gx, gy, _] = cands[default].groups(u(m), u(n), u(batch));
            let workgroups = (gx * gy) as usize * batch;
            let mut s = 1;
            while workgroups * s < 640 && k.is_multiple_of(2 * s) && k / (2 * s) >= 256 {
                s *= 2;
            }
            s
        }
    };
    Ok(if batch * s > 65535 { 1 } else { s })
}

/// [`gemm_on`]'s product under split-K, for contiguous `a` and `b` without a bias: the sum of
/// the runs' copies is the result. `None` where there is no split or the copies would not fit
/// a storage binding: the caller runs the product whole.
fn split_k(
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    alpha: f32,
    (batch, m, n, k): (usize, usize, usize, usize),
) -> Result<Option<Tensor>> {
    let am = if ta { Mat::dense(a, k, m) } else { Mat::dense(a, m, k) };
    let bm = if tb { Mat::dense(b, n, k) } else { Mat::dense(b, k, n) };
    let mut rerun = |c| with_forced(&FORCED_K_SPLITS, c, || gemm_on(a, b, None, ta, tb, alpha, Route::Plain).map(drop));
    let sum = summed_runs(am, bm, None, batch, (ta, tb), alpha, &mut rerun)?;
    sum.map(|s| s.reshape(&[batch, m, n])).transpose()
}

/// op(a)·op(b) under split-K (see [`k_splits`]): the runs into dense copies of C, plus `prior`
/// (C's current values, for beta = 1) as one more copy, summed into a dense [batch·M·N].
/// `None` where there is no split or the copies would not fit a storage binding. Where the
/// rule splits, the tuner may choose another count for the product's class (`engine bench
/// --tune`: `rerun` runs the caller's whole operation with a given count, repeatably; with a
/// `prior` it is this sum, and no split is not a candidate).
fn summed_runs(
    a: Mat,
    b: Mat,
    prior: Option<&Mat>,
    batch: usize,
    trans: (bool, bool),
    alpha: f32,
    rerun: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Option<Tensor>> {
    let (m, k) = if trans.0 { (a.cols, a.rows) } else { (a.rows, a.cols) };
    let n = if trans.1 { b.rows } else { b.cols };
    let dtypes = Dtypes::of(a.t, b.t);
    let (c_len, extra) = (batch * m * n, usize::from(prior.is_some()));
    let max = Tensor::ctx()?.max_binding_elems();
    let fits = |s: usize| a.span(batch) <= max && b.span(batch) <= max && (s + extra) * c_len <= max;
    let mut splits = k_splits(m, n, k, batch)?;
    if splits >= 2 && fits(splits) && FORCED_K_SPLITS.with(|f| f.get()).is_none() {
        let key = SplitKey { what: "gemm", dtypes, m, n, k, batch };
        let admissible =
            |s: usize| (s >= 2 || prior.is_none()) && k.is_multiple_of(s) && batch * s <= 65535 && (s < 2 || fits(s));
        splits = tuned_split(&key, splits, &admissible, rerun)?;
    }
    if splits < 2 || !fits(splits) {
        return Ok(None);
    }
    let scratch = Tensor::empty(&[splits + extra, c_len])?;
    if let Some(c) = prior {
        let dims = [batch, m, n];
        strided_copy(c.t, c.offset, &[c.batch_stride, c.ld, 1], &scratch, splits * c_len, &[m * n, n, 1], &dims)?;
    }
    let run = pick(dtypes, m, n, k / splits, batch * splits, trans)?;
    launch(Entry::Plain(run), a, b, Mat::dense(&scratch, m, n), batch, splits, trans, alpha, 0.0)?;
    Ok(Some(crate::with_no_grad(|| scratch.sum(0, false))?))
}

/// [batch, M, N] = alpha * op(a) · op(b) + bias, for 3-D contiguous `a` and `b` with equal
/// batch; `a` and `b` in any storage dtype (half weights, autocast's half inputs), bias f32.
/// No autograd.
pub(crate) fn gemm_raw(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    ta: bool,
    tb: bool,
    alpha: f32,
) -> Result<Tensor> {
    gemm_on(a, b, bias, ta, tb, alpha, Route::Auto)
}

fn gemm_on(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    ta: bool,
    tb: bool,
    alpha: f32,
    route: Route,
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
    let coop = match route {
        Route::Auto => coop_route(Dtypes::of(a, b), m, n, k, batch, (ta, tb))?,
        Route::Plain => None,
        Route::Coop(shape, pipelined) => Some((shape, pipelined)),
    };
    if m > 0 && n > 0 && k > 0 && bias.is_none() && coop.is_none() {
        if let Some(c) = split_k(a, b, ta, tb, alpha, (batch, m, n, k))? {
            return Ok(c);
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
        batches: 0,
        a_shift: 0,
        b_shift: 0,
        c_shift: 0,
        bias_shift,
        lda: u(sa[2]),
        ldb: u(sb[2]),
        ldc: u(n),
        alpha,
    };
    let dtypes = Dtypes::of(a, b);
    // Dispatches one GEMM over windows of a, b and c, with `batches` batches along z.
    let run = |spec: &Spec, p: Params, a: (BindView, u32), b: (BindView, u32), c: (BindView, u32), batches: usize| {
        let p = Params { a_shift: a.1, b_shift: b.1, c_shift: c.1, ..p };
        if let Some(entry) = coop {
            return dispatch_coop(entry, spec.clone(), p, [a.0, b.0, bias_view, c.0], batches, dtypes);
        }
        let pick = pick(dtypes, p.m as usize, p.n as usize, p.k as usize, batches, (ta, tb))?;
        dispatch(pick, spec.clone(), p, [a.0, b.0, bias_view, c.0], batches, dtypes)
    };
    let max = ctx.max_binding_elems();
    let per_batch = max / a_bs.max(b_bs).max(c_bs);
    if per_batch >= 1 {
        for (b0, bn) in chunks(batch, per_batch.min(65535)) {
            let aw = win_any(ctx, a, b0 * a_bs, bn * a_bs)?;
            let bw = win_any(ctx, b, b0 * b_bs, bn * b_bs)?;
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
                let aw = win_any(ctx, a, bi * a_bs + m0 * k, mn * k)?;
                let bw = win_any(ctx, b, bi * b_bs, b_bs)?;
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
                let aw = win_any(ctx, a, bi * a_bs + k0 * m, kn * m)?;
                let bw = win_any(ctx, b, bi * b_bs + k0 * n, kn * n)?;
                let cw = win(ctx, &c, bi * c_bs, c_bs)?;
                let beta = if first { 0.0 } else { 1.0 };
                run(&spec, Params { k: u(kn), beta, ..base }, aw, bw, cw, 1)?;
            }
        }
        return Ok(c);
    }
    let (largest, dtype) = if a_bs >= b_bs.max(c_bs) {
        (&sa[1..], a.dtype())
    } else if b_bs >= c_bs {
        (&sb[1..], dtypes.b)
    } else {
        (&[m, n][..], DType::F32)
    };
    Err(too_large(ctx, "gemm", largest, dtype))
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
/// bias \[N\] -> y \[..., N\]. Under `autograd::autocast` x is rounded to its dtype first (and kept
/// so for backward); w is read as stored; y is f32.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if w.rank() != 2 || x.rank() == 0 || x.dim(-1) != w.dim(1) {
        return Err(Error::shape_hint("linear", x.shape(), w.shape(), "expected x [..., K] and weight [N, K]"));
    }
    let x = &autocast_input(x)?;
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
pub struct Mat<'a> {
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
pub fn gemm_strided(a: Mat, b: Mat, c: Mat, batch: usize, trans: (bool, bool), alpha: f32, beta: f32) -> Result<()> {
    let (ta, tb) = trans;
    let (m, k) = if ta { (a.cols, a.rows) } else { (a.rows, a.cols) };
    let n = if tb { b.rows } else { b.cols };
    if batch == 0 || m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    let dtypes = Dtypes::of(a.t, b.t);
    if let Some(coop) = coop_route(dtypes, m, n, k, batch, trans)? {
        return launch(Entry::Coop(coop), a, b, c, batch, 1, trans, alpha, beta);
    }
    // Split-K, summed and written into c's strides; with beta 1 (attention's dK and dV over
    // query chunks) c's current values are one more copy in the sum.
    if beta == 0.0 || beta == 1.0 {
        let prior = (beta == 1.0).then_some(&c);
        // What the tuner times: the whole product written into c (beta 0 overwrites c), or
        // with a prior only the sum (running into c again would add to it again).
        let mut rerun = |s| {
            with_forced(&FORCED_K_SPLITS, s, || match prior {
                Some(p) => summed_runs(a, b, Some(p), batch, trans, alpha, &mut |_| Ok(())).map(drop),
                None => gemm_strided(a, b, c, batch, trans, alpha, 0.0),
            })
        };
        if let Some(sum) = summed_runs(a, b, prior, batch, trans, alpha, &mut rerun)? {
            return strided_copy(&sum, 0, &[m * n, n, 1], c.t, c.offset, &[c.batch_stride, c.ld, 1], &[batch, m, n]);
        }
    }
    launch(Entry::Plain(pick(dtypes, m, n, k, batch, trans)?), a, b, c, batch, 1, trans, alpha, beta)
}

/// The kernel one strided launch runs: a plain variant, or a coop shape's entry (`true`:
/// pipelined).
#[derive(Clone, Copy)]
enum Entry {
    Plain(Variant),
    Coop((CoopShape, bool)),
}

/// [`gemm_strided`] on a given kernel; with `splits` > 1 (plain variants only), K in that
/// many runs, run r of batch i into c's matrix r * batch + i (see [`k_splits`]).
#[allow(clippy::too_many_arguments)]
fn launch(
    entry: Entry,
    a: Mat,
    b: Mat,
    c: Mat,
    batch: usize,
    splits: usize,
    trans: (bool, bool),
    alpha: f32,
    beta: f32,
) -> Result<()> {
    let ctx = Tensor::ctx()?;
    let (ta, tb) = trans;
    let (m, k) = if ta { (a.cols, a.rows) } else { (a.rows, a.cols) };
    let n = if tb { b.rows } else { b.cols };
    let aw = win_any(ctx, a.t, a.offset, a.span(batch))?;
    let bw = win_any(ctx, b.t, b.offset, b.span(batch))?;
    let cw = win(ctx, c.t, c.offset, c.span(batch * splits))?;
    let p = Params {
        m: u(m),
        n: u(n),
        k: u(k / splits),
        beta,
        a_batch: u(a.batch_stride),
        b_batch: u(b.batch_stride),
        c_batch: u(c.batch_stride),
        batches: u(batch),
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
    let views = [aw.0, bw.0, dummy_binding()?, cw.0];
    let dtypes = Dtypes::of(a.t, b.t);
    match entry {
        Entry::Plain(pick) => dispatch(pick, spec, p, views, batch * splits, dtypes),
        Entry::Coop(coop) => {
            debug_assert_eq!(splits, 1, "the coop entries run K whole");
            dispatch_coop(coop, spec, p, views, batch, dtypes)
        }
    }
}

/// One dispatch of `pick` over `batches` matrices; `spec` holds the transposes and bias flag.
fn dispatch(pick: Variant, spec: Spec, p: Params, views: [BindView; 4], batches: usize, dtypes: Dtypes) -> Result<()> {
    let spec = dtypes.spec(spec.u32("WG_X", pick.wg.0).u32("WG_Y", pick.wg.1));
    let p = Params { batches: if p.batches == 0 { u(batches) } else { p.batches }, ..p };
    count_product_flops(&p, batches);
    Tensor::ctx()?.dispatch(pick.kernel, &spec, &p, &views, pick.groups(p.m, p.n, u(batches)))
}

/// A dispatch's 2·M·N·K over its `grid_z` products (batches, or batches times split-K slices of
/// `p.k` each), for the profile ([`crate::gpu::profile::count_flops`]).
fn count_product_flops(p: &Params, grid_z: usize) {
    crate::gpu::profile::count_flops(2 * p.m as u64 * p.n as u64 * p.k as u64 * grid_z as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel table and the adapter's choice (`CoopShape::choose`) name the same shapes in
    /// the same order, and each module is written for its own shape.
    #[test]
    fn coop_table_matches_the_preferred_shapes() {
        let shapes: Vec<CoopShape> = COOP_KERNELS.iter().map(|(s, _)| *s).collect();
        assert_eq!(shapes, CoopShape::PREFERENCE);
        for (shape, [kernel, pipelined]) in &COOP_KERNELS {
            assert!(std::ptr::eq(kernel.shader, pipelined.shader), "one module holds both entries");
            let ab = if shape.half { "f16" } else { "f32" };
            let want = format!("alias CoopA = coop_mat{0}x{0}<{ab}, A>;", shape.size);
            assert!(kernel.shader.source().contains(&want), "{} lacks {want}", kernel.shader.name);
        }
    }
}
