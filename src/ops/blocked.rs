//! WGSL for the register-blocked entry points of GEMM and conv2d, written from the families'
//! kernel tables (`gemm::KERNELS`, `conv::KERNELS`): each table row is one entry point, its
//! block and its name, so adding a variant is a row in the table. The accumulators are named
//! scalars (`acc3_5`): as WGSL arrays, naga's output made llvmpipe keep them in memory (3x
//! slower), hence generated code rather than a loop. The hand-written part of each module
//! (parameters, bindings, helpers) is the family's file in `shaders/`.
//!
//! Two kinds of entry: register-blocked ones, whose invocations load their A and B values from
//! storage ([`gemm_entry`], [`conv_entry`], [`conv_dw_entry`]), and tiled ones, whose workgroup
//! stages A and B tiles through workgroup memory first ([`tiled_entry`], one writer for GEMM's
//! and conv2d's, which differ only in the loops over K, the staged loads and the store).

use std::fmt::Write;

use crate::gpu::variant::Block;

/// Appends `lines` to `out`, one per line.
fn push(out: &mut String, lines: impl IntoIterator<Item = String>) {
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
}

/// The entry point's signature: subgroup builtins need a 1-D workgroup, so the 2-D position
/// is derived from the index there.
fn signature(name: &str, subgroup: bool) -> Vec<String> {
    if subgroup {
        vec![
            "@compute @workgroup_size(WG_X * WG_Y, 1, 1)".into(),
            format!(
                "fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, \
                 @builtin(subgroup_invocation_id) lane: u32) {{"
            ),
            "    let lid = vec2<u32>(li % WG_X, li / WG_X);".into(),
        ]
    } else {
        vec![
            "@compute @workgroup_size(WG_X, WG_Y, 1)".into(),
            format!("fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{"),
        ]
    }
}

/// `var acc{i}_{j} = 0.0;` for the block, a row of C per line.
fn accumulators(rows: u32, cols: u32) -> Vec<String> {
    (0..rows)
        .map(|i| {
            "    ".to_string() + &(0..cols).map(|j| format!("var acc{i}_{j} = 0.0;")).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// The block's FMAs, a row of C per line.
fn fmas(rows: u32, cols: u32, indent: &str) -> Vec<String> {
    (0..rows)
        .map(|i| {
            indent.to_string()
                + &(0..cols).map(|j| format!("acc{i}_{j} = fma(a{i}, b{j}, acc{i}_{j});")).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// The accumulators gathered into an array for the store loop.
fn acc_array(rows: u32, cols: u32) -> Vec<String> {
    let mut out = vec![format!("    var acc = array<array<f32, {cols}>, {rows}>(")];
    for i in 0..rows {
        let row: Vec<String> = (0..cols).map(|j| format!("acc{i}_{j}")).collect();
        out.push(format!("        array<f32, {cols}>({}),", row.join(", ")));
    }
    out.push("    );".into());
    out
}

/// The loop that stores the block: for each of its rows and columns inside C, `body` (which
/// sees `r`, `col` and the accumulator `acc[i][j]`). Rows WG_Y apart from `row0`, columns
/// WG_X apart from `col0`.
fn store_loop(out: &mut String, rows: u32, cols: u32, body: &str) {
    store_loop_at(out, (rows, "row0 + i * WG_Y"), (cols, "col0 + j * WG_X"), body);
}

/// [`store_loop`] with the row of block row `i` and the column of block column `j` as given
/// expressions, each increasing with its index (the loops stop at the first outside C).
fn store_loop_at(out: &mut String, (rows, row): (u32, &str), (cols, col): (u32, &str), body: &str) {
    let _ = write!(
        out,
        "    for (var i = 0u; i < {rows}u; i++) {{
        let r = {row};
        if (r >= p.m) {{ break; }}
        for (var j = 0u; j < {cols}u; j++) {{
            let col = {col};
            if (col >= p.n) {{ break; }}
{body}        }}
    }}
}}
"
    );
}

/// Lines loading the rows' A values: `a_of(r)` is the expression for row `r` (the row index
/// variable's suffix). With broadcast, lane l of each group of 8 loads rows l, l + 8, ...
/// (`mine{g}`) and every lane takes them from the subgroup.
fn rows_of_a(b: Block, indent: &str, a_of: impl Fn(&str) -> String) -> Vec<String> {
    if b.broadcast {
        let mut out: Vec<String> =
            (0..b.rows / 8).map(|g| format!("{indent}let a_mine{g} = {};", a_of(&format!("mine{g}")))).collect();
        out.extend((0..b.rows).map(|i| format!("{indent}let a{i} = subgroupBroadcast(a_mine{}, {}u);", i / 8, i % 8)));
        out
    } else {
        (0..b.rows).map(|i| format!("{indent}let a{i} = {};", a_of(&i.to_string()))).collect()
    }
}

/// `let {name}{i} = expr(row offset)` for the rows this invocation loads.
fn row_indices(b: Block, name: &str, expr: impl Fn(&str) -> String) -> Vec<String> {
    if b.broadcast {
        (0..b.rows / 8)
            .map(|g| format!("    let {name}mine{g} = {};", expr(&format!("(lane % 8u + {}u)", 8 * g))))
            .collect()
    } else {
        (0..b.rows).map(|i| format!("    let {name}{i} = {};", expr(&format!("{i}u")))).collect()
    }
}

/// One GEMM entry (`gemm.wgsl`'s parameters and helpers): C = alpha·op(A)·op(B) with a
/// `rows` x `cols` block per invocation, rows WG_Y apart and columns WG_X apart.
pub fn gemm_entry(entry: &str, b: Block) -> String {
    let (rows, cols) = (b.rows, b.cols);
    let mut out = String::new();
    push(&mut out, signature(entry, b.broadcast));
    push(
        &mut out,
        [
            "    let bs = bases(wg.z);".to_string(),
            "    let a_base = bs.a;".into(),
            "    let b_base = bs.b;".into(),
            "    let c_base = bs.c;".into(),
            format!("    let row0 = wg.y * {rows}u * WG_Y + lid.y;"),
            format!("    let col0 = wg.x * {cols}u * WG_X + lid.x;"),
        ],
    );
    if b.broadcast {
        push(
            &mut out,
            (0..rows / 8)
                .map(|g| format!("    let r_mine{g} = min(row0 + (lane % 8u + {}u) * WG_Y, p.m - 1u);", 8 * g)),
        );
    } else {
        push(&mut out, (0..rows).map(|i| format!("    let r{i} = min(row0 + {i}u * WG_Y, p.m - 1u);")));
    }
    push(&mut out, (0..cols).map(|j| format!("    let c{j} = min(col0 + {j}u * WG_X, p.n - 1u);")));
    push(&mut out, accumulators(rows, cols));
    push(&mut out, ["    for (var kk = 0u; kk < p.k; kk++) {".to_string()]);
    if b.broadcast {
        push(&mut out, (0..rows / 8).map(|g| format!("        let a_mine{g} = load_a(a_base, r_mine{g}, kk);")));
        push(
            &mut out,
            (0..rows).map(|i| format!("        let a{i} = subgroupBroadcast(a_mine{}, {}u);", i / 8, i % 8)),
        );
    } else {
        push(&mut out, (0..rows).map(|i| format!("        let a{i} = load_a(a_base, r{i}, kk);")));
    }
    push(&mut out, (0..cols).map(|j| format!("        let b{j} = load_b(b_base, kk, c{j});")));
    push(&mut out, fmas(rows, cols, "        "));
    push(&mut out, ["    }".to_string()]);
    push(&mut out, acc_array(rows, cols));
    store_loop(&mut out, rows, cols, "            store(c_base, r, col, acc[i][j]);\n");
    out
}

/// What a tiled entry multiplies: the operand-specific WGSL around the staging and product
/// loops that [`tiled_entry`] writes for GEMM and conv2d alike. The loops over K open with
/// `k_open` (which sets `k0`, the first k index of one TILE_K-deep step) and close with
/// `k_close`; `k_end` bounds k there. `load_a`/`load_b` are statements that set `v` to A's
/// element (row, k) and B's (k, col), given those expressions; they run only inside C and K.
struct Tiled<'a> {
    prelude: &'a str,
    k_open: &'a str,
    k_close: &'a str,
    k_end: &'a str,
    load_a: &'a dyn Fn(&str, &str) -> String,
    load_b: &'a dyn Fn(&str, &str) -> String,
    /// Whether A (B) is staged in column (row) order: WGSL conditions, `TRANS_A` in GEMM, so
    /// that consecutive invocations read consecutive elements of each operand's storage.
    trans_a: &'a str,
    trans_b: &'a str,
    /// The store loop's body (which sees `r`, `col`, `acc[i][j]`).
    store: &'a str,
    /// Staging two elements per load where an operand is half in storage: see [`Pairs`].
    pairs: Option<Pairs<'a>>,
    /// With matrix units, where the workgroup's whole tile can go straight from the
    /// accumulators to C (see [`Coop::epilogue`]).
    direct: Option<Direct<'a>>,
}

/// Where and how a coop entry's accumulators go straight to C ([`Tiled::direct`]), as WGSL.
struct Direct<'a> {
    /// A condition uniform over the workgroup, defined from the prelude and the tile's
    /// position (`whole_mn`: the tile inside C): the tile inside C, the store a copy of the
    /// products plus at most a bias, C's offset and row stride 16-byte aligned.
    cond: &'a str,
    /// C's array, the index of its element (r, col) there and C's row stride.
    array: &'a str,
    at: &'a Expr<'a>,
    stride: &'a str,
    /// Where a bias is added to the tile (a condition uniform over the workgroup), its element
    /// for C's element (r, col), and whether it varies along C's rows (conv2d's, per output
    /// channel) or columns (Linear's, per feature). See [`Coop::accumulators`].
    bias: &'a str,
    bias_at: &'a Expr<'a>,
    bias_by_row: bool,
}

