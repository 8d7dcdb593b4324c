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
// A workgroup computes a TM x TN = 8S x 8S tile of C (128 x 128 for S = 16) from four subgroups
// (WG = 4 x the subgroup size, a specialisation constant); subgroup q owns quadrant q of the
// tile, 4S x 4S, as 4 x 4 accumulators of S x S. Per step of S along K:
//   1. every invocation stages its share of the A tile [TM, S] and the B tile [S, TN] into
//      workgroup memory as AB (f32 or half storage read, transposes resolved here, consecutive
//      invocations reading consecutive elements of each operand's storage order; elements
//      outside M, N or K are zeros, so edge tiles need no clamp in the product);
//   2. each subgroup loads its four A blocks and four B blocks and makes 16 multiply-adds.
// (The first version, 2026-12-03, held 4S x 4S tiles, one A block and four accumulators per
// subgroup, and staged B across its rows: 5 TFLOP/s on an H200, staging-bound. This one stages
// four times the products' worth per element and barrier.)
// Then each accumulator goes through its subgroup's S x S block of workgroup memory (`tile_c`)
// to a guarded epilogue: `gemm.wgsl`'s `store` (alpha, the bias, beta).
// Rounding: with AB = f16 both operands are rounded to f16 as they are staged, products and
// sums are CR (f32): torch.autocast's fp16 matmul. The launcher uses the f16 modules only for
// products whose A is already half (autocast inputs), so only B (an f32 master weight) rounds.

const TM: u32 = 8u * S;
const TN: u32 = 8u * S;
// A subgroup's quadrant of the tile is Q x Q.
const Q: u32 = 4u * S;

var<workgroup> tile_a: array<AB, 8u * S * S>;    // [TM, S] row-major
var<workgroup> tile_b: array<AB, 8u * S * S>;    // [S, TN] row-major
var<workgroup> tile_c: array<CR, 4u * S * S>;    // an S x S block per subgroup (epilogue)

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

// The S x S block of C at (row, col) from the subgroup's block `blk` of `tile_c`, by the
// subgroup's lanes, inside C only.
fn write_block(c_base: u32, row: u32, col: u32, blk: u32, lane: u32, lanes: u32) {
    for (var e = lane; e < S * S; e += lanes) {
        let r = row + e / S;
        let c = col + e % S;
        if (r < p.m && c < p.n) {
            store(c_base, r, c, f32(tile_c[blk + e]));
        }
    }
}

@compute @workgroup_size(WG, 1, 1)
fn gemm_coop(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) lanes: u32,
) {
    let bs = bases(wg.z);
    let a_base = bs.a;
    let b_base = bs.b;
    let c_base = bs.c;
    let row0 = wg.y * TM;
    let col0 = wg.x * TN;
    // The subgroup's quadrant (4 subgroups: WG is 4 subgroups wide).
    let q = min(sg, 3u);
    let qr = (q / 2u) * Q;
    let qc = (q % 2u) * Q;
    let blk = q * S * S;

    // Zero accumulators loaded from zeroed workgroup memory rather than written as a null
    // constant of a cooperative-matrix type, which SPIR-V consumers may not all accept.
    for (var i = li; i < 4u * S * S; i += WG) {
        tile_c[i] = CR(0.0);
    }
    workgroupBarrier();
    var acc00 = coopLoadT<CoopC>(&tile_c[0u], S);
    var acc01 = acc00; var acc02 = acc00; var acc03 = acc00;
    var acc10 = acc00; var acc11 = acc00; var acc12 = acc00; var acc13 = acc00;
    var acc20 = acc00; var acc21 = acc00; var acc22 = acc00; var acc23 = acc00;
    var acc30 = acc00; var acc31 = acc00; var acc32 = acc00; var acc33 = acc00;
    for (var k0 = 0u; k0 < p.k; k0 += S) {
        for (var i = li; i < TM * S; i += WG) {
            var r = i / S;
            var kk = i % S;
            if (TRANS_A) { r = i % TM; kk = i / TM; }
            tile_a[r * S + kk] = AB(load_a_or_zero(a_base, row0 + r, k0 + kk));
        }
        for (var i = li; i < S * TN; i += WG) {
            var kk = i / TN;
            var c = i % TN;
            if (TRANS_B) { c = i / S; kk = i % S; }
            tile_b[kk * TN + c] = AB(load_b_or_zero(b_base, k0 + kk, col0 + c));
        }
        workgroupBarrier();
        let a0 = coopLoadT<CoopA>(&tile_a[qr * S], S);
        let a1 = coopLoadT<CoopA>(&tile_a[(qr + S) * S], S);
        let a2 = coopLoadT<CoopA>(&tile_a[(qr + 2u * S) * S], S);
        let a3 = coopLoadT<CoopA>(&tile_a[(qr + 3u * S) * S], S);
        let b0 = coopLoadT<CoopB>(&tile_b[qc], TN);
        let b1 = coopLoadT<CoopB>(&tile_b[qc + S], TN);
        let b2 = coopLoadT<CoopB>(&tile_b[qc + 2u * S], TN);
        let b3 = coopLoadT<CoopB>(&tile_b[qc + 3u * S], TN);
        acc00 = coopMultiplyAdd(a0, b0, acc00); acc01 = coopMultiplyAdd(a0, b1, acc01);
        acc02 = coopMultiplyAdd(a0, b2, acc02); acc03 = coopMultiplyAdd(a0, b3, acc03);
        acc10 = coopMultiplyAdd(a1, b0, acc10); acc11 = coopMultiplyAdd(a1, b1, acc11);
        acc12 = coopMultiplyAdd(a1, b2, acc12); acc13 = coopMultiplyAdd(a1, b3, acc13);
        acc20 = coopMultiplyAdd(a2, b0, acc20); acc21 = coopMultiplyAdd(a2, b1, acc21);
        acc22 = coopMultiplyAdd(a2, b2, acc22); acc23 = coopMultiplyAdd(a2, b3, acc23);
        acc30 = coopMultiplyAdd(a3, b0, acc30); acc31 = coopMultiplyAdd(a3, b1, acc31);
        acc32 = coopMultiplyAdd(a3, b2, acc32); acc33 = coopMultiplyAdd(a3, b3, acc33);
        workgroupBarrier();
    }
    // Epilogue, one accumulator at a time through the subgroup's block (every subgroup runs
    // the same sequence, so the barriers are uniform).
    let r0 = row0 + qr;
    let c0 = col0 + qc;
    coopStoreT(acc00, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0, c0, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc01, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0, c0 + 1u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc02, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0, c0 + 2u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc03, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0, c0 + 3u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc10, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 1u * S, c0, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc11, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 1u * S, c0 + 1u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc12, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 1u * S, c0 + 2u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc13, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 1u * S, c0 + 3u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc20, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 2u * S, c0, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc21, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 2u * S, c0 + 1u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc22, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 2u * S, c0 + 2u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc23, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 2u * S, c0 + 3u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc30, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 3u * S, c0, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc31, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 3u * S, c0 + 1u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc32, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 3u * S, c0 + 2u * S, blk, lane, lanes);
    workgroupBarrier();
    coopStoreT(acc33, &tile_c[blk], S);
    workgroupBarrier();
    write_block(c_base, r0 + 3u * S, c0 + 3u * S, blk, lane, lanes);
    workgroupBarrier();
}
