// Cooperative-matrix GEMM (issue 17): the product of `gemm.wgsl` on the adapter's matrix
// units, through wgpu's experimental cooperative matrices (VK_KHR_cooperative_matrix on Vulkan,
// simdgroup matrices on Metal). Used only where the adapter reports the matrix shape the module is written for and a
// self-test against the plain kernel passed (`ops::gemm::coop`).
//
// A module is `enable f16; enable wgpu_cooperative_matrix;`, then the hand-written part of
// `gemm.wgsl` (Params, bindings, `load_a`, `load_b`, `store`: one definition of the product's
// indexing, transposes, half B, bias, alpha and beta for both; its 4x4 entry goes unused, as in
// the subgroup module), then this file, then the shape's aliases (`ops::gemm::coop_aliases`).
//
// Shapes: S x S x S matrices (S = 16 or 8, and the element types AB of A/B and CR of C, come
// from the aliases Rust appends per module: `CoopA`, `CoopB`, `CoopC`, `AB`, `CR`, `S`).
// A workgroup computes a TM x TN = 4S x 4S tile of C from four subgroups (WG = 4 x the
// subgroup size, a specialisation constant); subgroup s owns the S rows s*S.. of the tile and
// its four S x S accumulators, one per column block. Per step of S along K:
//   1. every invocation stages its share of the A tile [TM, S] and the B tile [S, TN] into
//      workgroup memory as AB (f32 or half storage read, transposes resolved here; elements
//      outside M, N or K are zeros, so edge tiles need no clamp in the product);
//   2. each subgroup loads its A block and the four B blocks and multiply-adds them.
// Then the accumulators go through workgroup memory (`tile_c`) to a guarded epilogue:
// `gemm.wgsl`'s `store` (alpha, the bias, beta).
// Rounding: with AB = f16 both operands are rounded to f16 as they are staged, products and
// sums are CR (f32): torch.autocast's fp16 matmul. The launcher uses the f16 modules only for
// products whose A is already half (autocast inputs), so only B (an f32 master weight) rounds.

const TM: u32 = 4u * S;
const TN: u32 = 4u * S;

var<workgroup> tile_a: array<AB, 4u * S * S>;    // [TM, S] row-major
var<workgroup> tile_b: array<AB, 4u * S * S>;    // [S, TN] row-major
var<workgroup> tile_c: array<CR, 16u * S * S>;   // [TM, TN] row-major

// op(A)[row, kk], or 0 outside the matrix.
fn load_a_or_zero(base: u32, row: u32, kk: u32) -> f32 {
    if (row >= p.m || kk >= p.k) {
        return 0.0;
    }
    return load_a(base, row, kk);
}

// op(B)[kk, col], or 0 outside the matrix.
fn load_b_or_zero(base: u32, kk: u32, col: u32) -> f32 {
    if (kk >= p.k || col >= p.n) {
        return 0.0;
    }
    return load_b(base, kk, col);
}

@compute @workgroup_size(WG, 1, 1)
fn gemm_coop(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
) {
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * TM;
    let col0 = wg.x * TN;
    // The subgroup's strip of rows in the tile (4 subgroups: WG is 4 subgroups wide).
    let strip = min(sg, 3u) * S;

    // Zero accumulators loaded from zeroed workgroup memory rather than written as a null
    // constant of a cooperative-matrix type, which SPIR-V consumers may not all accept.
    for (var i = li; i < TM * TN; i += WG) {
        tile_c[i] = CR(0.0);
    }
    workgroupBarrier();
    var acc0 = coopLoadT<CoopC>(&tile_c[0u], TN);
    var acc1 = acc0;
    var acc2 = acc0;
    var acc3 = acc0;
    for (var k0 = 0u; k0 < p.k; k0 += S) {
        for (var i = li; i < TM * S; i += WG) {
            let r = i / S;
            let kk = i % S;
            tile_a[i] = AB(load_a_or_zero(a_base, row0 + r, k0 + kk));
        }
        for (var i = li; i < S * TN; i += WG) {
            let kk = i / TN;
            let col = i % TN;
            tile_b[i] = AB(load_b_or_zero(b_base, k0 + kk, col0 + col));
        }
        workgroupBarrier();
        let am = coopLoadT<CoopA>(&tile_a[strip * S], S);
        acc0 = coopMultiplyAdd(am, coopLoadT<CoopB>(&tile_b[0u], TN), acc0);
        acc1 = coopMultiplyAdd(am, coopLoadT<CoopB>(&tile_b[S], TN), acc1);
        acc2 = coopMultiplyAdd(am, coopLoadT<CoopB>(&tile_b[2u * S], TN), acc2);
        acc3 = coopMultiplyAdd(am, coopLoadT<CoopB>(&tile_b[3u * S], TN), acc3);
        workgroupBarrier();
    }
    coopStoreT(acc0, &tile_c[strip * TN], TN);
    coopStoreT(acc1, &tile_c[strip * TN + S], TN);
    coopStoreT(acc2, &tile_c[strip * TN + 2u * S], TN);
    coopStoreT(acc3, &tile_c[strip * TN + 3u * S], TN);
    workgroupBarrier();

    for (var i = li; i < TM * TN; i += WG) {
        let r = row0 + i / TN;
        let col = col0 + i % TN;
        if (r < p.m && col < p.n) {
            store(c_base, r, col, f32(tile_c[i]));
        }
    }
}