/// WGSL text from two index expressions (a load of an operand's element at them).
type Expr<'a> = dyn Fn(&str, &str) -> String + 'a;

/// Half operands staged a word (two elements) per load instead of an element per load: where
/// `cond_a` (`cond_b`) holds, a WGSL condition uniform over the workgroup that the prelude
/// defines (the operand is half and each pair of its elements along its storage-contiguous axis
/// starts at an even index, so shares a word), `load_a2` (`load_b2`) is an expression of the
/// element at (row, k) ((k, col)) and the next one along that axis, as a `vec2<f32>`: row + 1
/// where A is staged across the tile's width (`trans_a`), else k + 1 (B likewise, col + 1 where
/// it is staged across). Half the loads, index computations and bounds checks of staging: on a
/// GPU with matrix units, staging rather than the products sets the coop entries' rate. There
/// `coop_a2` (`coop_b2`) loads the pair instead, as a `vec2<AB>` (the matrices' element type):
/// f16 halves into f16 tiles as stored, with no conversion to f32 and back (the GEMM's coop
/// module reads them through a second, f16 view of the operand's binding, `ops::gemm`).
struct Pairs<'a> {
    cond_a: &'a str,
    cond_b: &'a str,
    load_a2: &'a Expr<'a>,
    load_b2: &'a Expr<'a>,
    coop_a2: &'a Expr<'a>,
    coop_b2: &'a Expr<'a>,
}

/// One tiled GEMM entry (`gemm.wgsl`'s parameters and helpers): see [`tiled_entry`].
pub fn gemm_tiled_entry(entry: &str, b: Block) -> String {
    tiled_entry(entry, b, &gemm_ops())
}

/// [`gemm_tiled_entry`] with its products on the matrix units ([`Coop`]); declares the
/// epilogue's workgroup array, the module the aliases (`ops::gemm::coop_aliases`).
pub fn gemm_coop_entry(entry: &str, coop: Coop, pipelined: bool) -> String {
    coop.declarations(entry) + &tiled_entry_with(entry, Coop::block(pipelined), &gemm_ops(), Some(coop))
}

/// [`gemm_tiled_entry`]'s loops, loads and store.
fn gemm_ops() -> Tiled<'static> {
    Tiled {
        prelude:
            "    let bs = bases(wg.z);\n    let a_base = bs.a;\n    let b_base = bs.b;\n    let c_base = bs.c;\n    \
                  let pairs_a = A_DTYPE != 0u && ((a_base | p.lda) & 1u) == 0u;\n    \
                  let pairs_b = B_DTYPE != 0u && ((b_base | p.ldb) & 1u) == 0u;\n",
        k_open: "    for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {\n",
        k_close: "    }\n",
        k_end: "p.k",
        load_a: &|r, k| format!("v = load_a(a_base, {r}, {k});"),
        load_b: &|k, c| format!("v = load_b(b_base, {k}, {c});"),
        trans_a: "TRANS_A",
        trans_b: "TRANS_B",
        store: "            store(c_base, r, col, acc[i][j]);\n",
        direct: Some(Direct {
            cond: "p.alpha == 1.0 && p.beta == 0.0 && whole_mn && ((c_base | p.ldc) & 3u) == 0u",
            array: "c",
            at: &|r, col| format!("c_base + ({r}) * p.ldc + {col}"),
            stride: "p.ldc",
            bias: "HAS_BIAS",
            bias_at: &|_r, col| format!("bias[p.bias_shift + {col}]"),
            bias_by_row: false,
        }),
        pairs: crate::gpu::stage_pairs().then_some(Pairs {
            cond_a: "pairs_a",
            cond_b: "pairs_b",
            load_a2: &|r, k| format!("load_a2(a_base, {r}, {k})"),
            load_b2: &|k, c| format!("load_b2(b_base, {k}, {c})"),
            coop_a2: &|r, k| format!("load_a2_ab(a_base, {r}, {k})"),
            coop_b2: &|k, c| format!("load_b2_ab(b_base, {k}, {c})"),
        }),
    }
}

/// One tiled conv2d forward / backward-input entry (`conv.wgsl`'s `MODE`; rows are output
/// (input) channels, columns pixels), the implicit GEMM of [`conv_entry`] through
/// [`tiled_entry`]: K runs over the taps and, within each, this split-K slice's channels, so
/// the staged B element of pixel `col`, channel `k` is the image's pixel that `col` reads
/// through the tap (zero in the padding). A is the weights' (row, channel) at the tap.
///
/// Every invocation stages the same column of B at every k step when the workgroup's
/// invocations are a multiple of the tile's width (the 16 x 16 launch: 256 and 128), so where
/// that column reads through the tap is worked out once per tap (two integer divisions),
/// not once per staged element.
pub fn conv_tiled_entry(entry: &str, b: Block) -> String {
    tiled_entry(entry, b, &conv_ops())
}

/// [`conv_tiled_entry`]'s loops, loads and store.
fn conv_ops() -> Tiled<'static> {
    Tiled {
        prelude: CONV_SLICE,
        k_open: "    let b_base = p.b_shift + img * p.b_img;
    let col_mine = ct + li % tn;
    for (var ky = 0u; ky < p.kh; ky++) {
    for (var kx = 0u; kx < p.kw; kx++) {
    let tap = ky * p.kw + kx;
    let t = tap_of(col_mine, ky, kx);
    for (var k0 = ch0; k0 < ch1; k0 += TILE_K) {
",
        k_close: "    }\n    }\n    }\n",
        k_end: "ch1",
        load_a: &|r, k| format!("v = elem_a(p.a_shift + ({r}) * p.a_rs + tap + ({k}) * p.a_cs);"),
        load_b: &|k, _c| format!("if (t.ok) {{ v = elem_b(b_base + ({k}) * p.b_plane + t.off); }}"),
        trans_a: "false",
        trans_b: "false",
        store: CONV_STORE,
        pairs: None,
        direct: Some(Direct {
            cond: "p.beta == 0.0 && whole_mn && ((c_base | p.c_row) & 3u) == 0u",
            array: "c",
            at: &|r, col| format!("c_base + ({r}) * p.c_row + {col}"),
            stride: "p.c_row",
            bias: "HAS_BIAS && split == 0u",
            bias_at: &|r, _col| format!("bias[p.bias_shift + {r}]"),
            bias_by_row: true,
        }),
    }
}

/// The k step of the tiled entries: rows of the A tile and of the B tile staged per
/// workgroup barrier (8: the two tiles of a 128 x 128 workgroup take 8 KiB of workgroup memory).
const TILE_K: u32 = 8;

/// The workgroup shape the 8x8 tiled entries are launched with (GEMM's and conv2d's): 256
/// invocations, 128 x 128 tiles. [`conv_tiled_entry`] needs its invocations a multiple of the
/// tile's 8·WG_X columns; a pipelined entry ([`Block::pipelined`]) is written for it.
pub const TILED_WG: (u32, u32) = (16, 16);
const _: () = assert!((TILED_WG.0 * TILED_WG.1).is_multiple_of(8 * TILED_WG.0));

/// One tiled entry: the workgroup's `rows·WG_Y` x `cols·WG_X` tile of C from A and B tiles
/// staged through workgroup memory, TILE_K deep, each element loaded from storage once per
/// workgroup (zeros outside the matrices, so the product loop has no clamps). Staging reads
/// consecutive elements of each operand's storage order with consecutive invocations. Only
/// edge tiles need the bounds checks: where the tile lies inside C and the k step inside K
/// (`whole`, uniform over the workgroup), staging runs a copy of its loops without them (the
/// issue's "edge tiles handled without a clamp on every element"): two comparisons and a
/// branch fewer per staged element, or per pair.
///
/// Each invocation holds a `rows` x `cols` register block. Plain, the block is strided as
/// [`gemm_entry`]'s (rows WG_Y apart, columns WG_X apart) and each k step reads it with scalar
/// loads. With [`Block::quads`] its rows and columns come in groups of 4 adjacent ones (row
/// group g is rows `g·4·WG_Y + 4·lid.y + 0..3` of the tile, columns likewise with WG_X), the
/// tiles are staged into workgroup arrays of vec4 (element e of the tile's k-th row in vec4
/// e/4, component e%4), and each k step reads `rows/4` + `cols/4` vec4s, neighbouring lanes
/// neighbouring vec4s.
///
/// Each k step is: stage, barrier, products, barrier. With [`Block::pipelined`] the workgroup
/// arrays hold two copies of each tile and step `s` is: its storage loads into registers (the
/// `sa{e}`/`sb{e}` of the elements this invocation stages), the products of step `s - 1` from
/// the copy it was stored in, the registers into the other copy, one barrier; after the loops
/// the last step's products. So the loads are in flight during the products before their
/// first use, and a copy is overwritten two barriers after its last reader started: the
/// barrier of the step that read it orders every invocation's reads before the next step's
/// writes to the copy. The loops over K stay the caller's (`k_open`/`k_close`): the pipeline
/// carries only the step count `s` across them.
fn tiled_entry(entry: &str, b: Block, ops: &Tiled) -> String {
    tiled_entry_with(entry, b, ops, None)
}

/// [`tiled_entry`], its products on the adapter's matrix units where `coop` is given (see
/// [`Coop`]).
fn tiled_entry_with(entry: &str, b: Block, ops: &Tiled, coop: Option<Coop>) -> String {
    let (rows, cols) = (b.rows, b.cols);
    // Coop: each k step is one or more of the matrices' depth (16 deep for 16x16x16).
    let bk = coop.map_or(TILE_K, Coop::k_step);
    assert!(!b.quads || (rows % 4 == 0 && cols % 4 == 0), "quads need rows and cols in fours");
    assert!(coop.is_none() || !b.quads, "the matrix units' tiles are staged as scalars");
    // The workgroup arrays' element, how many elements of a tile row each holds, and the
    // invocation's first row and column in the tile.
    let (elem, per, lane_step) = match (coop, b.quads) {
        (Some(_), _) => ("AB", "1u", ""),
        (None, true) => ("vec4<f32>", "4u", " * 4u"),
        (None, false) => ("f32", "1u", ""),
    };
    let copies = if b.pipelined { "2u * " } else { "" };
    // Elements between one staged k row of a tile and the next: the tile's width, plus with
    // matrix units a skew (see [`Coop::skew`]).
    let skew = coop.map_or(0, |c| c.skew);
    // Invocations per workgroup: the launch's with scalar products, the coop layout's with
    // matrix units (whose tile stays 8·WG_Y x 8·WG_X: [`Coop::invocations`]).
    let invocations = coop.map_or(TILED_WG.0 * TILED_WG.1, |c| c.invocations);
    let inv = if coop.is_some() { format!("{invocations}u") } else { "WG_X * WG_Y".to_string() };
    // The type a staged value is held in between its load and its tile (the matrices' element
    // type with matrix units, else f32), and the pair loads that give it ([`Pairs`]).
    let held = if coop.is_some() { "AB" } else { "f32" };
    let pair_loads =
        ops.pairs.as_ref().map(|q| if coop.is_some() { (q.coop_a2, q.coop_b2) } else { (q.load_a2, q.load_b2) });
    let mut out = String::new();
    push(
        &mut out,
        [
            format!("var<workgroup> {entry}_a: array<{elem}, {copies}{bk}u * ({rows}u * WG_Y + {skew}u) / {per}>;"),
            format!("var<workgroup> {entry}_b: array<{elem}, {copies}{bk}u * ({cols}u * WG_X + {skew}u) / {per}>;"),
        ],
    );
    if coop.is_some() {
        // Subgroup builtins need a 1-D workgroup: the 2-D position comes from the index.
        push(
            &mut out,
            [
                format!("@compute @workgroup_size({inv}, 1, 1)"),
                format!(
                    "fn {entry}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, \
                     @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, \
                     @builtin(subgroup_size) lanes: u32) {{"
                ),
                "    let lid = vec2<u32>(li % WG_X, li / WG_X);".into(),
            ],
        );
    } else {
        push(
            &mut out,
            [
                "@compute @workgroup_size(WG_X, WG_Y, 1)".to_string(),
                format!(
                    "fn {entry}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, \
                     @builtin(local_invocation_index) li: u32) {{"
                ),
            ],
        );
    }
    out.push_str(ops.prelude);
    push(
        &mut out,
        [
            format!("    const TILE_K = {bk}u;"),
            format!("    let tm = {rows}u * WG_Y;"),
            format!("    let tn = {cols}u * WG_X;"),
            format!("    let sta = tm + {skew}u;"),
            format!("    let stb = tn + {skew}u;"),
            "    let rt = wg.y * tm;".into(),
            "    let ct = wg.x * tn;".into(),
            // Whether the tile lies inside C: with a whole k step (`whole`), its staging skips
            // the bounds checks of every element, which only edge tiles need.
            "    let whole_mn = rt + tm <= p.m && ct + tn <= p.n;".into(),
            format!("    let row0 = rt + lid.y{lane_step};"),
            format!("    let col0 = ct + lid.x{lane_step};"),
        ],
    );
    if let Some(c) = coop {
        out.push_str(&c.accumulators(entry, ops.direct.as_ref()));
    } else {
        push(&mut out, accumulators(rows, cols));
    }
    // Where staged element `e` of tile row `kk` of a tile goes, its k rows `t` elements apart
    // (`sta`/`stb`), in the copy that starts at `off` (an expression ending in " + ", or empty).
    let slot = |tile: &str, t: &str, e: &str, kk: &str, off: &str| {
        if b.quads {
            format!("{entry}_{tile}[{off}{kk} * ({t} / 4u) + {e} / 4u][{e} % 4u]")
        } else {
            format!("{entry}_{tile}[{off}{kk} * {t} + {e}]")
        }
    };
    // One k step's products from the tiles' copies at `off_a`/`off_b`, at `indent`.
    let products = |off_a: &str, off_b: &str, indent: &str| -> String {
        if let Some(c) = coop {
            return c.products(entry, bk, off_a, off_b, indent);
        }
        let inner = format!("{indent}    ");
        let mut lines = vec![format!("{indent}for (var kk = 0u; kk < {bk}u; kk++) {{")];
        if b.quads {
            let comp = ["x", "y", "z", "w"];
            lines.extend(
                (0..rows / 4)
                    .map(|g| format!("{inner}let aq{g} = {entry}_a[{off_a}kk * (sta / 4u) + {g}u * WG_Y + lid.y];")),
            );
            lines.extend(
                (0..cols / 4)
                    .map(|g| format!("{inner}let bq{g} = {entry}_b[{off_b}kk * (stb / 4u) + {g}u * WG_X + lid.x];")),
            );
            lines.extend((0..rows).map(|i| format!("{inner}let a{i} = aq{}.{};", i / 4, comp[i as usize % 4])));
            lines.extend((0..cols).map(|j| format!("{inner}let b{j} = bq{}.{};", j / 4, comp[j as usize % 4])));
        } else {
            lines.extend(
                (0..rows).map(|i| format!("{inner}let a{i} = {entry}_a[{off_a}kk * sta + lid.y + {i}u * WG_Y];")),
            );
            lines.extend(
                (0..cols).map(|j| format!("{inner}let b{j} = {entry}_b[{off_b}kk * stb + lid.x + {j}u * WG_X];")),
            );
        }
        lines.extend(fmas(rows, cols, &inner));
        lines.push(format!("{indent}}}"));
        lines.join("\n") + "\n"
    };
    let (k_end, trans_a, trans_b) = (ops.k_end, ops.trans_a, ops.trans_b);
    if b.pipelined {
        // The elements of each tile one invocation stages per step (the launch shape is
        // TILED_WG's, which the variant tables use for these entries).
        let staged = |tile_rows: u32| (tile_rows * bk).div_ceil(invocations);
        let (na, nb) = (staged(rows * TILED_WG.1), staged(cols * TILED_WG.0));
        let partial = |tile_rows: u32| !(tile_rows * bk).is_multiple_of(invocations);
        let (guard_a, guard_b) = (partial(rows * TILED_WG.1), partial(cols * TILED_WG.0));
        // Lines staging `count` elements of one tile into registers `{v}{e}`, at row or column
        // `{v}_x{e}` and k `{v}_k{e}` of a tile `width` wide: consecutive invocations along the
        // width where `across` holds, else along k; `inside` bounds the row or column. With
        // `pair` (its condition and its two-element load, [`Pairs`]), where the condition holds
        // element pairs 2e, 2e + 1 come from one load: pair e of the invocation is pair
        // `li + e·invocations` of the tile, the same pairs of neighbouring elements along the
        // operand's storage that consecutive invocations read one by one otherwise.
        let stage = |v: &str,
                     count: u32,
                     width: &str,
                     across: &str,
                     guard: bool,
                     inside: &dyn Fn(&str) -> String,
                     load: &dyn Fn(&str, &str) -> String,
                     pair: Option<(&str, &Expr)>| {
            // Each element's load, with or without the bounds checks (without: the step is
            // whole, and only the guard against invocations past the tile remains).
            let mut lines = String::new();
            let mut loads = [String::new(), String::new()];
            for e in 0..count {
                let (x, k) = (format!("{v}_x{e}"), format!("{v}_k{e}"));
                let (load, inside) = (load(&x, &k), inside(&x));
                let guard = if guard { format!("{v}_i{e} < {width} * TILE_K") } else { String::new() };
                let _ = write!(
                    lines,
                    "        let {v}_i{e} = li + {e}u * {inv};
        var {x} = {v}_i{e} / TILE_K;
        var {k} = {v}_i{e} % TILE_K;
        if ({across}) {{ {x} = {v}_i{e} % {width}; {k} = {v}_i{e} / {width}; }}
        var {v}{e} = {held}(0.0);
"
                );
                let checked = [guard.as_str(), &inside, &format!("k0 + {k} < {k_end}")]
                    .iter()
                    .filter(|c| !c.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" && ");
                for (text, cond) in loads.iter_mut().zip([guard.as_str(), &checked]) {
                    let body = format!("var v = 0.0; {load} {v}{e} = {held}(v);");
                    let _ = if cond.is_empty() {
                        writeln!(text, "        {{ {body} }}")
                    } else {
                        writeln!(text, "        if ({cond}) {{ {body} }}")
                    };
                }
            }
            let [unchecked, checked] = loads;
            let by_whole = |unchecked: &str, checked: &str| {
                format!("        if (whole) {{\n{unchecked}        }} else {{\n{checked}        }}\n")
            };
            // Pairs cover the tile only where every invocation stages an even count, unguarded.
            let Some((cond, load2)) = pair.filter(|_| count.is_multiple_of(2) && !guard) else {
                return lines + &by_whole(&unchecked, &checked);
            };
            lines += &format!("        if ({cond}) {{\n");
            let mut pair_texts = [String::new(), String::new()];
            for e in (0..count).step_by(2) {
                let (x, k, x1, k1) =
                    (format!("{v}_x{e}"), format!("{v}_k{e}"), format!("{v}_x{}", e + 1), format!("{v}_k{}", e + 1));
                let (j, load2) = (format!("{v}_j{e}"), load2(&x, &k));
                let _ = write!(
                    lines,
                    "            let {j} = li + {half}u * {inv};
            if ({across}) {{ {x} = 2u * ({j} % ({width} / 2u)); {k} = {j} / ({width} / 2u); {x1} = {x} + 1u; {k1} = {k}; }}
            else {{ {x} = {j} / (TILE_K / 2u); {k} = 2u * ({j} % (TILE_K / 2u)); {x1} = {x}; {k1} = {k} + 1u; }}
",
                    half = e / 2,
                );
                let e1 = e + 1;
                let _ = writeln!(pair_texts[0], "            {{ let w = {load2}; {v}{e} = w.x; {v}{e1} = w.y; }}");
                let _ = write!(
                    pair_texts[1],
                    "            if ({inside} && k0 + {k} < {k_end}) {{
                let w = {load2};
                {v}{e} = w.x;
                if ({inside1} && k0 + {k1} < {k_end}) {{ {v}{e1} = w.y; }}
            }}
",
                    inside = inside(&x),
                    inside1 = inside(&x1),
                );
            }
            lines
                + &by_whole(&pair_texts[0], &pair_texts[1])
                + "        } else {\n"
                + &by_whole(&unchecked, &checked)
                + "        }\n"
        };
        let copy_a = format!("(TILE_K * sta / {per})");
        let copy_b = format!("(TILE_K * stb / {per})");
        out.push_str("    var s = 0u;\n");
        if coop.is_some() {
            let _ = write!(
                out,
                "    for (var i = li; i < {copy_a}; i += {inv}) {{ {entry}_a[{copy_a} + i] = AB(0.0); }}
    for (var i = li; i < {copy_b}; i += {inv}) {{ {entry}_b[{copy_b} + i] = AB(0.0); }}
    workgroupBarrier();
"
            );
        }
        out.push_str(ops.k_open);
        let _ = writeln!(out, "        let whole = whole_mn && k0 + TILE_K <= {k_end};");
        let load_a = |x: &str, k: &str| (ops.load_a)(&format!("rt + {x}"), &format!("k0 + {k}"));
        let load_b = |x: &str, k: &str| (ops.load_b)(&format!("k0 + {k}"), &format!("ct + {x}"));
        let not_trans_b = format!("!({trans_b})");
        let load_a2 = ops.pairs.as_ref().zip(pair_loads).map(|(q, (la2, _))| {
            let f: Box<Expr> = Box::new(move |x: &str, k: &str| la2(&format!("rt + {x}"), &format!("k0 + {k}")));
            (q.cond_a, f)
        });
        let load_b2 = ops.pairs.as_ref().zip(pair_loads).map(|(q, (_, lb2))| {
            let f: Box<Expr> = Box::new(move |x: &str, k: &str| lb2(&format!("k0 + {k}"), &format!("ct + {x}")));
            (q.cond_b, f)
        });
        let (inside_a, inside_b) = (|x: &str| format!("rt + {x} < p.m"), |x: &str| format!("ct + {x} < p.n"));
        out.push_str(&stage(
            "sa",
            na,
            "tm",
            trans_a,
            guard_a,
            &inside_a,
            &load_a,
            load_a2.as_ref().map(|(c, f)| (*c, &**f)),
        ));
        out.push_str(&stage(
            "sb",
            nb,
            "tn",
            &not_trans_b,
            guard_b,
            &inside_b,
            &load_b,
            load_b2.as_ref().map(|(c, f)| (*c, &**f)),
        ));
        // The products of step s - 1 (staged into the copy s does not write), at `indent`.
        // With matrix units the products run in every step, the first from the second copy
        // zeroed before the loops (they add nothing): naga requires cooperative-matrix
        // operations in uniform control flow, and `s` is a variable.
        let previous = |indent: &str| {
            let open = if coop.is_some() { "{" } else { "if (s > 0u) {" };
            let inner = format!("{indent}    ");
            format!(
                "{indent}{open}
{inner}let prev_a = ((s + 1u) % 2u) * {copy_a};
{inner}let prev_b = ((s + 1u) % 2u) * {copy_b};
{}{indent}}}
",
                products("prev_a + ", "prev_b + ", &inner)
            )
        };
        out.push_str(&previous("        "));
        let _ = write!(out, "        let cur_a = (s % 2u) * {copy_a};\n        let cur_b = (s % 2u) * {copy_b};\n");
        for (tile, v, count, width, stride, guard) in
            [("a", "sa", na, "tm", "sta", guard_a), ("b", "sb", nb, "tn", "stb", guard_b)]
        {
            for e in 0..count {
                let at = slot(tile, stride, &format!("{v}_x{e}"), &format!("{v}_k{e}"), &format!("cur_{tile} + "));
                let store = if coop.is_some() { format!("{at} = AB({v}{e});") } else { format!("{at} = {v}{e};") };
                let _ = writeln!(
                    out,
                    "        {}",
                    if guard { format!("if ({v}_i{e} < {width} * TILE_K) {{ {store} }}") } else { store }
                );
            }
        }
        out.push_str("        workgroupBarrier();\n        s++;\n");
        out.push_str(ops.k_close);
        out.push_str(&previous("    "));
    } else {
        let (slot_a, slot_b) = (slot("a", "sta", "r", "kk", ""), slot("b", "stb", "c", "kk", ""));
        let (load_a, load_b) = ((ops.load_a)("rt + r", "k0 + kk"), (ops.load_b)("k0 + kk", "ct + c"));
        let val = |v: &str| if coop.is_some() { format!("AB({v})") } else { v.to_string() };
        // `body` where `cond` holds, or unconditionally where the step is whole (`checked` false).
        let when = |checked: bool, cond: &str, body: &str| {
            if checked {
                format!("if ({cond}) {{ {body} }}")
            } else {
                body.to_string()
            }
        };
        // Both tiles' staging loops, with or without the bounds checks.
        let loops = |checked: bool| -> String {
            let mut loop_a = format!(
                "        for (var i = li; i < tm * {bk}u; i += {inv}) {{
            var r = i / {bk}u;
            var kk = i % {bk}u;
            if ({trans_a}) {{ r = i % tm; kk = i / tm; }}
            var v = 0.0;
            {load}
            {slot_a} = {v};
        }}
",
                load = when(checked, &format!("rt + r < p.m && k0 + kk < {k_end}"), &load_a),
                v = val("v")
            );
            let mut loop_b = format!(
                "        for (var i = li; i < tn * {bk}u; i += {inv}) {{
            var c = i % tn;
            var kk = i / tn;
            if ({trans_b}) {{ c = i / {bk}u; kk = i % {bk}u; }}
            var v = 0.0;
            {load}
            {slot_b} = {v};
        }}
",
                load = when(checked, &format!("ct + c < p.n && k0 + kk < {k_end}"), &load_b),
                v = val("v")
            );
            // Where the operands allow, pairs of neighbouring elements per load ([`Pairs`]): pair
            // j of the tile is elements (x, k) and (x + 1, k) staged across, (x, k) and
            // (x, k + 1) along k. The second of a pair is inside wherever the first is not at an
            // edge.
            if let (Some(q), Some((la2, lb2))) = (&ops.pairs, pair_loads) {
                // One tile's pair loop around its element loop: `x` is the tile's row (A) or
                // column (B), `width` its extent, `inside` bounds `x`, `load2` the pair's load at
                // (x, kk).
                let pairs = |cond: &str,
                             tile: &str,
                             width: &str,
                             stride: &str,
                             across: &str,
                             inside: &dyn Fn(&str) -> String,
                             load2: &str,
                             elements: &str| {
                    let (first, second) = (slot(tile, stride, "x", "kk", ""), slot(tile, stride, "x1", "kk1", ""));
                    let load = if checked {
                        format!(
                            "if ({} && k0 + kk < {k_end}) {{
                w = {load2};
                if (!({}) || k0 + kk1 >= {k_end}) {{ w.y = 0.0; }}
            }}",
                            inside("x"),
                            inside("x1")
                        )
                    } else {
                        format!("w = {load2};")
                    };
                    format!(
                        "        if ({cond}) {{
        for (var j = li; j < {width} * {bk}u / 2u; j += {inv}) {{
            var x = j / {half}u;
            var kk = 2u * (j % {half}u);
            var x1 = x;
            var kk1 = kk + 1u;
            if ({across}) {{ x = 2u * (j % ({width} / 2u)); kk = j / ({width} / 2u); x1 = x + 1u; kk1 = kk; }}
            var w = vec2<{held}>();
            {load}
            {first} = {wx};
            {second} = {wy};
        }}
        }} else {{
{elements}        }}
",
                        half = bk / 2,
                        wx = val("w.x"),
                        wy = val("w.y"),
                    )
                };
                let (load_a2, load_b2) = (la2("rt + x", "k0 + kk"), lb2("k0 + kk", "ct + x"));
                let (inside_a, inside_b) = (|x: &str| format!("rt + {x} < p.m"), |x: &str| format!("ct + {x} < p.n"));
                let not_trans_b = format!("!({trans_b})");
                loop_a = pairs(q.cond_a, "a", "tm", "sta", trans_a, &inside_a, &load_a2, &loop_a);
                loop_b = pairs(q.cond_b, "b", "tn", "stb", &not_trans_b, &inside_b, &load_b2, &loop_b);
            }
            loop_a + &loop_b
        };
        let (loop_a, loop_b) = (
            format!("        let whole = whole_mn && k0 + TILE_K <= {k_end};\n        if (whole) {{\n{}", loops(false)),
            format!("        }} else {{\n{}        }}\n", loops(true)),
        );
        out.push_str(ops.k_open);
        let _ = write!(
            out,
            "{loop_a}{loop_b}        workgroupBarrier();
{}        workgroupBarrier();
",
            products("", "", "        "),
        );
        out.push_str(ops.k_close);
    }
    if let Some(c) = coop {
        out.push_str(&c.epilogue(entry, ops.store, ops.direct.as_ref()));
        return out;
    }
    push(&mut out, acc_array(rows, cols));
    let (row, col) = if b.quads {
        ("row0 + (i / 4u) * 4u * WG_Y + i % 4u", "col0 + (j / 4u) * 4u * WG_X + j % 4u")
    } else {
        ("row0 + i * WG_Y", "col0 + j * WG_X")
    };
    store_loop_at(&mut out, (rows, row), (cols, col), ops.store);
    out
}

/// The products of a tiled entry on the adapter's matrix units (cooperative matrices): the
/// workgroup's 128 x 128 tile (an 8x8 block at [`TILED_WG`]) is a grid of `size` x `size`
/// blocks of C, each a cooperative-matrix accumulator (f32), shared among the workgroup's
/// subgroups: with `lanes` lanes (the adapter's largest subgroup size) there are
/// 256 / `lanes` of them, and each owns a rectangle of the grid (`rect`: 2 x 4 blocks for
/// 16x16 matrices and 32 lanes, NVIDIA's; 2 x 4 for 8x8 and 8 lanes, lavapipe's). The tiles
/// are staged as the matrices' element type (`AB`, rounded as stored), K-major as the scalar
/// entries stage them, so that a block of A is a column-major matrix and a block of B a
/// row-major one, each with the tile's width as stride. After the K loops each accumulator
/// goes through the subgroup's `size` x `size` block of workgroup memory to the entry's own
/// store, element by element inside C. Where the driver runs smaller subgroups than `lanes`,
/// the subgroups past the count compute a copy of the last one's rectangle and store nothing.
/// The module declares the aliases `AB`, `CoopA`, `CoopB`, `CoopC` (`ops::gemm::coop_aliases`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coop {
    pub size: u32,
    pub lanes: u32,
    /// Elements added to each staged k row of a tile: by default 8, 16 bytes in f16 tiles (32
    /// in the f32 tiles of 8x8 f32 matrices). Unskewed, a row is 128 elements (256 or 512
    /// bytes), so the rows one block's load reads (a block of A is column-major: its columns
    /// are rows of the staged tile) all start in the same memory bank, and so do the stores of
    /// invocations that stage consecutive k (A where a Linear stores it k-contiguous). On
    /// NVIDIA's 32 banks of 4 bytes that is an 8-way conflict on each 16-byte row a block load
    /// reads, and up to 16-way on the staging stores. With 16 bytes more per row each row
    /// starts 4 banks further on, as NVIDIA's own sample (`vk_cooperative_matrix_perf`,
    /// `shmem.comp`) skews its tiles. Rows stay 16-byte aligned, as Vulkan requires of a
    /// matrix load's pointer and stride (VUID-RuntimeSpirv-OpCooperativeMatrixLoadKHR-08986),
    /// so a skew is a multiple of 8 elements.
    /// `ENGINE_COOP_SKEW` (0, 8 or 16) sets it, for a GPU run to compare.
    pub skew: u32,
    /// Matrix depths per k step, so per pair of barriers and per staging round (1 by default;
    /// `ENGINE_COOP_DEPTH=2` doubles the tiles' depth, for a GPU run to compare).
    pub depth: u32,
    /// Invocations per workgroup (the tile stays 128 x 128): 256 by default, 8 subgroups of
    /// 32 lanes with 2 x 4 blocks each. With 128 (`ENGINE_COOP_INVOCATIONS=128`, for a GPU run
    /// to compare) each of 4 subgroups holds 4 x 4 blocks: 8 matrix loads from workgroup
    /// memory per 16 products instead of 6 per 8. On NVIDIA a 16x16 f16 load is 512 bytes,
    /// 4 cycles of an SM's 128 bytes per cycle, and a product 2 cycles of its tensor cores,
    /// so the loads alone bound the 2 x 4 layout near 2/3 of the matrix units' rate, the
    /// 4 x 4 one at their rate; in exchange each invocation stages twice the elements and
    /// holds twice the accumulators (16 x 8 registers on 32 lanes).
    pub invocations: u32,
}

impl Coop {
    /// `size` x `size` matrices on the open adapter, written for its largest subgroup size
    /// (without an open adapter, as for the offline translation test: NVIDIA's 32), in the
    /// process's tile layout (`ENGINE_COOP_SKEW`, `ENGINE_COOP_DEPTH`, `ENGINE_COOP_INVOCATIONS`).
    pub fn for_adapter(size: u32) -> Coop {
        let lanes = crate::gpu::opened().map(|c| c.caps.subgroup_sizes.1).filter(|&l| l > 0).unwrap_or(32);
        let layout = crate::gpu::options().map(|o| o.coop_layout).unwrap_or_default();
        Coop { size, lanes, skew: layout.skew, depth: layout.depth, invocations: layout.invocations }
    }
    /// The depth of a k step: the matrices' (at least the scalar entries' 8) times `depth`.
    pub fn k_step(self) -> u32 {
        TILE_K.max(self.size) * self.depth
    }
    /// Whether an entry can be written: a power-of-two subgroup size, at most the workgroup,
    /// and at least one block of the tile for every subgroup; the workgroup a multiple of the
    /// tile's width (conv2d's staging: [`conv_tiled_entry`]).
    pub fn fits(self) -> bool {
        let (g, n) = (self.grid(), self.invocations / self.lanes.max(1));
        self.lanes.is_power_of_two()
            && self.lanes <= self.invocations
            && g * g >= n
            && self.invocations.is_multiple_of(8 * TILED_WG.0)
            && self.invocations <= TILED_WG.0 * TILED_WG.1
    }
    /// The staging of a coop entry: the `8x8 tiled` block's, software-pipelined or not
    /// ([`Block::pipelined`]: two copies of each tile, the next step's storage loads in flight
    /// during this step's products).
    pub const fn block(pipelined: bool) -> Block {
        if pipelined {
            Block::tiled(8, 8).pipelined()
        } else {
            Block::tiled(8, 8)
        }
    }
    /// The epilogue's workgroup array: one f32 block per subgroup.
    fn declarations(self, entry: &str) -> String {
        format!("var<workgroup> {entry}_c: array<f32, {}u>;\n", self.subgroups() * self.size * self.size)
    }
    /// Blocks along each side of the 128 x 128 tile.
    fn grid(self) -> u32 {
        8 * TILED_WG.0 / self.size
    }
    /// Subgroups with a rectangle of blocks.
    fn subgroups(self) -> u32 {
        self.invocations / self.lanes
    }
    /// One subgroup's rectangle of blocks: rows x columns, as square as a power of two allows.
    fn rect(self) -> (u32, u32) {
        let blocks = self.grid() * self.grid() / self.subgroups();
        assert!(blocks >= 1 && blocks.is_power_of_two(), "{self:?}: {blocks} blocks per subgroup");
        let rows = 1 << (blocks.trailing_zeros() / 2);
        (rows, blocks / rows)
    }
    /// Bytes of workgroup memory an entry takes: the two staged tiles, their rows skewed
    /// (2-byte elements where `half`; two copies of each where `pipelined`) and one f32 block
    /// per subgroup for the epilogue. 16.5 KiB for 16x16 f16 on 32 lanes, 25 KiB pipelined
    /// (past WebGPU's 16 KiB default; the device is opened with the adapter's limits: 48 KiB
    /// on NVIDIA; an adapter with less runs the plain kernels, [`crate::ops::gemm::coop`]).
    pub fn workgroup_bytes(self, half: bool, pipelined: bool) -> u32 {
        let tile = (8 * TILED_WG.0 + self.skew) * self.k_step() * if half { 2 } else { 4 };
        let copies = if pipelined { 2 } else { 1 };
        2 * copies * tile + self.subgroups() * self.size * self.size * 4
    }

    /// The subgroup's rectangle and its accumulators' first values, loaded from workgroup
    /// memory (rather than written as constants of a cooperative-matrix type, which SPIR-V
    /// consumers may not all accept): zero, or with `direct` where the tile goes straight to C
    /// (`direct`, a WGSL bool the epilogue reads), its bias. Such a tile has no store of its own
    /// to add the bias in, so each accumulator starts from its block of the bias: the epilogue's
    /// array is filled with one block per column (row) of the tile's grid of blocks, every row
    /// (column) of a block the bias of the block's columns (rows), and each accumulator loads
    /// its column's (row's) block. That takes `grid` blocks of the array, which holds one per
    /// subgroup: with fewer subgroups than that (64 lanes), a biased tile goes the other way.
    fn accumulators(self, entry: &str, direct: Option<&Direct>) -> String {
        let (s, n, (qr, qc)) = (self.size, self.subgroups(), self.rect());
        let (across, grid, ss) = (self.grid() / qc, self.grid(), s * s);
        let mut out = format!(
            "    let mine = sg < {n}u;
    let q = min(sg, {last}u);
    let qr = (q / {across}u) * {rs}u;
    let qc = (q % {across}u) * {cs}u;
    let cblk = q * {ss}u;
",
            last = n - 1,
            rs = qr * s,
            cs = qc * s,
        );
        let (all, inv) = (n * ss, self.invocations);
        let biases = direct.filter(|_| n >= grid);
        let _ = match (direct, biases) {
            (Some(d), Some(_)) => {
                writeln!(out, "    let direct = {};\n    let biased = direct && ({});", d.cond, d.bias)
            }
            (Some(d), None) => writeln!(out, "    let direct = {} && !({});", d.cond, d.bias),
            (None, _) => Ok(()),
        };
        match biases {
            Some(d) => {
                // Element i of the array: block i / ss of the grid's row (column) of blocks,
                // its row (column) within the block (i % ss) / s.
                let (r, col) = if d.bias_by_row {
                    (format!("rt + (i / {ss}u) * {s}u + (i % {ss}u) / {s}u"), "ct".to_string())
                } else {
                    ("rt".to_string(), format!("ct + (i / {ss}u) * {s}u + i % {s}u"))
                };
                let inside = if grid < n { format!(" && i < {}u", grid * ss) } else { String::new() };
                let _ = write!(
                    out,
                    "    for (var i = li; i < {all}u; i += {inv}u) {{
        var v = 0.0;
        if (biased{inside}) {{ v = {at}; }}
        {entry}_c[i] = v;
    }}
",
                    at = (d.bias_at)(&r, &col),
                );
            }
            None => {
                let _ = writeln!(out, "    for (var i = li; i < {all}u; i += {inv}u) {{ {entry}_c[i] = 0.0; }}");
            }
        }
        out.push_str("    workgroupBarrier();\n");
        for i in 0..qr {
            for j in 0..qc {
                // A biased accumulator loads its grid row's (column's) block; the rest copy the
                // first of their row (column), or the first of all where nothing is biased.
                let init = match biases {
                    Some(d) if (d.bias_by_row && j == 0) || (!d.bias_by_row && i == 0) => {
                        let blk = if d.bias_by_row { format!("qr / {s}u + {i}u") } else { format!("qc / {s}u + {j}u") };
                        format!("coopLoadT<CoopC>(&{entry}_c[({blk}) * {ss}u], {s}u)")
                    }
                    Some(d) if d.bias_by_row => format!("acc{i}_0"),
                    Some(_) => format!("acc0_{j}"),
                    None if i + j == 0 => format!("coopLoadT<CoopC>(&{entry}_c[0u], {s}u)"),
                    None => "acc0_0".into(),
                };
                let _ = writeln!(out, "    var acc{i}_{j} = {init};");
            }
        }
        out
    }

    /// One k step's products (`bk` deep, from the tiles' copies at `off_a`/`off_b`: expressions
    /// ending in " + ", or empty), at `indent`.
    fn products(self, entry: &str, bk: u32, off_a: &str, off_b: &str, indent: &str) -> String {
        let (s, (qr, qc)) = (self.size, self.rect());
        let mut out = String::new();
        // Depth d's blocks are a{d}_{i} and b{d}_{j}.
        for (d, k) in (0..bk).step_by(s as usize).enumerate() {
            for i in 0..qr {
                let at = format!("{off_a}{k}u * sta + qr + {}u", i * s);
                let _ = writeln!(out, "{indent}let a{d}_{i} = coopLoad<CoopA>(&{entry}_a[{at}], sta);");
            }
            for j in 0..qc {
                let at = format!("{off_b}{k}u * stb + qc + {}u", j * s);
                let _ = writeln!(out, "{indent}let b{d}_{j} = coopLoadT<CoopB>(&{entry}_b[{at}], stb);");
            }
            for i in 0..qr {
                let fmas: Vec<String> =
                    (0..qc).map(|j| format!("acc{i}_{j} = coopMultiplyAdd(a{d}_{i}, b{d}_{j}, acc{i}_{j});")).collect();
                let _ = writeln!(out, "{indent}{}", fmas.join(" "));
            }
        }
        out
    }

    /// After the K loops: each accumulator through the subgroup's block of workgroup memory
    /// to `store` (the scalar entries' store body: it sees `r`, `col` and `acc[i][j]`, here
    /// the element). Every invocation runs the same barriers. With `direct`, where its
    /// condition holds the accumulators go straight to C instead (no workgroup memory, no
    /// barriers: two per accumulator otherwise, which for K = 320, 20 steps of 16, is as
    /// many barriers again as the K loop's). Vulkan requires a coop load's or store's pointer
    /// and stride aligned to 16 bytes or a whole row or column, whichever is less
    /// (VUID-RuntimeSpirv-OpCooperativeMatrixLoadKHR-08986): 16 bytes for C's f32 rows, which
    /// the condition checks within C's binding, whose offset is a multiple of 16 bytes on every
    /// adapter (`gpu::Context::offset_align`). Lavapipe accepts unaligned ones, so no test here
    /// can check either.
    fn epilogue(self, entry: &str, store: &str, direct: Option<&Direct>) -> String {
        let (s, (qr, qc)) = (self.size, self.rect());
        let body = store.replace("acc[i][j]", "acc_v");
        let mut out = String::new();
        if let Some(d) = direct {
            // The index and stride as `let`s: naga 30's SPIR-V writer panics ("expression not
            // cached") on a coop store whose pointer or stride is an expression of its own.
            let _ = writeln!(out, "    if (direct) {{\n        let stride = {};\n        if (mine) {{", d.stride);
            for i in 0..qr {
                for j in 0..qc {
                    let at = (d.at)(&format!("rt + qr + {}u", i * s), &format!("ct + qc + {}u", j * s));
                    let _ = writeln!(out, "            let at{i}_{j} = {at};\n            coopStoreT(acc{i}_{j}, &{}[at{i}_{j}], stride);", d.array);
                }
            }
            out.push_str("        }\n        return;\n    }\n");
        }
        for i in 0..qr {
            for j in 0..qc {
                let _ = write!(
                    out,
                    "    if (mine) {{ coopStoreT(acc{i}_{j}, &{entry}_c[cblk], {s}u); }}
    workgroupBarrier();
    if (mine) {{
        for (var e = lane; e < {ss}u; e += lanes) {{
            let r = rt + qr + {ri}u + e / {s}u;
            let col = ct + qc + {cj}u + e % {s}u;
            if (r < p.m && col < p.n) {{
            let acc_v = {entry}_c[cblk + e];
{body}            }}
        }}
    }}
    workgroupBarrier();
",
                    ss = s * s,
                    ri = i * s,
                    cj = j * s,
                );
            }
        }
        out.push_str("}\n");
        out
    }
}

/// [`conv_tiled_entry`] with its products on the matrix units ([`Coop`]); declares the
/// epilogue's workgroup array, the module the aliases (`ops::gemm::coop_aliases`).
pub fn conv_coop_entry(entry: &str, coop: Coop, pipelined: bool) -> String {
    coop.declarations(entry) + &tiled_entry_with(entry, Coop::block(pipelined), &conv_ops(), Some(coop))
}

/// The conv entries' first lines: wg.z is the image and the slice of the summed channels
/// (split-K: `split_chans` channels per slice, each slice's partial sums into its own copy of C,
/// which starts at `c_base`; known from the start, so that the coop entries can choose their
/// store before the K loop, [`Coop::accumulators`]).
const CONV_SLICE: &str = "    let img = wg.z % p.imgs;
    let split = wg.z / p.imgs;
    let ch0 = split * p.split_chans;
    let ch1 = min(ch0 + p.split_chans, p.chans);
    let c_base = p.c_shift + (split * p.imgs + img) * p.c_img;
";

/// The conv entries' store: the bias once (slice 0), then beta·C where chunks accumulate.
const CONV_STORE: &str = "            var v = acc[i][j];
            if (HAS_BIAS && split == 0u) {
                v += bias[p.bias_shift + r];
            }
            let ci = c_base + r * p.c_row + col;
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
";

/// One conv2d forward / backward-input entry (`conv.wgsl`'s `MODE`): rows are output (input)
/// channels, columns pixels, 8 columns per invocation.
pub fn conv_entry(entry: &str, b: Block) -> String {
    let rows = b.rows;
    let mut out = String::new();
    push(&mut out, signature(entry, b.broadcast));
    out.push_str(CONV_SLICE);
    push(
        &mut out,
        [format!("    let row0 = wg.y * {rows}u * WG_Y + lid.y;"), "    let col0 = wg.x * 8u * WG_X + lid.x;".into()],
    );
    push(&mut out, row_indices(b, "r", |k| format!("min(row0 + {k} * WG_Y, p.m - 1u)")));
    push(&mut out, (0..8).map(|j| format!("    let q{j} = min(col0 + {j}u * WG_X, p.n - 1u);")));
    push(&mut out, accumulators(rows, 8));
    push(
        &mut out,
        [
            "    let b_base = p.b_shift + img * p.b_img;",
            "    for (var ky = 0u; ky < p.kh; ky++) {",
            "        for (var kx = 0u; kx < p.kw; kx++) {",
            "            let tap = ky * p.kw + kx;",
        ]
        .map(String::from),
    );
    push(&mut out, (0..8).map(|j| format!("            let t{j} = tap_of(q{j}, ky, kx);")));
    if b.broadcast {
        push(
            &mut out,
            (0..rows / 8).map(|g| format!("            let ramine{g} = p.a_shift + rmine{g} * p.a_rs + tap;")),
        );
    } else {
        push(&mut out, (0..rows).map(|i| format!("            let ra{i} = p.a_shift + r{i} * p.a_rs + tap;")));
    }
    push(
        &mut out,
        [
            "            for (var ch = ch0; ch < ch1; ch++) {",
            "                let ac = ch * p.a_cs;",
            "                let bc = b_base + ch * p.b_plane;",
        ]
        .map(String::from),
    );
    push(&mut out, rows_of_a(b, "                ", |r| format!("elem_a(ra{r} + ac)")));
    push(&mut out, (0..8).map(|j| format!("                let b{j} = select(0.0, elem_b(bc + t{j}.off), t{j}.ok);")));
    push(&mut out, fmas(rows, 8, "                "));
    push(&mut out, ["            }", "        }", "    }"].map(String::from));
    push(&mut out, acc_array(rows, 8));
    store_loop(&mut out, rows, 8, CONV_STORE);
    out
}

/// One conv2d weight-gradient entry: dw for one tap (wg.z % taps); rows are output channels
/// (A = dy), columns input channels (B = x). The sum runs over the output rows of every image
/// (image-major: row g is image g / OH, output row g % OH); slice wg.z / taps sums rows
/// `split_chans` of them from slice·split_chans into its own copy of dw (`c_img` apart), which
/// the launcher sums (split-K over pixels, on GPUs); unsplit, one slice of every row.
pub fn conv_dw_entry(entry: &str, b: Block) -> String {
    let rows = b.rows;
    let mut out = String::from(
        "// dw for one tap (wg.z % taps) over one slice of the output rows (wg.z / taps): rows are output \
         channels (A = dy), columns input channels (B = x).\n",
    );
    push(&mut out, signature(entry, b.broadcast));
    out.push_str(CONV_DW_SLICE);
    push(
        &mut out,
        [format!("    let row0 = wg.y * {rows}u * WG_Y + lid.y;"), "    let col0 = wg.x * 8u * WG_X + lid.x;".into()],
    );
    push(&mut out, row_indices(b, "ra", |k| format!("min(row0 + {k} * WG_Y, p.m - 1u) * p.a_rs")));
    push(&mut out, (0..8).map(|j| format!("    let cb{j} = min(col0 + {j}u * WG_X, p.n - 1u) * p.b_plane;")));
    push(&mut out, accumulators(rows, 8));
    push(
        &mut out,
        [
            "    for (var img = 0u; img < p.imgs; img++) {",
            "        // This slice's output rows of this image, within the tap's valid range.",
            "        let first = img * p.oh;",
            "        let lo = max(ys.x, select(0u, g0 - first, g0 > first));",
            "        let hi = min(ys.y, select(0u, g1 - first, g1 > first));",
            "        for (var oy = lo; oy < hi; oy++) {",
            "            let iy = oy * p.stride + ky - p.pad;",
            "            let a_row = p.a_shift + img * p.a_img + oy * p.ow * p.a_px;",
            "            let b_row = p.b_shift + img * p.b_img + iy * p.w * p.b_px;",
            "            for (var ox = xs.x; ox < xs.y; ox++) {",
            "                let ao = a_row + ox * p.a_px;",
            "                let bo = b_row + (ox * p.stride + kx - p.pad) * p.b_px;",
        ]
        .map(String::from),
    );
    push(&mut out, rows_of_a(b, "                ", |r| format!("elem_a(ao + ra{r})")));
    push(&mut out, (0..8).map(|j| format!("                let b{j} = elem_b(bo + cb{j});")));
    push(&mut out, fmas(rows, 8, "                "));
    push(&mut out, ["            }", "        }", "    }"].map(String::from));
    push(&mut out, acc_array(rows, 8));
    store_loop(&mut out, rows, 8, CONV_DW_STORE);
    out
}

/// The weight-gradient entries' first lines: wg.z is the tap and the slice of the images' output
/// rows (image-major, `split_chans` of them per slice, the last one clamped); `ys`/`xs` are the
/// output rows and columns whose input the tap reads inside the image.
const CONV_DW_SLICE: &str = "    let taps = p.kh * p.kw;
    let tap = wg.z % taps;
    let split = wg.z / taps;
    let ky = tap / p.kw;
    let kx = tap % p.kw;
    let ys = valid_range(ky, p.h, p.oh);
    let xs = valid_range(kx, p.w, p.ow);
    let g0 = split * p.split_chans;
    let g1 = min(g0 + p.split_chans, p.imgs * p.oh);
";

/// The weight-gradient entries' store: dw[r, col, tap] of this slice's copy.
const CONV_DW_STORE: &str = "            let ci = p.c_shift + split * p.c_img + r * p.c_row + col * taps + tap;
            var v = acc[i][j];
            if (p.beta != 0.0) {
                v += p.beta * c[ci];
            }
            c[ci] = v;
";

/// One tiled conv2d weight-gradient entry: [`conv_dw_entry`]'s product (dw for one tap over
/// one slice of the images' output rows; rows output channels, A = dy, columns input
/// channels, B = x) through [`tiled_entry`]. K runs over the slice's output rows that the tap
/// reads inside the image and, within each row, over its valid columns TILE_K at a time (k is
/// the column), so the staged offsets need no division (a row's last step may be partly
/// zeros). Each operand is staged along whichever of its channel or pixel axes is contiguous
/// (NCHW, or the channels-last copies).
pub fn conv_dw_tiled_entry(entry: &str, b: Block) -> String {
    tiled_entry(entry, b, &conv_dw_ops())
}

/// [`conv_dw_tiled_entry`] with its products on the matrix units ([`Coop`]); declares the
/// epilogue's workgroup array, the module the aliases (`ops::gemm::coop_aliases`).
pub fn conv_dw_coop_entry(entry: &str, coop: Coop, pipelined: bool) -> String {
    coop.declarations(entry) + &tiled_entry_with(entry, Coop::block(pipelined), &conv_dw_ops(), Some(coop))
}

/// [`conv_dw_tiled_entry`]'s loops, loads and store.
fn conv_dw_ops() -> Tiled<'static> {
    Tiled {
        prelude: CONV_DW_SLICE,
        // Rows the tap reads outside the image are skipped by `continue`, not by an `if`
        // around the products: naga takes loads of a local (`g`) for non-uniform, and
        // cooperative-matrix operations must be in uniform control flow.
        k_open: "    for (var g = g0; g < g1; g++) {
    let oy = g % p.oh;
    if (oy < ys.x || oy >= ys.y) { continue; }
    let a_row = p.a_shift + (g / p.oh) * p.a_img + oy * p.ow * p.a_px;
    let b_row = p.b_shift + (g / p.oh) * p.b_img + (oy * p.stride + ky - p.pad) * p.w * p.b_px;
    for (var k0 = xs.x; k0 < xs.y; k0 += TILE_K) {
",
        k_close: "    }\n    }\n",
        k_end: "xs.y",
        load_a: &|r, k| format!("v = elem_a(a_row + ({k}) * p.a_px + ({r}) * p.a_rs);"),
        load_b: &|k, c| format!("v = elem_b(b_row + (({k}) * p.stride + kx - p.pad) * p.b_px + ({c}) * p.b_plane);"),
        trans_a: "p.a_px != 1u",
        trans_b: "p.b_px == 1u",
        store: CONV_DW_STORE,
        pairs: None,
        direct: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{CoopShape, Spec};

    /// Every subgroup size a coop entry may be written for (the offline translation test sees
    /// only the default, 32): each layout's GEMM and conv2d modules parse, validate and
    /// translate to SPIR-V.
    #[test]
    fn coop_entries_validate_for_every_subgroup_size() {
        let mut checked = 0;
        for shape in CoopShape::PREFERENCE {
            for (lanes, (skew, depth, invocations)) in [4, 8, 16, 32, 64, 128].into_iter().flat_map(|l| {
                [(0, 1, 256), (8, 1, 256), (16, 1, 256), (8, 2, 256), (8, 1, 128)].map(|layout| (l, layout))
            }) {
                let coop = Coop { size: shape.size, lanes, skew, depth, invocations };
                if !coop.fits() {
                    continue;
                }
                let (rows, cols) = coop.rect();
                assert_eq!(rows * cols * coop.subgroups(), coop.grid() * coop.grid(), "{coop:?}");
                let aliases = crate::ops::gemm::coop_aliases(shape);
                let spec =
                    Spec::new().u32("WG_X", TILED_WG.0).u32("WG_Y", TILED_WG.1).u32("A_DTYPE", 1).u32("B_DTYPE", 0);
                let gemm = spec.clone().bool("TRANS_A", true).bool("TRANS_B", false).bool("HAS_BIAS", true);
                let conv = spec.u32("MODE", 0).bool("HAS_BIAS", true);
                let (gemm_src, conv_src) =
                    (include_str!("../../shaders/gemm.wgsl"), include_str!("../../shaders/conv.wgsl"));
                for (what, spec, file, pipelined) in [
                    ("gemm", &gemm, gemm_src, false),
                    ("gemm", &gemm, gemm_src, true),
                    ("conv", &conv, conv_src, false),
                    ("conv", &conv, conv_src, true),
                    ("conv_dw", &conv, conv_src, false),
                    ("conv_dw", &conv, conv_src, true),
                ] {
                    let entry = match what {
                        "gemm" => gemm_coop_entry("gemm_coop", coop, pipelined),
                        "conv" => conv_coop_entry("conv_coop", coop, pipelined),
                        _ => conv_dw_coop_entry("conv_dw_coop", coop, pipelined),
                    };
                    let views = if what == "gemm" { crate::ops::gemm::COOP_HALF_VIEWS } else { "" };
                    let source = format!(
                        "enable f16;\nenable wgpu_cooperative_matrix;\n{}{file}{aliases}{views}\n{entry}",
                        spec.wgsl()
                    );
                    let name = format!("{what} {coop:?} {shape:?} pipelined {pipelined}");
                    let module = naga::front::wgsl::parse_str(&source)
                        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
                    let info = naga::valid::Validator::new(
                        naga::valid::ValidationFlags::all(),
                        naga::valid::Capabilities::all(),
                    )
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
                    naga::back::spv::write_vec(&module, &info, &Default::default(), None)
                        .unwrap_or_else(|e| panic!("{name}: SPIR-V: {e}"));
                    checked += 1;
                }
            }
        }
        assert!(checked >= 72, "{checked}");
    }
}
