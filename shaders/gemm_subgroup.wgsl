// Batched GEMM: C[b] = alpha * op(A[b]) · op(B[b]) (+ bias[n]), row-major, f32.
//   op(A) is [M, K] (A stored [M, K], or [K, M] when TRANS_A); op(B) is [K, N] (B stored
//   [K, N], or [N, K] when TRANS_B). Backward needs no entry point of its own: the autograd
//   layer expresses dA and dB as GEMMs with the transposes flipped.
//
// Specialisation: TRANS_A, TRANS_B, HAS_BIAS (bool).
// `beta` != 0 adds beta * C to the result: the launcher uses it to accumulate over chunks of
// K when an operand is larger than one storage binding.
// `gemm8x8` and `gemm8x5`: the same product with an 8x8 (8x5) register block per invocation,
// rows WG_Y apart and columns WG_X apart (spec constants), so a workgroup covers 8 WG_Y rows by
// 8 WG_X (5 WG_X) columns. 16 loads feed 64 FMAs instead of 8 feeding 16; on lavapipe, where
// buffer loads are the cost, that runs large GEMMs 1.3-2x faster (1024³: 9.7 -> 16.9
// GFLOP/s). The 8x5 block with WG_X = 8, 16 or 32 covers exactly the 40, 80 and 160 columns
// of SD 1.5's attention heads. The accumulators are named scalars: as arrays, naga's output
// made llvmpipe keep them in memory (3x slower). These two entries are written by
// tools/gen_gemm_wgsl.py: edit that, not them.
// `gemm`: each workgroup of 16x16 invocations computes a 64x64 tile of C; each invocation a 4x4
// register block whose columns are 16 apart, so that neighbouring lanes load neighbouring
// elements of B (contiguous across the subgroup) and share the loads of A.

struct Params {
    m: u32, n: u32, k: u32, beta: f32,
    a_batch: u32, b_batch: u32, c_batch: u32, _pad1: u32,
    a_shift: u32, b_shift: u32, c_shift: u32, bias_shift: u32,
    lda: u32, ldb: u32, ldc: u32, alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn load_a(base: u32, row: u32, kk: u32) -> f32 {
    if (TRANS_A) {
        return a[base + kk * p.lda + row];
    }
    return a[base + row * p.lda + kk];
}

fn load_b(base: u32, kk: u32, col: u32) -> f32 {
    if (TRANS_B) {
        return b[base + col * p.ldb + kk];
    }
    return b[base + kk * p.ldb + col];
}

// c = alpha * acc (+ bias) (+ beta * c) at (r, col).
fn store(c_base: u32, r: u32, col: u32, acc: f32) {
    var v = p.alpha * acc;
    if (HAS_BIAS) {
        v += bias[p.bias_shift + col];
    }
    let ci = c_base + r * p.ldc + col;
    if (p.beta != 0.0) {
        v += p.beta * c[ci];
    }
    c[ci] = v;
}

@compute @workgroup_size(16, 16, 1)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;

    let row0 = wg.y * 64u + lid.y;
    let col0 = wg.x * 64u + lid.x;
    // Clamp the rows and columns we read so that edge tiles stay in bounds; their results
    // are computed but never stored.
    var rows: array<u32, 4>;
    var cols: array<u32, 4>;
    for (var i = 0u; i < 4u; i++) {
        rows[i] = min(row0 + 16u * i, p.m - 1u);
        cols[i] = min(col0 + 16u * i, p.n - 1u);
    }

    var acc00 = 0.0; var acc01 = 0.0; var acc02 = 0.0; var acc03 = 0.0;
    var acc10 = 0.0; var acc11 = 0.0; var acc12 = 0.0; var acc13 = 0.0;
    var acc20 = 0.0; var acc21 = 0.0; var acc22 = 0.0; var acc23 = 0.0;
    var acc30 = 0.0; var acc31 = 0.0; var acc32 = 0.0; var acc33 = 0.0;

    for (var kk = 0u; kk < p.k; kk++) {
        let a0 = load_a(a_base, rows[0], kk);
        let a1 = load_a(a_base, rows[1], kk);
        let a2 = load_a(a_base, rows[2], kk);
        let a3 = load_a(a_base, rows[3], kk);
        let b0 = load_b(b_base, kk, cols[0]);
        let b1 = load_b(b_base, kk, cols[1]);
        let b2 = load_b(b_base, kk, cols[2]);
        let b3 = load_b(b_base, kk, cols[3]);
        acc00 = fma(a0, b0, acc00); acc01 = fma(a0, b1, acc01); acc02 = fma(a0, b2, acc02); acc03 = fma(a0, b3, acc03);
        acc10 = fma(a1, b0, acc10); acc11 = fma(a1, b1, acc11); acc12 = fma(a1, b2, acc12); acc13 = fma(a1, b3, acc13);
        acc20 = fma(a2, b0, acc20); acc21 = fma(a2, b1, acc21); acc22 = fma(a2, b2, acc22); acc23 = fma(a2, b3, acc23);
        acc30 = fma(a3, b0, acc30); acc31 = fma(a3, b1, acc31); acc32 = fma(a3, b2, acc32); acc33 = fma(a3, b3, acc33);
    }

    var acc = array<array<f32, 4>, 4>(
        array<f32, 4>(acc00, acc01, acc02, acc03),
        array<f32, 4>(acc10, acc11, acc12, acc13),
        array<f32, 4>(acc20, acc21, acc22, acc23),
        array<f32, 4>(acc30, acc31, acc32, acc33),
    );
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + 16u * i;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + 16u * j;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}

// ---- generated by tools/gen_gemm_wgsl.py below this line ----

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn gemm8x8_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let r_mine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let c0 = min(col0 + 0u * WG_X, p.n - 1u);
    let c1 = min(col0 + 1u * WG_X, p.n - 1u);
    let c2 = min(col0 + 2u * WG_X, p.n - 1u);
    let c3 = min(col0 + 3u * WG_X, p.n - 1u);
    let c4 = min(col0 + 4u * WG_X, p.n - 1u);
    let c5 = min(col0 + 5u * WG_X, p.n - 1u);
    let c6 = min(col0 + 6u * WG_X, p.n - 1u);
    let c7 = min(col0 + 7u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let a_mine0 = load_a(a_base, r_mine0, kk);
        let a0 = subgroupBroadcast(a_mine0, 0u);
        let a1 = subgroupBroadcast(a_mine0, 1u);
        let a2 = subgroupBroadcast(a_mine0, 2u);
        let a3 = subgroupBroadcast(a_mine0, 3u);
        let a4 = subgroupBroadcast(a_mine0, 4u);
        let a5 = subgroupBroadcast(a_mine0, 5u);
        let a6 = subgroupBroadcast(a_mine0, 6u);
        let a7 = subgroupBroadcast(a_mine0, 7u);
        let b0 = load_b(b_base, kk, c0);
        let b1 = load_b(b_base, kk, c1);
        let b2 = load_b(b_base, kk, c2);
        let b3 = load_b(b_base, kk, c3);
        let b4 = load_b(b_base, kk, c4);
        let b5 = load_b(b_base, kk, c5);
        let b6 = load_b(b_base, kk, c6);
        let b7 = load_b(b_base, kk, c7);
        acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
        acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
        acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
        acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
        acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
        acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
        acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
        acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
    }
    var acc = array<array<f32, 8>, 8>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
    );
    for (var i = 0u; i < 8u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn gemm8x5_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 5u * WG_X + lid.x;
    let r_mine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let c0 = min(col0 + 0u * WG_X, p.n - 1u);
    let c1 = min(col0 + 1u * WG_X, p.n - 1u);
    let c2 = min(col0 + 2u * WG_X, p.n - 1u);
    let c3 = min(col0 + 3u * WG_X, p.n - 1u);
    let c4 = min(col0 + 4u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let a_mine0 = load_a(a_base, r_mine0, kk);
        let a0 = subgroupBroadcast(a_mine0, 0u);
        let a1 = subgroupBroadcast(a_mine0, 1u);
        let a2 = subgroupBroadcast(a_mine0, 2u);
        let a3 = subgroupBroadcast(a_mine0, 3u);
        let a4 = subgroupBroadcast(a_mine0, 4u);
        let a5 = subgroupBroadcast(a_mine0, 5u);
        let a6 = subgroupBroadcast(a_mine0, 6u);
        let a7 = subgroupBroadcast(a_mine0, 7u);
        let b0 = load_b(b_base, kk, c0);
        let b1 = load_b(b_base, kk, c1);
        let b2 = load_b(b_base, kk, c2);
        let b3 = load_b(b_base, kk, c3);
        let b4 = load_b(b_base, kk, c4);
        acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4);
        acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4);
        acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4);
        acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4);
        acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4);
        acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4);
        acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4);
        acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4);
    }
    var acc = array<array<f32, 5>, 8>(
        array<f32, 5>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4),
        array<f32, 5>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4),
        array<f32, 5>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4),
        array<f32, 5>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4),
        array<f32, 5>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4),
        array<f32, 5>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4),
        array<f32, 5>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4),
        array<f32, 5>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4),
    );
    for (var i = 0u; i < 8u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 5u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn gemm16x5_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 16u * WG_Y + lid.y;
    let col0 = wg.x * 5u * WG_X + lid.x;
    let r_mine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let r_mine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u);
    let c0 = min(col0 + 0u * WG_X, p.n - 1u);
    let c1 = min(col0 + 1u * WG_X, p.n - 1u);
    let c2 = min(col0 + 2u * WG_X, p.n - 1u);
    let c3 = min(col0 + 3u * WG_X, p.n - 1u);
    let c4 = min(col0 + 4u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let a_mine0 = load_a(a_base, r_mine0, kk);
        let a_mine1 = load_a(a_base, r_mine1, kk);
        let a0 = subgroupBroadcast(a_mine0, 0u);
        let a1 = subgroupBroadcast(a_mine0, 1u);
        let a2 = subgroupBroadcast(a_mine0, 2u);
        let a3 = subgroupBroadcast(a_mine0, 3u);
        let a4 = subgroupBroadcast(a_mine0, 4u);
        let a5 = subgroupBroadcast(a_mine0, 5u);
        let a6 = subgroupBroadcast(a_mine0, 6u);
        let a7 = subgroupBroadcast(a_mine0, 7u);
        let a8 = subgroupBroadcast(a_mine1, 0u);
        let a9 = subgroupBroadcast(a_mine1, 1u);
        let a10 = subgroupBroadcast(a_mine1, 2u);
        let a11 = subgroupBroadcast(a_mine1, 3u);
        let a12 = subgroupBroadcast(a_mine1, 4u);
        let a13 = subgroupBroadcast(a_mine1, 5u);
        let a14 = subgroupBroadcast(a_mine1, 6u);
        let a15 = subgroupBroadcast(a_mine1, 7u);
        let b0 = load_b(b_base, kk, c0);
        let b1 = load_b(b_base, kk, c1);
        let b2 = load_b(b_base, kk, c2);
        let b3 = load_b(b_base, kk, c3);
        let b4 = load_b(b_base, kk, c4);
        acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4);
        acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4);
        acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4);
        acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4);
        acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4);
        acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4);
        acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4);
        acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4);
        acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4);
        acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4);
        acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4);
        acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4);
        acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4);
        acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4);
        acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4);
        acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4);
    }
    var acc = array<array<f32, 5>, 16>(
        array<f32, 5>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4),
        array<f32, 5>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4),
        array<f32, 5>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4),
        array<f32, 5>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4),
        array<f32, 5>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4),
        array<f32, 5>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4),
        array<f32, 5>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4),
        array<f32, 5>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4),
        array<f32, 5>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4),
        array<f32, 5>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4),
        array<f32, 5>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4),
        array<f32, 5>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4),
        array<f32, 5>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4),
        array<f32, 5>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4),
        array<f32, 5>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4),
        array<f32, 5>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4),
    );
    for (var i = 0u; i < 16u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 5u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn gemm32x5_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 32u * WG_Y + lid.y;
    let col0 = wg.x * 5u * WG_X + lid.x;
    let r_mine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let r_mine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u);
    let r_mine2 = min(row0 + (lane % 8u + 16u) * WG_Y, p.m - 1u);
    let r_mine3 = min(row0 + (lane % 8u + 24u) * WG_Y, p.m - 1u);
    let c0 = min(col0 + 0u * WG_X, p.n - 1u);
    let c1 = min(col0 + 1u * WG_X, p.n - 1u);
    let c2 = min(col0 + 2u * WG_X, p.n - 1u);
    let c3 = min(col0 + 3u * WG_X, p.n - 1u);
    let c4 = min(col0 + 4u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0;
    var acc16_0 = 0.0; var acc16_1 = 0.0; var acc16_2 = 0.0; var acc16_3 = 0.0; var acc16_4 = 0.0;
    var acc17_0 = 0.0; var acc17_1 = 0.0; var acc17_2 = 0.0; var acc17_3 = 0.0; var acc17_4 = 0.0;
    var acc18_0 = 0.0; var acc18_1 = 0.0; var acc18_2 = 0.0; var acc18_3 = 0.0; var acc18_4 = 0.0;
    var acc19_0 = 0.0; var acc19_1 = 0.0; var acc19_2 = 0.0; var acc19_3 = 0.0; var acc19_4 = 0.0;
    var acc20_0 = 0.0; var acc20_1 = 0.0; var acc20_2 = 0.0; var acc20_3 = 0.0; var acc20_4 = 0.0;
    var acc21_0 = 0.0; var acc21_1 = 0.0; var acc21_2 = 0.0; var acc21_3 = 0.0; var acc21_4 = 0.0;
    var acc22_0 = 0.0; var acc22_1 = 0.0; var acc22_2 = 0.0; var acc22_3 = 0.0; var acc22_4 = 0.0;
    var acc23_0 = 0.0; var acc23_1 = 0.0; var acc23_2 = 0.0; var acc23_3 = 0.0; var acc23_4 = 0.0;
    var acc24_0 = 0.0; var acc24_1 = 0.0; var acc24_2 = 0.0; var acc24_3 = 0.0; var acc24_4 = 0.0;
    var acc25_0 = 0.0; var acc25_1 = 0.0; var acc25_2 = 0.0; var acc25_3 = 0.0; var acc25_4 = 0.0;
    var acc26_0 = 0.0; var acc26_1 = 0.0; var acc26_2 = 0.0; var acc26_3 = 0.0; var acc26_4 = 0.0;
    var acc27_0 = 0.0; var acc27_1 = 0.0; var acc27_2 = 0.0; var acc27_3 = 0.0; var acc27_4 = 0.0;
    var acc28_0 = 0.0; var acc28_1 = 0.0; var acc28_2 = 0.0; var acc28_3 = 0.0; var acc28_4 = 0.0;
    var acc29_0 = 0.0; var acc29_1 = 0.0; var acc29_2 = 0.0; var acc29_3 = 0.0; var acc29_4 = 0.0;
    var acc30_0 = 0.0; var acc30_1 = 0.0; var acc30_2 = 0.0; var acc30_3 = 0.0; var acc30_4 = 0.0;
    var acc31_0 = 0.0; var acc31_1 = 0.0; var acc31_2 = 0.0; var acc31_3 = 0.0; var acc31_4 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let a_mine0 = load_a(a_base, r_mine0, kk);
        let a_mine1 = load_a(a_base, r_mine1, kk);
        let a_mine2 = load_a(a_base, r_mine2, kk);
        let a_mine3 = load_a(a_base, r_mine3, kk);
        let a0 = subgroupBroadcast(a_mine0, 0u);
        let a1 = subgroupBroadcast(a_mine0, 1u);
        let a2 = subgroupBroadcast(a_mine0, 2u);
        let a3 = subgroupBroadcast(a_mine0, 3u);
        let a4 = subgroupBroadcast(a_mine0, 4u);
        let a5 = subgroupBroadcast(a_mine0, 5u);
        let a6 = subgroupBroadcast(a_mine0, 6u);
        let a7 = subgroupBroadcast(a_mine0, 7u);
        let a8 = subgroupBroadcast(a_mine1, 0u);
        let a9 = subgroupBroadcast(a_mine1, 1u);
        let a10 = subgroupBroadcast(a_mine1, 2u);
        let a11 = subgroupBroadcast(a_mine1, 3u);
        let a12 = subgroupBroadcast(a_mine1, 4u);
        let a13 = subgroupBroadcast(a_mine1, 5u);
        let a14 = subgroupBroadcast(a_mine1, 6u);
        let a15 = subgroupBroadcast(a_mine1, 7u);
        let a16 = subgroupBroadcast(a_mine2, 0u);
        let a17 = subgroupBroadcast(a_mine2, 1u);
        let a18 = subgroupBroadcast(a_mine2, 2u);
        let a19 = subgroupBroadcast(a_mine2, 3u);
        let a20 = subgroupBroadcast(a_mine2, 4u);
        let a21 = subgroupBroadcast(a_mine2, 5u);
        let a22 = subgroupBroadcast(a_mine2, 6u);
        let a23 = subgroupBroadcast(a_mine2, 7u);
        let a24 = subgroupBroadcast(a_mine3, 0u);
        let a25 = subgroupBroadcast(a_mine3, 1u);
        let a26 = subgroupBroadcast(a_mine3, 2u);
        let a27 = subgroupBroadcast(a_mine3, 3u);
        let a28 = subgroupBroadcast(a_mine3, 4u);
        let a29 = subgroupBroadcast(a_mine3, 5u);
        let a30 = subgroupBroadcast(a_mine3, 6u);
        let a31 = subgroupBroadcast(a_mine3, 7u);
        let b0 = load_b(b_base, kk, c0);
        let b1 = load_b(b_base, kk, c1);
        let b2 = load_b(b_base, kk, c2);
        let b3 = load_b(b_base, kk, c3);
        let b4 = load_b(b_base, kk, c4);
        acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4);
        acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4);
        acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4);
        acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4);
        acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4);
        acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4);
        acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4);
        acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4);
        acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4);
        acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4);
        acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4);
        acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4);
        acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4);
        acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4);
        acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4);
        acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4);
        acc16_0 = fma(a16, b0, acc16_0); acc16_1 = fma(a16, b1, acc16_1); acc16_2 = fma(a16, b2, acc16_2); acc16_3 = fma(a16, b3, acc16_3); acc16_4 = fma(a16, b4, acc16_4);
        acc17_0 = fma(a17, b0, acc17_0); acc17_1 = fma(a17, b1, acc17_1); acc17_2 = fma(a17, b2, acc17_2); acc17_3 = fma(a17, b3, acc17_3); acc17_4 = fma(a17, b4, acc17_4);
        acc18_0 = fma(a18, b0, acc18_0); acc18_1 = fma(a18, b1, acc18_1); acc18_2 = fma(a18, b2, acc18_2); acc18_3 = fma(a18, b3, acc18_3); acc18_4 = fma(a18, b4, acc18_4);
        acc19_0 = fma(a19, b0, acc19_0); acc19_1 = fma(a19, b1, acc19_1); acc19_2 = fma(a19, b2, acc19_2); acc19_3 = fma(a19, b3, acc19_3); acc19_4 = fma(a19, b4, acc19_4);
        acc20_0 = fma(a20, b0, acc20_0); acc20_1 = fma(a20, b1, acc20_1); acc20_2 = fma(a20, b2, acc20_2); acc20_3 = fma(a20, b3, acc20_3); acc20_4 = fma(a20, b4, acc20_4);
        acc21_0 = fma(a21, b0, acc21_0); acc21_1 = fma(a21, b1, acc21_1); acc21_2 = fma(a21, b2, acc21_2); acc21_3 = fma(a21, b3, acc21_3); acc21_4 = fma(a21, b4, acc21_4);
        acc22_0 = fma(a22, b0, acc22_0); acc22_1 = fma(a22, b1, acc22_1); acc22_2 = fma(a22, b2, acc22_2); acc22_3 = fma(a22, b3, acc22_3); acc22_4 = fma(a22, b4, acc22_4);
        acc23_0 = fma(a23, b0, acc23_0); acc23_1 = fma(a23, b1, acc23_1); acc23_2 = fma(a23, b2, acc23_2); acc23_3 = fma(a23, b3, acc23_3); acc23_4 = fma(a23, b4, acc23_4);
        acc24_0 = fma(a24, b0, acc24_0); acc24_1 = fma(a24, b1, acc24_1); acc24_2 = fma(a24, b2, acc24_2); acc24_3 = fma(a24, b3, acc24_3); acc24_4 = fma(a24, b4, acc24_4);
        acc25_0 = fma(a25, b0, acc25_0); acc25_1 = fma(a25, b1, acc25_1); acc25_2 = fma(a25, b2, acc25_2); acc25_3 = fma(a25, b3, acc25_3); acc25_4 = fma(a25, b4, acc25_4);
        acc26_0 = fma(a26, b0, acc26_0); acc26_1 = fma(a26, b1, acc26_1); acc26_2 = fma(a26, b2, acc26_2); acc26_3 = fma(a26, b3, acc26_3); acc26_4 = fma(a26, b4, acc26_4);
        acc27_0 = fma(a27, b0, acc27_0); acc27_1 = fma(a27, b1, acc27_1); acc27_2 = fma(a27, b2, acc27_2); acc27_3 = fma(a27, b3, acc27_3); acc27_4 = fma(a27, b4, acc27_4);
        acc28_0 = fma(a28, b0, acc28_0); acc28_1 = fma(a28, b1, acc28_1); acc28_2 = fma(a28, b2, acc28_2); acc28_3 = fma(a28, b3, acc28_3); acc28_4 = fma(a28, b4, acc28_4);
        acc29_0 = fma(a29, b0, acc29_0); acc29_1 = fma(a29, b1, acc29_1); acc29_2 = fma(a29, b2, acc29_2); acc29_3 = fma(a29, b3, acc29_3); acc29_4 = fma(a29, b4, acc29_4);
        acc30_0 = fma(a30, b0, acc30_0); acc30_1 = fma(a30, b1, acc30_1); acc30_2 = fma(a30, b2, acc30_2); acc30_3 = fma(a30, b3, acc30_3); acc30_4 = fma(a30, b4, acc30_4);
        acc31_0 = fma(a31, b0, acc31_0); acc31_1 = fma(a31, b1, acc31_1); acc31_2 = fma(a31, b2, acc31_2); acc31_3 = fma(a31, b3, acc31_3); acc31_4 = fma(a31, b4, acc31_4);
    }
    var acc = array<array<f32, 5>, 32>(
        array<f32, 5>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4),
        array<f32, 5>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4),
        array<f32, 5>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4),
        array<f32, 5>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4),
        array<f32, 5>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4),
        array<f32, 5>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4),
        array<f32, 5>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4),
        array<f32, 5>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4),
        array<f32, 5>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4),
        array<f32, 5>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4),
        array<f32, 5>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4),
        array<f32, 5>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4),
        array<f32, 5>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4),
        array<f32, 5>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4),
        array<f32, 5>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4),
        array<f32, 5>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4),
        array<f32, 5>(acc16_0, acc16_1, acc16_2, acc16_3, acc16_4),
        array<f32, 5>(acc17_0, acc17_1, acc17_2, acc17_3, acc17_4),
        array<f32, 5>(acc18_0, acc18_1, acc18_2, acc18_3, acc18_4),
        array<f32, 5>(acc19_0, acc19_1, acc19_2, acc19_3, acc19_4),
        array<f32, 5>(acc20_0, acc20_1, acc20_2, acc20_3, acc20_4),
        array<f32, 5>(acc21_0, acc21_1, acc21_2, acc21_3, acc21_4),
        array<f32, 5>(acc22_0, acc22_1, acc22_2, acc22_3, acc22_4),
        array<f32, 5>(acc23_0, acc23_1, acc23_2, acc23_3, acc23_4),
        array<f32, 5>(acc24_0, acc24_1, acc24_2, acc24_3, acc24_4),
        array<f32, 5>(acc25_0, acc25_1, acc25_2, acc25_3, acc25_4),
        array<f32, 5>(acc26_0, acc26_1, acc26_2, acc26_3, acc26_4),
        array<f32, 5>(acc27_0, acc27_1, acc27_2, acc27_3, acc27_4),
        array<f32, 5>(acc28_0, acc28_1, acc28_2, acc28_3, acc28_4),
        array<f32, 5>(acc29_0, acc29_1, acc29_2, acc29_3, acc29_4),
        array<f32, 5>(acc30_0, acc30_1, acc30_2, acc30_3, acc30_4),
        array<f32, 5>(acc31_0, acc31_1, acc31_2, acc31_3, acc31_4),
    );
    for (var i = 0u; i < 32u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 5u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn gemm16x8_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 16u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let r_mine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let r_mine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u);
    let c0 = min(col0 + 0u * WG_X, p.n - 1u);
    let c1 = min(col0 + 1u * WG_X, p.n - 1u);
    let c2 = min(col0 + 2u * WG_X, p.n - 1u);
    let c3 = min(col0 + 3u * WG_X, p.n - 1u);
    let c4 = min(col0 + 4u * WG_X, p.n - 1u);
    let c5 = min(col0 + 5u * WG_X, p.n - 1u);
    let c6 = min(col0 + 6u * WG_X, p.n - 1u);
    let c7 = min(col0 + 7u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0; var acc8_5 = 0.0; var acc8_6 = 0.0; var acc8_7 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0; var acc9_5 = 0.0; var acc9_6 = 0.0; var acc9_7 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0; var acc10_5 = 0.0; var acc10_6 = 0.0; var acc10_7 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0; var acc11_5 = 0.0; var acc11_6 = 0.0; var acc11_7 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0; var acc12_5 = 0.0; var acc12_6 = 0.0; var acc12_7 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0; var acc13_5 = 0.0; var acc13_6 = 0.0; var acc13_7 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0; var acc14_5 = 0.0; var acc14_6 = 0.0; var acc14_7 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0; var acc15_5 = 0.0; var acc15_6 = 0.0; var acc15_7 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let a_mine0 = load_a(a_base, r_mine0, kk);
        let a_mine1 = load_a(a_base, r_mine1, kk);
        let a0 = subgroupBroadcast(a_mine0, 0u);
        let a1 = subgroupBroadcast(a_mine0, 1u);
        let a2 = subgroupBroadcast(a_mine0, 2u);
        let a3 = subgroupBroadcast(a_mine0, 3u);
        let a4 = subgroupBroadcast(a_mine0, 4u);
        let a5 = subgroupBroadcast(a_mine0, 5u);
        let a6 = subgroupBroadcast(a_mine0, 6u);
        let a7 = subgroupBroadcast(a_mine0, 7u);
        let a8 = subgroupBroadcast(a_mine1, 0u);
        let a9 = subgroupBroadcast(a_mine1, 1u);
        let a10 = subgroupBroadcast(a_mine1, 2u);
        let a11 = subgroupBroadcast(a_mine1, 3u);
        let a12 = subgroupBroadcast(a_mine1, 4u);
        let a13 = subgroupBroadcast(a_mine1, 5u);
        let a14 = subgroupBroadcast(a_mine1, 6u);
        let a15 = subgroupBroadcast(a_mine1, 7u);
        let b0 = load_b(b_base, kk, c0);
        let b1 = load_b(b_base, kk, c1);
        let b2 = load_b(b_base, kk, c2);
        let b3 = load_b(b_base, kk, c3);
        let b4 = load_b(b_base, kk, c4);
        let b5 = load_b(b_base, kk, c5);
        let b6 = load_b(b_base, kk, c6);
        let b7 = load_b(b_base, kk, c7);
        acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
        acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
        acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
        acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
        acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
        acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
        acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
        acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
        acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4); acc8_5 = fma(a8, b5, acc8_5); acc8_6 = fma(a8, b6, acc8_6); acc8_7 = fma(a8, b7, acc8_7);
        acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4); acc9_5 = fma(a9, b5, acc9_5); acc9_6 = fma(a9, b6, acc9_6); acc9_7 = fma(a9, b7, acc9_7);
        acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4); acc10_5 = fma(a10, b5, acc10_5); acc10_6 = fma(a10, b6, acc10_6); acc10_7 = fma(a10, b7, acc10_7);
        acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4); acc11_5 = fma(a11, b5, acc11_5); acc11_6 = fma(a11, b6, acc11_6); acc11_7 = fma(a11, b7, acc11_7);
        acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4); acc12_5 = fma(a12, b5, acc12_5); acc12_6 = fma(a12, b6, acc12_6); acc12_7 = fma(a12, b7, acc12_7);
        acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4); acc13_5 = fma(a13, b5, acc13_5); acc13_6 = fma(a13, b6, acc13_6); acc13_7 = fma(a13, b7, acc13_7);
        acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4); acc14_5 = fma(a14, b5, acc14_5); acc14_6 = fma(a14, b6, acc14_6); acc14_7 = fma(a14, b7, acc14_7);
        acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4); acc15_5 = fma(a15, b5, acc15_5); acc15_6 = fma(a15, b6, acc15_6); acc15_7 = fma(a15, b7, acc15_7);
    }
    var acc = array<array<f32, 8>, 16>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
        array<f32, 8>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4, acc8_5, acc8_6, acc8_7),
        array<f32, 8>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4, acc9_5, acc9_6, acc9_7),
        array<f32, 8>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4, acc10_5, acc10_6, acc10_7),
        array<f32, 8>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4, acc11_5, acc11_6, acc11_7),
        array<f32, 8>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4, acc12_5, acc12_6, acc12_7),
        array<f32, 8>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4, acc13_5, acc13_6, acc13_7),
        array<f32, 8>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4, acc14_5, acc14_6, acc14_7),
        array<f32, 8>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4, acc15_5, acc15_6, acc15_7),
    );
    for (var i = 0u; i < 16u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn gemm32x8_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 32u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let r_mine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let r_mine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u);
    let r_mine2 = min(row0 + (lane % 8u + 16u) * WG_Y, p.m - 1u);
    let r_mine3 = min(row0 + (lane % 8u + 24u) * WG_Y, p.m - 1u);
    let c0 = min(col0 + 0u * WG_X, p.n - 1u);
    let c1 = min(col0 + 1u * WG_X, p.n - 1u);
    let c2 = min(col0 + 2u * WG_X, p.n - 1u);
    let c3 = min(col0 + 3u * WG_X, p.n - 1u);
    let c4 = min(col0 + 4u * WG_X, p.n - 1u);
    let c5 = min(col0 + 5u * WG_X, p.n - 1u);
    let c6 = min(col0 + 6u * WG_X, p.n - 1u);
    let c7 = min(col0 + 7u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0; var acc8_5 = 0.0; var acc8_6 = 0.0; var acc8_7 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0; var acc9_5 = 0.0; var acc9_6 = 0.0; var acc9_7 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0; var acc10_5 = 0.0; var acc10_6 = 0.0; var acc10_7 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0; var acc11_5 = 0.0; var acc11_6 = 0.0; var acc11_7 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0; var acc12_5 = 0.0; var acc12_6 = 0.0; var acc12_7 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0; var acc13_5 = 0.0; var acc13_6 = 0.0; var acc13_7 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0; var acc14_5 = 0.0; var acc14_6 = 0.0; var acc14_7 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0; var acc15_5 = 0.0; var acc15_6 = 0.0; var acc15_7 = 0.0;
    var acc16_0 = 0.0; var acc16_1 = 0.0; var acc16_2 = 0.0; var acc16_3 = 0.0; var acc16_4 = 0.0; var acc16_5 = 0.0; var acc16_6 = 0.0; var acc16_7 = 0.0;
    var acc17_0 = 0.0; var acc17_1 = 0.0; var acc17_2 = 0.0; var acc17_3 = 0.0; var acc17_4 = 0.0; var acc17_5 = 0.0; var acc17_6 = 0.0; var acc17_7 = 0.0;
    var acc18_0 = 0.0; var acc18_1 = 0.0; var acc18_2 = 0.0; var acc18_3 = 0.0; var acc18_4 = 0.0; var acc18_5 = 0.0; var acc18_6 = 0.0; var acc18_7 = 0.0;
    var acc19_0 = 0.0; var acc19_1 = 0.0; var acc19_2 = 0.0; var acc19_3 = 0.0; var acc19_4 = 0.0; var acc19_5 = 0.0; var acc19_6 = 0.0; var acc19_7 = 0.0;
    var acc20_0 = 0.0; var acc20_1 = 0.0; var acc20_2 = 0.0; var acc20_3 = 0.0; var acc20_4 = 0.0; var acc20_5 = 0.0; var acc20_6 = 0.0; var acc20_7 = 0.0;
    var acc21_0 = 0.0; var acc21_1 = 0.0; var acc21_2 = 0.0; var acc21_3 = 0.0; var acc21_4 = 0.0; var acc21_5 = 0.0; var acc21_6 = 0.0; var acc21_7 = 0.0;
    var acc22_0 = 0.0; var acc22_1 = 0.0; var acc22_2 = 0.0; var acc22_3 = 0.0; var acc22_4 = 0.0; var acc22_5 = 0.0; var acc22_6 = 0.0; var acc22_7 = 0.0;
    var acc23_0 = 0.0; var acc23_1 = 0.0; var acc23_2 = 0.0; var acc23_3 = 0.0; var acc23_4 = 0.0; var acc23_5 = 0.0; var acc23_6 = 0.0; var acc23_7 = 0.0;
    var acc24_0 = 0.0; var acc24_1 = 0.0; var acc24_2 = 0.0; var acc24_3 = 0.0; var acc24_4 = 0.0; var acc24_5 = 0.0; var acc24_6 = 0.0; var acc24_7 = 0.0;
    var acc25_0 = 0.0; var acc25_1 = 0.0; var acc25_2 = 0.0; var acc25_3 = 0.0; var acc25_4 = 0.0; var acc25_5 = 0.0; var acc25_6 = 0.0; var acc25_7 = 0.0;
    var acc26_0 = 0.0; var acc26_1 = 0.0; var acc26_2 = 0.0; var acc26_3 = 0.0; var acc26_4 = 0.0; var acc26_5 = 0.0; var acc26_6 = 0.0; var acc26_7 = 0.0;
    var acc27_0 = 0.0; var acc27_1 = 0.0; var acc27_2 = 0.0; var acc27_3 = 0.0; var acc27_4 = 0.0; var acc27_5 = 0.0; var acc27_6 = 0.0; var acc27_7 = 0.0;
    var acc28_0 = 0.0; var acc28_1 = 0.0; var acc28_2 = 0.0; var acc28_3 = 0.0; var acc28_4 = 0.0; var acc28_5 = 0.0; var acc28_6 = 0.0; var acc28_7 = 0.0;
    var acc29_0 = 0.0; var acc29_1 = 0.0; var acc29_2 = 0.0; var acc29_3 = 0.0; var acc29_4 = 0.0; var acc29_5 = 0.0; var acc29_6 = 0.0; var acc29_7 = 0.0;
    var acc30_0 = 0.0; var acc30_1 = 0.0; var acc30_2 = 0.0; var acc30_3 = 0.0; var acc30_4 = 0.0; var acc30_5 = 0.0; var acc30_6 = 0.0; var acc30_7 = 0.0;
    var acc31_0 = 0.0; var acc31_1 = 0.0; var acc31_2 = 0.0; var acc31_3 = 0.0; var acc31_4 = 0.0; var acc31_5 = 0.0; var acc31_6 = 0.0; var acc31_7 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let a_mine0 = load_a(a_base, r_mine0, kk);
        let a_mine1 = load_a(a_base, r_mine1, kk);
        let a_mine2 = load_a(a_base, r_mine2, kk);
        let a_mine3 = load_a(a_base, r_mine3, kk);
        let a0 = subgroupBroadcast(a_mine0, 0u);
        let a1 = subgroupBroadcast(a_mine0, 1u);
        let a2 = subgroupBroadcast(a_mine0, 2u);
        let a3 = subgroupBroadcast(a_mine0, 3u);
        let a4 = subgroupBroadcast(a_mine0, 4u);
        let a5 = subgroupBroadcast(a_mine0, 5u);
        let a6 = subgroupBroadcast(a_mine0, 6u);
        let a7 = subgroupBroadcast(a_mine0, 7u);
        let a8 = subgroupBroadcast(a_mine1, 0u);
        let a9 = subgroupBroadcast(a_mine1, 1u);
        let a10 = subgroupBroadcast(a_mine1, 2u);
        let a11 = subgroupBroadcast(a_mine1, 3u);
        let a12 = subgroupBroadcast(a_mine1, 4u);
        let a13 = subgroupBroadcast(a_mine1, 5u);
        let a14 = subgroupBroadcast(a_mine1, 6u);
        let a15 = subgroupBroadcast(a_mine1, 7u);
        let a16 = subgroupBroadcast(a_mine2, 0u);
        let a17 = subgroupBroadcast(a_mine2, 1u);
        let a18 = subgroupBroadcast(a_mine2, 2u);
        let a19 = subgroupBroadcast(a_mine2, 3u);
        let a20 = subgroupBroadcast(a_mine2, 4u);
        let a21 = subgroupBroadcast(a_mine2, 5u);
        let a22 = subgroupBroadcast(a_mine2, 6u);
        let a23 = subgroupBroadcast(a_mine2, 7u);
        let a24 = subgroupBroadcast(a_mine3, 0u);
        let a25 = subgroupBroadcast(a_mine3, 1u);
        let a26 = subgroupBroadcast(a_mine3, 2u);
        let a27 = subgroupBroadcast(a_mine3, 3u);
        let a28 = subgroupBroadcast(a_mine3, 4u);
        let a29 = subgroupBroadcast(a_mine3, 5u);
        let a30 = subgroupBroadcast(a_mine3, 6u);
        let a31 = subgroupBroadcast(a_mine3, 7u);
        let b0 = load_b(b_base, kk, c0);
        let b1 = load_b(b_base, kk, c1);
        let b2 = load_b(b_base, kk, c2);
        let b3 = load_b(b_base, kk, c3);
        let b4 = load_b(b_base, kk, c4);
        let b5 = load_b(b_base, kk, c5);
        let b6 = load_b(b_base, kk, c6);
        let b7 = load_b(b_base, kk, c7);
        acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
        acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
        acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
        acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
        acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
        acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
        acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
        acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
        acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4); acc8_5 = fma(a8, b5, acc8_5); acc8_6 = fma(a8, b6, acc8_6); acc8_7 = fma(a8, b7, acc8_7);
        acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4); acc9_5 = fma(a9, b5, acc9_5); acc9_6 = fma(a9, b6, acc9_6); acc9_7 = fma(a9, b7, acc9_7);
        acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4); acc10_5 = fma(a10, b5, acc10_5); acc10_6 = fma(a10, b6, acc10_6); acc10_7 = fma(a10, b7, acc10_7);
        acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4); acc11_5 = fma(a11, b5, acc11_5); acc11_6 = fma(a11, b6, acc11_6); acc11_7 = fma(a11, b7, acc11_7);
        acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4); acc12_5 = fma(a12, b5, acc12_5); acc12_6 = fma(a12, b6, acc12_6); acc12_7 = fma(a12, b7, acc12_7);
        acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4); acc13_5 = fma(a13, b5, acc13_5); acc13_6 = fma(a13, b6, acc13_6); acc13_7 = fma(a13, b7, acc13_7);
        acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4); acc14_5 = fma(a14, b5, acc14_5); acc14_6 = fma(a14, b6, acc14_6); acc14_7 = fma(a14, b7, acc14_7);
        acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4); acc15_5 = fma(a15, b5, acc15_5); acc15_6 = fma(a15, b6, acc15_6); acc15_7 = fma(a15, b7, acc15_7);
        acc16_0 = fma(a16, b0, acc16_0); acc16_1 = fma(a16, b1, acc16_1); acc16_2 = fma(a16, b2, acc16_2); acc16_3 = fma(a16, b3, acc16_3); acc16_4 = fma(a16, b4, acc16_4); acc16_5 = fma(a16, b5, acc16_5); acc16_6 = fma(a16, b6, acc16_6); acc16_7 = fma(a16, b7, acc16_7);
        acc17_0 = fma(a17, b0, acc17_0); acc17_1 = fma(a17, b1, acc17_1); acc17_2 = fma(a17, b2, acc17_2); acc17_3 = fma(a17, b3, acc17_3); acc17_4 = fma(a17, b4, acc17_4); acc17_5 = fma(a17, b5, acc17_5); acc17_6 = fma(a17, b6, acc17_6); acc17_7 = fma(a17, b7, acc17_7);
        acc18_0 = fma(a18, b0, acc18_0); acc18_1 = fma(a18, b1, acc18_1); acc18_2 = fma(a18, b2, acc18_2); acc18_3 = fma(a18, b3, acc18_3); acc18_4 = fma(a18, b4, acc18_4); acc18_5 = fma(a18, b5, acc18_5); acc18_6 = fma(a18, b6, acc18_6); acc18_7 = fma(a18, b7, acc18_7);
        acc19_0 = fma(a19, b0, acc19_0); acc19_1 = fma(a19, b1, acc19_1); acc19_2 = fma(a19, b2, acc19_2); acc19_3 = fma(a19, b3, acc19_3); acc19_4 = fma(a19, b4, acc19_4); acc19_5 = fma(a19, b5, acc19_5); acc19_6 = fma(a19, b6, acc19_6); acc19_7 = fma(a19, b7, acc19_7);
        acc20_0 = fma(a20, b0, acc20_0); acc20_1 = fma(a20, b1, acc20_1); acc20_2 = fma(a20, b2, acc20_2); acc20_3 = fma(a20, b3, acc20_3); acc20_4 = fma(a20, b4, acc20_4); acc20_5 = fma(a20, b5, acc20_5); acc20_6 = fma(a20, b6, acc20_6); acc20_7 = fma(a20, b7, acc20_7);
        acc21_0 = fma(a21, b0, acc21_0); acc21_1 = fma(a21, b1, acc21_1); acc21_2 = fma(a21, b2, acc21_2); acc21_3 = fma(a21, b3, acc21_3); acc21_4 = fma(a21, b4, acc21_4); acc21_5 = fma(a21, b5, acc21_5); acc21_6 = fma(a21, b6, acc21_6); acc21_7 = fma(a21, b7, acc21_7);
        acc22_0 = fma(a22, b0, acc22_0); acc22_1 = fma(a22, b1, acc22_1); acc22_2 = fma(a22, b2, acc22_2); acc22_3 = fma(a22, b3, acc22_3); acc22_4 = fma(a22, b4, acc22_4); acc22_5 = fma(a22, b5, acc22_5); acc22_6 = fma(a22, b6, acc22_6); acc22_7 = fma(a22, b7, acc22_7);
        acc23_0 = fma(a23, b0, acc23_0); acc23_1 = fma(a23, b1, acc23_1); acc23_2 = fma(a23, b2, acc23_2); acc23_3 = fma(a23, b3, acc23_3); acc23_4 = fma(a23, b4, acc23_4); acc23_5 = fma(a23, b5, acc23_5); acc23_6 = fma(a23, b6, acc23_6); acc23_7 = fma(a23, b7, acc23_7);
        acc24_0 = fma(a24, b0, acc24_0); acc24_1 = fma(a24, b1, acc24_1); acc24_2 = fma(a24, b2, acc24_2); acc24_3 = fma(a24, b3, acc24_3); acc24_4 = fma(a24, b4, acc24_4); acc24_5 = fma(a24, b5, acc24_5); acc24_6 = fma(a24, b6, acc24_6); acc24_7 = fma(a24, b7, acc24_7);
        acc25_0 = fma(a25, b0, acc25_0); acc25_1 = fma(a25, b1, acc25_1); acc25_2 = fma(a25, b2, acc25_2); acc25_3 = fma(a25, b3, acc25_3); acc25_4 = fma(a25, b4, acc25_4); acc25_5 = fma(a25, b5, acc25_5); acc25_6 = fma(a25, b6, acc25_6); acc25_7 = fma(a25, b7, acc25_7);
        acc26_0 = fma(a26, b0, acc26_0); acc26_1 = fma(a26, b1, acc26_1); acc26_2 = fma(a26, b2, acc26_2); acc26_3 = fma(a26, b3, acc26_3); acc26_4 = fma(a26, b4, acc26_4); acc26_5 = fma(a26, b5, acc26_5); acc26_6 = fma(a26, b6, acc26_6); acc26_7 = fma(a26, b7, acc26_7);
        acc27_0 = fma(a27, b0, acc27_0); acc27_1 = fma(a27, b1, acc27_1); acc27_2 = fma(a27, b2, acc27_2); acc27_3 = fma(a27, b3, acc27_3); acc27_4 = fma(a27, b4, acc27_4); acc27_5 = fma(a27, b5, acc27_5); acc27_6 = fma(a27, b6, acc27_6); acc27_7 = fma(a27, b7, acc27_7);
        acc28_0 = fma(a28, b0, acc28_0); acc28_1 = fma(a28, b1, acc28_1); acc28_2 = fma(a28, b2, acc28_2); acc28_3 = fma(a28, b3, acc28_3); acc28_4 = fma(a28, b4, acc28_4); acc28_5 = fma(a28, b5, acc28_5); acc28_6 = fma(a28, b6, acc28_6); acc28_7 = fma(a28, b7, acc28_7);
        acc29_0 = fma(a29, b0, acc29_0); acc29_1 = fma(a29, b1, acc29_1); acc29_2 = fma(a29, b2, acc29_2); acc29_3 = fma(a29, b3, acc29_3); acc29_4 = fma(a29, b4, acc29_4); acc29_5 = fma(a29, b5, acc29_5); acc29_6 = fma(a29, b6, acc29_6); acc29_7 = fma(a29, b7, acc29_7);
        acc30_0 = fma(a30, b0, acc30_0); acc30_1 = fma(a30, b1, acc30_1); acc30_2 = fma(a30, b2, acc30_2); acc30_3 = fma(a30, b3, acc30_3); acc30_4 = fma(a30, b4, acc30_4); acc30_5 = fma(a30, b5, acc30_5); acc30_6 = fma(a30, b6, acc30_6); acc30_7 = fma(a30, b7, acc30_7);
        acc31_0 = fma(a31, b0, acc31_0); acc31_1 = fma(a31, b1, acc31_1); acc31_2 = fma(a31, b2, acc31_2); acc31_3 = fma(a31, b3, acc31_3); acc31_4 = fma(a31, b4, acc31_4); acc31_5 = fma(a31, b5, acc31_5); acc31_6 = fma(a31, b6, acc31_6); acc31_7 = fma(a31, b7, acc31_7);
    }
    var acc = array<array<f32, 8>, 32>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
        array<f32, 8>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4, acc8_5, acc8_6, acc8_7),
        array<f32, 8>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4, acc9_5, acc9_6, acc9_7),
        array<f32, 8>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4, acc10_5, acc10_6, acc10_7),
        array<f32, 8>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4, acc11_5, acc11_6, acc11_7),
        array<f32, 8>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4, acc12_5, acc12_6, acc12_7),
        array<f32, 8>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4, acc13_5, acc13_6, acc13_7),
        array<f32, 8>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4, acc14_5, acc14_6, acc14_7),
        array<f32, 8>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4, acc15_5, acc15_6, acc15_7),
        array<f32, 8>(acc16_0, acc16_1, acc16_2, acc16_3, acc16_4, acc16_5, acc16_6, acc16_7),
        array<f32, 8>(acc17_0, acc17_1, acc17_2, acc17_3, acc17_4, acc17_5, acc17_6, acc17_7),
        array<f32, 8>(acc18_0, acc18_1, acc18_2, acc18_3, acc18_4, acc18_5, acc18_6, acc18_7),
        array<f32, 8>(acc19_0, acc19_1, acc19_2, acc19_3, acc19_4, acc19_5, acc19_6, acc19_7),
        array<f32, 8>(acc20_0, acc20_1, acc20_2, acc20_3, acc20_4, acc20_5, acc20_6, acc20_7),
        array<f32, 8>(acc21_0, acc21_1, acc21_2, acc21_3, acc21_4, acc21_5, acc21_6, acc21_7),
        array<f32, 8>(acc22_0, acc22_1, acc22_2, acc22_3, acc22_4, acc22_5, acc22_6, acc22_7),
        array<f32, 8>(acc23_0, acc23_1, acc23_2, acc23_3, acc23_4, acc23_5, acc23_6, acc23_7),
        array<f32, 8>(acc24_0, acc24_1, acc24_2, acc24_3, acc24_4, acc24_5, acc24_6, acc24_7),
        array<f32, 8>(acc25_0, acc25_1, acc25_2, acc25_3, acc25_4, acc25_5, acc25_6, acc25_7),
        array<f32, 8>(acc26_0, acc26_1, acc26_2, acc26_3, acc26_4, acc26_5, acc26_6, acc26_7),
        array<f32, 8>(acc27_0, acc27_1, acc27_2, acc27_3, acc27_4, acc27_5, acc27_6, acc27_7),
        array<f32, 8>(acc28_0, acc28_1, acc28_2, acc28_3, acc28_4, acc28_5, acc28_6, acc28_7),
        array<f32, 8>(acc29_0, acc29_1, acc29_2, acc29_3, acc29_4, acc29_5, acc29_6, acc29_7),
        array<f32, 8>(acc30_0, acc30_1, acc30_2, acc30_3, acc30_4, acc30_5, acc30_6, acc30_7),
        array<f32, 8>(acc31_0, acc31_1, acc31_2, acc31_3, acc31_4, acc31_5, acc31_6, acc31_7),
    );
    for (var i = 0u; i < 32u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}

@compute @workgroup_size(WG_X * WG_Y, 1, 1)
fn gemm64x8_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let lid = vec2<u32>(li % WG_X, li / WG_X);
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 64u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let r_mine0 = min(row0 + (lane % 8u + 0u) * WG_Y, p.m - 1u);
    let r_mine1 = min(row0 + (lane % 8u + 8u) * WG_Y, p.m - 1u);
    let r_mine2 = min(row0 + (lane % 8u + 16u) * WG_Y, p.m - 1u);
    let r_mine3 = min(row0 + (lane % 8u + 24u) * WG_Y, p.m - 1u);
    let r_mine4 = min(row0 + (lane % 8u + 32u) * WG_Y, p.m - 1u);
    let r_mine5 = min(row0 + (lane % 8u + 40u) * WG_Y, p.m - 1u);
    let r_mine6 = min(row0 + (lane % 8u + 48u) * WG_Y, p.m - 1u);
    let r_mine7 = min(row0 + (lane % 8u + 56u) * WG_Y, p.m - 1u);
    let c0 = min(col0 + 0u * WG_X, p.n - 1u);
    let c1 = min(col0 + 1u * WG_X, p.n - 1u);
    let c2 = min(col0 + 2u * WG_X, p.n - 1u);
    let c3 = min(col0 + 3u * WG_X, p.n - 1u);
    let c4 = min(col0 + 4u * WG_X, p.n - 1u);
    let c5 = min(col0 + 5u * WG_X, p.n - 1u);
    let c6 = min(col0 + 6u * WG_X, p.n - 1u);
    let c7 = min(col0 + 7u * WG_X, p.n - 1u);
    var acc0_0 = 0.0; var acc0_1 = 0.0; var acc0_2 = 0.0; var acc0_3 = 0.0; var acc0_4 = 0.0; var acc0_5 = 0.0; var acc0_6 = 0.0; var acc0_7 = 0.0;
    var acc1_0 = 0.0; var acc1_1 = 0.0; var acc1_2 = 0.0; var acc1_3 = 0.0; var acc1_4 = 0.0; var acc1_5 = 0.0; var acc1_6 = 0.0; var acc1_7 = 0.0;
    var acc2_0 = 0.0; var acc2_1 = 0.0; var acc2_2 = 0.0; var acc2_3 = 0.0; var acc2_4 = 0.0; var acc2_5 = 0.0; var acc2_6 = 0.0; var acc2_7 = 0.0;
    var acc3_0 = 0.0; var acc3_1 = 0.0; var acc3_2 = 0.0; var acc3_3 = 0.0; var acc3_4 = 0.0; var acc3_5 = 0.0; var acc3_6 = 0.0; var acc3_7 = 0.0;
    var acc4_0 = 0.0; var acc4_1 = 0.0; var acc4_2 = 0.0; var acc4_3 = 0.0; var acc4_4 = 0.0; var acc4_5 = 0.0; var acc4_6 = 0.0; var acc4_7 = 0.0;
    var acc5_0 = 0.0; var acc5_1 = 0.0; var acc5_2 = 0.0; var acc5_3 = 0.0; var acc5_4 = 0.0; var acc5_5 = 0.0; var acc5_6 = 0.0; var acc5_7 = 0.0;
    var acc6_0 = 0.0; var acc6_1 = 0.0; var acc6_2 = 0.0; var acc6_3 = 0.0; var acc6_4 = 0.0; var acc6_5 = 0.0; var acc6_6 = 0.0; var acc6_7 = 0.0;
    var acc7_0 = 0.0; var acc7_1 = 0.0; var acc7_2 = 0.0; var acc7_3 = 0.0; var acc7_4 = 0.0; var acc7_5 = 0.0; var acc7_6 = 0.0; var acc7_7 = 0.0;
    var acc8_0 = 0.0; var acc8_1 = 0.0; var acc8_2 = 0.0; var acc8_3 = 0.0; var acc8_4 = 0.0; var acc8_5 = 0.0; var acc8_6 = 0.0; var acc8_7 = 0.0;
    var acc9_0 = 0.0; var acc9_1 = 0.0; var acc9_2 = 0.0; var acc9_3 = 0.0; var acc9_4 = 0.0; var acc9_5 = 0.0; var acc9_6 = 0.0; var acc9_7 = 0.0;
    var acc10_0 = 0.0; var acc10_1 = 0.0; var acc10_2 = 0.0; var acc10_3 = 0.0; var acc10_4 = 0.0; var acc10_5 = 0.0; var acc10_6 = 0.0; var acc10_7 = 0.0;
    var acc11_0 = 0.0; var acc11_1 = 0.0; var acc11_2 = 0.0; var acc11_3 = 0.0; var acc11_4 = 0.0; var acc11_5 = 0.0; var acc11_6 = 0.0; var acc11_7 = 0.0;
    var acc12_0 = 0.0; var acc12_1 = 0.0; var acc12_2 = 0.0; var acc12_3 = 0.0; var acc12_4 = 0.0; var acc12_5 = 0.0; var acc12_6 = 0.0; var acc12_7 = 0.0;
    var acc13_0 = 0.0; var acc13_1 = 0.0; var acc13_2 = 0.0; var acc13_3 = 0.0; var acc13_4 = 0.0; var acc13_5 = 0.0; var acc13_6 = 0.0; var acc13_7 = 0.0;
    var acc14_0 = 0.0; var acc14_1 = 0.0; var acc14_2 = 0.0; var acc14_3 = 0.0; var acc14_4 = 0.0; var acc14_5 = 0.0; var acc14_6 = 0.0; var acc14_7 = 0.0;
    var acc15_0 = 0.0; var acc15_1 = 0.0; var acc15_2 = 0.0; var acc15_3 = 0.0; var acc15_4 = 0.0; var acc15_5 = 0.0; var acc15_6 = 0.0; var acc15_7 = 0.0;
    var acc16_0 = 0.0; var acc16_1 = 0.0; var acc16_2 = 0.0; var acc16_3 = 0.0; var acc16_4 = 0.0; var acc16_5 = 0.0; var acc16_6 = 0.0; var acc16_7 = 0.0;
    var acc17_0 = 0.0; var acc17_1 = 0.0; var acc17_2 = 0.0; var acc17_3 = 0.0; var acc17_4 = 0.0; var acc17_5 = 0.0; var acc17_6 = 0.0; var acc17_7 = 0.0;
    var acc18_0 = 0.0; var acc18_1 = 0.0; var acc18_2 = 0.0; var acc18_3 = 0.0; var acc18_4 = 0.0; var acc18_5 = 0.0; var acc18_6 = 0.0; var acc18_7 = 0.0;
    var acc19_0 = 0.0; var acc19_1 = 0.0; var acc19_2 = 0.0; var acc19_3 = 0.0; var acc19_4 = 0.0; var acc19_5 = 0.0; var acc19_6 = 0.0; var acc19_7 = 0.0;
    var acc20_0 = 0.0; var acc20_1 = 0.0; var acc20_2 = 0.0; var acc20_3 = 0.0; var acc20_4 = 0.0; var acc20_5 = 0.0; var acc20_6 = 0.0; var acc20_7 = 0.0;
    var acc21_0 = 0.0; var acc21_1 = 0.0; var acc21_2 = 0.0; var acc21_3 = 0.0; var acc21_4 = 0.0; var acc21_5 = 0.0; var acc21_6 = 0.0; var acc21_7 = 0.0;
    var acc22_0 = 0.0; var acc22_1 = 0.0; var acc22_2 = 0.0; var acc22_3 = 0.0; var acc22_4 = 0.0; var acc22_5 = 0.0; var acc22_6 = 0.0; var acc22_7 = 0.0;
    var acc23_0 = 0.0; var acc23_1 = 0.0; var acc23_2 = 0.0; var acc23_3 = 0.0; var acc23_4 = 0.0; var acc23_5 = 0.0; var acc23_6 = 0.0; var acc23_7 = 0.0;
    var acc24_0 = 0.0; var acc24_1 = 0.0; var acc24_2 = 0.0; var acc24_3 = 0.0; var acc24_4 = 0.0; var acc24_5 = 0.0; var acc24_6 = 0.0; var acc24_7 = 0.0;
    var acc25_0 = 0.0; var acc25_1 = 0.0; var acc25_2 = 0.0; var acc25_3 = 0.0; var acc25_4 = 0.0; var acc25_5 = 0.0; var acc25_6 = 0.0; var acc25_7 = 0.0;
    var acc26_0 = 0.0; var acc26_1 = 0.0; var acc26_2 = 0.0; var acc26_3 = 0.0; var acc26_4 = 0.0; var acc26_5 = 0.0; var acc26_6 = 0.0; var acc26_7 = 0.0;
    var acc27_0 = 0.0; var acc27_1 = 0.0; var acc27_2 = 0.0; var acc27_3 = 0.0; var acc27_4 = 0.0; var acc27_5 = 0.0; var acc27_6 = 0.0; var acc27_7 = 0.0;
    var acc28_0 = 0.0; var acc28_1 = 0.0; var acc28_2 = 0.0; var acc28_3 = 0.0; var acc28_4 = 0.0; var acc28_5 = 0.0; var acc28_6 = 0.0; var acc28_7 = 0.0;
    var acc29_0 = 0.0; var acc29_1 = 0.0; var acc29_2 = 0.0; var acc29_3 = 0.0; var acc29_4 = 0.0; var acc29_5 = 0.0; var acc29_6 = 0.0; var acc29_7 = 0.0;
    var acc30_0 = 0.0; var acc30_1 = 0.0; var acc30_2 = 0.0; var acc30_3 = 0.0; var acc30_4 = 0.0; var acc30_5 = 0.0; var acc30_6 = 0.0; var acc30_7 = 0.0;
    var acc31_0 = 0.0; var acc31_1 = 0.0; var acc31_2 = 0.0; var acc31_3 = 0.0; var acc31_4 = 0.0; var acc31_5 = 0.0; var acc31_6 = 0.0; var acc31_7 = 0.0;
    var acc32_0 = 0.0; var acc32_1 = 0.0; var acc32_2 = 0.0; var acc32_3 = 0.0; var acc32_4 = 0.0; var acc32_5 = 0.0; var acc32_6 = 0.0; var acc32_7 = 0.0;
    var acc33_0 = 0.0; var acc33_1 = 0.0; var acc33_2 = 0.0; var acc33_3 = 0.0; var acc33_4 = 0.0; var acc33_5 = 0.0; var acc33_6 = 0.0; var acc33_7 = 0.0;
    var acc34_0 = 0.0; var acc34_1 = 0.0; var acc34_2 = 0.0; var acc34_3 = 0.0; var acc34_4 = 0.0; var acc34_5 = 0.0; var acc34_6 = 0.0; var acc34_7 = 0.0;
    var acc35_0 = 0.0; var acc35_1 = 0.0; var acc35_2 = 0.0; var acc35_3 = 0.0; var acc35_4 = 0.0; var acc35_5 = 0.0; var acc35_6 = 0.0; var acc35_7 = 0.0;
    var acc36_0 = 0.0; var acc36_1 = 0.0; var acc36_2 = 0.0; var acc36_3 = 0.0; var acc36_4 = 0.0; var acc36_5 = 0.0; var acc36_6 = 0.0; var acc36_7 = 0.0;
    var acc37_0 = 0.0; var acc37_1 = 0.0; var acc37_2 = 0.0; var acc37_3 = 0.0; var acc37_4 = 0.0; var acc37_5 = 0.0; var acc37_6 = 0.0; var acc37_7 = 0.0;
    var acc38_0 = 0.0; var acc38_1 = 0.0; var acc38_2 = 0.0; var acc38_3 = 0.0; var acc38_4 = 0.0; var acc38_5 = 0.0; var acc38_6 = 0.0; var acc38_7 = 0.0;
    var acc39_0 = 0.0; var acc39_1 = 0.0; var acc39_2 = 0.0; var acc39_3 = 0.0; var acc39_4 = 0.0; var acc39_5 = 0.0; var acc39_6 = 0.0; var acc39_7 = 0.0;
    var acc40_0 = 0.0; var acc40_1 = 0.0; var acc40_2 = 0.0; var acc40_3 = 0.0; var acc40_4 = 0.0; var acc40_5 = 0.0; var acc40_6 = 0.0; var acc40_7 = 0.0;
    var acc41_0 = 0.0; var acc41_1 = 0.0; var acc41_2 = 0.0; var acc41_3 = 0.0; var acc41_4 = 0.0; var acc41_5 = 0.0; var acc41_6 = 0.0; var acc41_7 = 0.0;
    var acc42_0 = 0.0; var acc42_1 = 0.0; var acc42_2 = 0.0; var acc42_3 = 0.0; var acc42_4 = 0.0; var acc42_5 = 0.0; var acc42_6 = 0.0; var acc42_7 = 0.0;
    var acc43_0 = 0.0; var acc43_1 = 0.0; var acc43_2 = 0.0; var acc43_3 = 0.0; var acc43_4 = 0.0; var acc43_5 = 0.0; var acc43_6 = 0.0; var acc43_7 = 0.0;
    var acc44_0 = 0.0; var acc44_1 = 0.0; var acc44_2 = 0.0; var acc44_3 = 0.0; var acc44_4 = 0.0; var acc44_5 = 0.0; var acc44_6 = 0.0; var acc44_7 = 0.0;
    var acc45_0 = 0.0; var acc45_1 = 0.0; var acc45_2 = 0.0; var acc45_3 = 0.0; var acc45_4 = 0.0; var acc45_5 = 0.0; var acc45_6 = 0.0; var acc45_7 = 0.0;
    var acc46_0 = 0.0; var acc46_1 = 0.0; var acc46_2 = 0.0; var acc46_3 = 0.0; var acc46_4 = 0.0; var acc46_5 = 0.0; var acc46_6 = 0.0; var acc46_7 = 0.0;
    var acc47_0 = 0.0; var acc47_1 = 0.0; var acc47_2 = 0.0; var acc47_3 = 0.0; var acc47_4 = 0.0; var acc47_5 = 0.0; var acc47_6 = 0.0; var acc47_7 = 0.0;
    var acc48_0 = 0.0; var acc48_1 = 0.0; var acc48_2 = 0.0; var acc48_3 = 0.0; var acc48_4 = 0.0; var acc48_5 = 0.0; var acc48_6 = 0.0; var acc48_7 = 0.0;
    var acc49_0 = 0.0; var acc49_1 = 0.0; var acc49_2 = 0.0; var acc49_3 = 0.0; var acc49_4 = 0.0; var acc49_5 = 0.0; var acc49_6 = 0.0; var acc49_7 = 0.0;
    var acc50_0 = 0.0; var acc50_1 = 0.0; var acc50_2 = 0.0; var acc50_3 = 0.0; var acc50_4 = 0.0; var acc50_5 = 0.0; var acc50_6 = 0.0; var acc50_7 = 0.0;
    var acc51_0 = 0.0; var acc51_1 = 0.0; var acc51_2 = 0.0; var acc51_3 = 0.0; var acc51_4 = 0.0; var acc51_5 = 0.0; var acc51_6 = 0.0; var acc51_7 = 0.0;
    var acc52_0 = 0.0; var acc52_1 = 0.0; var acc52_2 = 0.0; var acc52_3 = 0.0; var acc52_4 = 0.0; var acc52_5 = 0.0; var acc52_6 = 0.0; var acc52_7 = 0.0;
    var acc53_0 = 0.0; var acc53_1 = 0.0; var acc53_2 = 0.0; var acc53_3 = 0.0; var acc53_4 = 0.0; var acc53_5 = 0.0; var acc53_6 = 0.0; var acc53_7 = 0.0;
    var acc54_0 = 0.0; var acc54_1 = 0.0; var acc54_2 = 0.0; var acc54_3 = 0.0; var acc54_4 = 0.0; var acc54_5 = 0.0; var acc54_6 = 0.0; var acc54_7 = 0.0;
    var acc55_0 = 0.0; var acc55_1 = 0.0; var acc55_2 = 0.0; var acc55_3 = 0.0; var acc55_4 = 0.0; var acc55_5 = 0.0; var acc55_6 = 0.0; var acc55_7 = 0.0;
    var acc56_0 = 0.0; var acc56_1 = 0.0; var acc56_2 = 0.0; var acc56_3 = 0.0; var acc56_4 = 0.0; var acc56_5 = 0.0; var acc56_6 = 0.0; var acc56_7 = 0.0;
    var acc57_0 = 0.0; var acc57_1 = 0.0; var acc57_2 = 0.0; var acc57_3 = 0.0; var acc57_4 = 0.0; var acc57_5 = 0.0; var acc57_6 = 0.0; var acc57_7 = 0.0;
    var acc58_0 = 0.0; var acc58_1 = 0.0; var acc58_2 = 0.0; var acc58_3 = 0.0; var acc58_4 = 0.0; var acc58_5 = 0.0; var acc58_6 = 0.0; var acc58_7 = 0.0;
    var acc59_0 = 0.0; var acc59_1 = 0.0; var acc59_2 = 0.0; var acc59_3 = 0.0; var acc59_4 = 0.0; var acc59_5 = 0.0; var acc59_6 = 0.0; var acc59_7 = 0.0;
    var acc60_0 = 0.0; var acc60_1 = 0.0; var acc60_2 = 0.0; var acc60_3 = 0.0; var acc60_4 = 0.0; var acc60_5 = 0.0; var acc60_6 = 0.0; var acc60_7 = 0.0;
    var acc61_0 = 0.0; var acc61_1 = 0.0; var acc61_2 = 0.0; var acc61_3 = 0.0; var acc61_4 = 0.0; var acc61_5 = 0.0; var acc61_6 = 0.0; var acc61_7 = 0.0;
    var acc62_0 = 0.0; var acc62_1 = 0.0; var acc62_2 = 0.0; var acc62_3 = 0.0; var acc62_4 = 0.0; var acc62_5 = 0.0; var acc62_6 = 0.0; var acc62_7 = 0.0;
    var acc63_0 = 0.0; var acc63_1 = 0.0; var acc63_2 = 0.0; var acc63_3 = 0.0; var acc63_4 = 0.0; var acc63_5 = 0.0; var acc63_6 = 0.0; var acc63_7 = 0.0;
    for (var kk = 0u; kk < p.k; kk++) {
        let a_mine0 = load_a(a_base, r_mine0, kk);
        let a_mine1 = load_a(a_base, r_mine1, kk);
        let a_mine2 = load_a(a_base, r_mine2, kk);
        let a_mine3 = load_a(a_base, r_mine3, kk);
        let a_mine4 = load_a(a_base, r_mine4, kk);
        let a_mine5 = load_a(a_base, r_mine5, kk);
        let a_mine6 = load_a(a_base, r_mine6, kk);
        let a_mine7 = load_a(a_base, r_mine7, kk);
        let a0 = subgroupBroadcast(a_mine0, 0u);
        let a1 = subgroupBroadcast(a_mine0, 1u);
        let a2 = subgroupBroadcast(a_mine0, 2u);
        let a3 = subgroupBroadcast(a_mine0, 3u);
        let a4 = subgroupBroadcast(a_mine0, 4u);
        let a5 = subgroupBroadcast(a_mine0, 5u);
        let a6 = subgroupBroadcast(a_mine0, 6u);
        let a7 = subgroupBroadcast(a_mine0, 7u);
        let a8 = subgroupBroadcast(a_mine1, 0u);
        let a9 = subgroupBroadcast(a_mine1, 1u);
        let a10 = subgroupBroadcast(a_mine1, 2u);
        let a11 = subgroupBroadcast(a_mine1, 3u);
        let a12 = subgroupBroadcast(a_mine1, 4u);
        let a13 = subgroupBroadcast(a_mine1, 5u);
        let a14 = subgroupBroadcast(a_mine1, 6u);
        let a15 = subgroupBroadcast(a_mine1, 7u);
        let a16 = subgroupBroadcast(a_mine2, 0u);
        let a17 = subgroupBroadcast(a_mine2, 1u);
        let a18 = subgroupBroadcast(a_mine2, 2u);
        let a19 = subgroupBroadcast(a_mine2, 3u);
        let a20 = subgroupBroadcast(a_mine2, 4u);
        let a21 = subgroupBroadcast(a_mine2, 5u);
        let a22 = subgroupBroadcast(a_mine2, 6u);
        let a23 = subgroupBroadcast(a_mine2, 7u);
        let a24 = subgroupBroadcast(a_mine3, 0u);
        let a25 = subgroupBroadcast(a_mine3, 1u);
        let a26 = subgroupBroadcast(a_mine3, 2u);
        let a27 = subgroupBroadcast(a_mine3, 3u);
        let a28 = subgroupBroadcast(a_mine3, 4u);
        let a29 = subgroupBroadcast(a_mine3, 5u);
        let a30 = subgroupBroadcast(a_mine3, 6u);
        let a31 = subgroupBroadcast(a_mine3, 7u);
        let a32 = subgroupBroadcast(a_mine4, 0u);
        let a33 = subgroupBroadcast(a_mine4, 1u);
        let a34 = subgroupBroadcast(a_mine4, 2u);
        let a35 = subgroupBroadcast(a_mine4, 3u);
        let a36 = subgroupBroadcast(a_mine4, 4u);
        let a37 = subgroupBroadcast(a_mine4, 5u);
        let a38 = subgroupBroadcast(a_mine4, 6u);
        let a39 = subgroupBroadcast(a_mine4, 7u);
        let a40 = subgroupBroadcast(a_mine5, 0u);
        let a41 = subgroupBroadcast(a_mine5, 1u);
        let a42 = subgroupBroadcast(a_mine5, 2u);
        let a43 = subgroupBroadcast(a_mine5, 3u);
        let a44 = subgroupBroadcast(a_mine5, 4u);
        let a45 = subgroupBroadcast(a_mine5, 5u);
        let a46 = subgroupBroadcast(a_mine5, 6u);
        let a47 = subgroupBroadcast(a_mine5, 7u);
        let a48 = subgroupBroadcast(a_mine6, 0u);
        let a49 = subgroupBroadcast(a_mine6, 1u);
        let a50 = subgroupBroadcast(a_mine6, 2u);
        let a51 = subgroupBroadcast(a_mine6, 3u);
        let a52 = subgroupBroadcast(a_mine6, 4u);
        let a53 = subgroupBroadcast(a_mine6, 5u);
        let a54 = subgroupBroadcast(a_mine6, 6u);
        let a55 = subgroupBroadcast(a_mine6, 7u);
        let a56 = subgroupBroadcast(a_mine7, 0u);
        let a57 = subgroupBroadcast(a_mine7, 1u);
        let a58 = subgroupBroadcast(a_mine7, 2u);
        let a59 = subgroupBroadcast(a_mine7, 3u);
        let a60 = subgroupBroadcast(a_mine7, 4u);
        let a61 = subgroupBroadcast(a_mine7, 5u);
        let a62 = subgroupBroadcast(a_mine7, 6u);
        let a63 = subgroupBroadcast(a_mine7, 7u);
        let b0 = load_b(b_base, kk, c0);
        let b1 = load_b(b_base, kk, c1);
        let b2 = load_b(b_base, kk, c2);
        let b3 = load_b(b_base, kk, c3);
        let b4 = load_b(b_base, kk, c4);
        let b5 = load_b(b_base, kk, c5);
        let b6 = load_b(b_base, kk, c6);
        let b7 = load_b(b_base, kk, c7);
        acc0_0 = fma(a0, b0, acc0_0); acc0_1 = fma(a0, b1, acc0_1); acc0_2 = fma(a0, b2, acc0_2); acc0_3 = fma(a0, b3, acc0_3); acc0_4 = fma(a0, b4, acc0_4); acc0_5 = fma(a0, b5, acc0_5); acc0_6 = fma(a0, b6, acc0_6); acc0_7 = fma(a0, b7, acc0_7);
        acc1_0 = fma(a1, b0, acc1_0); acc1_1 = fma(a1, b1, acc1_1); acc1_2 = fma(a1, b2, acc1_2); acc1_3 = fma(a1, b3, acc1_3); acc1_4 = fma(a1, b4, acc1_4); acc1_5 = fma(a1, b5, acc1_5); acc1_6 = fma(a1, b6, acc1_6); acc1_7 = fma(a1, b7, acc1_7);
        acc2_0 = fma(a2, b0, acc2_0); acc2_1 = fma(a2, b1, acc2_1); acc2_2 = fma(a2, b2, acc2_2); acc2_3 = fma(a2, b3, acc2_3); acc2_4 = fma(a2, b4, acc2_4); acc2_5 = fma(a2, b5, acc2_5); acc2_6 = fma(a2, b6, acc2_6); acc2_7 = fma(a2, b7, acc2_7);
        acc3_0 = fma(a3, b0, acc3_0); acc3_1 = fma(a3, b1, acc3_1); acc3_2 = fma(a3, b2, acc3_2); acc3_3 = fma(a3, b3, acc3_3); acc3_4 = fma(a3, b4, acc3_4); acc3_5 = fma(a3, b5, acc3_5); acc3_6 = fma(a3, b6, acc3_6); acc3_7 = fma(a3, b7, acc3_7);
        acc4_0 = fma(a4, b0, acc4_0); acc4_1 = fma(a4, b1, acc4_1); acc4_2 = fma(a4, b2, acc4_2); acc4_3 = fma(a4, b3, acc4_3); acc4_4 = fma(a4, b4, acc4_4); acc4_5 = fma(a4, b5, acc4_5); acc4_6 = fma(a4, b6, acc4_6); acc4_7 = fma(a4, b7, acc4_7);
        acc5_0 = fma(a5, b0, acc5_0); acc5_1 = fma(a5, b1, acc5_1); acc5_2 = fma(a5, b2, acc5_2); acc5_3 = fma(a5, b3, acc5_3); acc5_4 = fma(a5, b4, acc5_4); acc5_5 = fma(a5, b5, acc5_5); acc5_6 = fma(a5, b6, acc5_6); acc5_7 = fma(a5, b7, acc5_7);
        acc6_0 = fma(a6, b0, acc6_0); acc6_1 = fma(a6, b1, acc6_1); acc6_2 = fma(a6, b2, acc6_2); acc6_3 = fma(a6, b3, acc6_3); acc6_4 = fma(a6, b4, acc6_4); acc6_5 = fma(a6, b5, acc6_5); acc6_6 = fma(a6, b6, acc6_6); acc6_7 = fma(a6, b7, acc6_7);
        acc7_0 = fma(a7, b0, acc7_0); acc7_1 = fma(a7, b1, acc7_1); acc7_2 = fma(a7, b2, acc7_2); acc7_3 = fma(a7, b3, acc7_3); acc7_4 = fma(a7, b4, acc7_4); acc7_5 = fma(a7, b5, acc7_5); acc7_6 = fma(a7, b6, acc7_6); acc7_7 = fma(a7, b7, acc7_7);
        acc8_0 = fma(a8, b0, acc8_0); acc8_1 = fma(a8, b1, acc8_1); acc8_2 = fma(a8, b2, acc8_2); acc8_3 = fma(a8, b3, acc8_3); acc8_4 = fma(a8, b4, acc8_4); acc8_5 = fma(a8, b5, acc8_5); acc8_6 = fma(a8, b6, acc8_6); acc8_7 = fma(a8, b7, acc8_7);
        acc9_0 = fma(a9, b0, acc9_0); acc9_1 = fma(a9, b1, acc9_1); acc9_2 = fma(a9, b2, acc9_2); acc9_3 = fma(a9, b3, acc9_3); acc9_4 = fma(a9, b4, acc9_4); acc9_5 = fma(a9, b5, acc9_5); acc9_6 = fma(a9, b6, acc9_6); acc9_7 = fma(a9, b7, acc9_7);
        acc10_0 = fma(a10, b0, acc10_0); acc10_1 = fma(a10, b1, acc10_1); acc10_2 = fma(a10, b2, acc10_2); acc10_3 = fma(a10, b3, acc10_3); acc10_4 = fma(a10, b4, acc10_4); acc10_5 = fma(a10, b5, acc10_5); acc10_6 = fma(a10, b6, acc10_6); acc10_7 = fma(a10, b7, acc10_7);
        acc11_0 = fma(a11, b0, acc11_0); acc11_1 = fma(a11, b1, acc11_1); acc11_2 = fma(a11, b2, acc11_2); acc11_3 = fma(a11, b3, acc11_3); acc11_4 = fma(a11, b4, acc11_4); acc11_5 = fma(a11, b5, acc11_5); acc11_6 = fma(a11, b6, acc11_6); acc11_7 = fma(a11, b7, acc11_7);
        acc12_0 = fma(a12, b0, acc12_0); acc12_1 = fma(a12, b1, acc12_1); acc12_2 = fma(a12, b2, acc12_2); acc12_3 = fma(a12, b3, acc12_3); acc12_4 = fma(a12, b4, acc12_4); acc12_5 = fma(a12, b5, acc12_5); acc12_6 = fma(a12, b6, acc12_6); acc12_7 = fma(a12, b7, acc12_7);
        acc13_0 = fma(a13, b0, acc13_0); acc13_1 = fma(a13, b1, acc13_1); acc13_2 = fma(a13, b2, acc13_2); acc13_3 = fma(a13, b3, acc13_3); acc13_4 = fma(a13, b4, acc13_4); acc13_5 = fma(a13, b5, acc13_5); acc13_6 = fma(a13, b6, acc13_6); acc13_7 = fma(a13, b7, acc13_7);
        acc14_0 = fma(a14, b0, acc14_0); acc14_1 = fma(a14, b1, acc14_1); acc14_2 = fma(a14, b2, acc14_2); acc14_3 = fma(a14, b3, acc14_3); acc14_4 = fma(a14, b4, acc14_4); acc14_5 = fma(a14, b5, acc14_5); acc14_6 = fma(a14, b6, acc14_6); acc14_7 = fma(a14, b7, acc14_7);
        acc15_0 = fma(a15, b0, acc15_0); acc15_1 = fma(a15, b1, acc15_1); acc15_2 = fma(a15, b2, acc15_2); acc15_3 = fma(a15, b3, acc15_3); acc15_4 = fma(a15, b4, acc15_4); acc15_5 = fma(a15, b5, acc15_5); acc15_6 = fma(a15, b6, acc15_6); acc15_7 = fma(a15, b7, acc15_7);
        acc16_0 = fma(a16, b0, acc16_0); acc16_1 = fma(a16, b1, acc16_1); acc16_2 = fma(a16, b2, acc16_2); acc16_3 = fma(a16, b3, acc16_3); acc16_4 = fma(a16, b4, acc16_4); acc16_5 = fma(a16, b5, acc16_5); acc16_6 = fma(a16, b6, acc16_6); acc16_7 = fma(a16, b7, acc16_7);
        acc17_0 = fma(a17, b0, acc17_0); acc17_1 = fma(a17, b1, acc17_1); acc17_2 = fma(a17, b2, acc17_2); acc17_3 = fma(a17, b3, acc17_3); acc17_4 = fma(a17, b4, acc17_4); acc17_5 = fma(a17, b5, acc17_5); acc17_6 = fma(a17, b6, acc17_6); acc17_7 = fma(a17, b7, acc17_7);
        acc18_0 = fma(a18, b0, acc18_0); acc18_1 = fma(a18, b1, acc18_1); acc18_2 = fma(a18, b2, acc18_2); acc18_3 = fma(a18, b3, acc18_3); acc18_4 = fma(a18, b4, acc18_4); acc18_5 = fma(a18, b5, acc18_5); acc18_6 = fma(a18, b6, acc18_6); acc18_7 = fma(a18, b7, acc18_7);
        acc19_0 = fma(a19, b0, acc19_0); acc19_1 = fma(a19, b1, acc19_1); acc19_2 = fma(a19, b2, acc19_2); acc19_3 = fma(a19, b3, acc19_3); acc19_4 = fma(a19, b4, acc19_4); acc19_5 = fma(a19, b5, acc19_5); acc19_6 = fma(a19, b6, acc19_6); acc19_7 = fma(a19, b7, acc19_7);
        acc20_0 = fma(a20, b0, acc20_0); acc20_1 = fma(a20, b1, acc20_1); acc20_2 = fma(a20, b2, acc20_2); acc20_3 = fma(a20, b3, acc20_3); acc20_4 = fma(a20, b4, acc20_4); acc20_5 = fma(a20, b5, acc20_5); acc20_6 = fma(a20, b6, acc20_6); acc20_7 = fma(a20, b7, acc20_7);
        acc21_0 = fma(a21, b0, acc21_0); acc21_1 = fma(a21, b1, acc21_1); acc21_2 = fma(a21, b2, acc21_2); acc21_3 = fma(a21, b3, acc21_3); acc21_4 = fma(a21, b4, acc21_4); acc21_5 = fma(a21, b5, acc21_5); acc21_6 = fma(a21, b6, acc21_6); acc21_7 = fma(a21, b7, acc21_7);
        acc22_0 = fma(a22, b0, acc22_0); acc22_1 = fma(a22, b1, acc22_1); acc22_2 = fma(a22, b2, acc22_2); acc22_3 = fma(a22, b3, acc22_3); acc22_4 = fma(a22, b4, acc22_4); acc22_5 = fma(a22, b5, acc22_5); acc22_6 = fma(a22, b6, acc22_6); acc22_7 = fma(a22, b7, acc22_7);
        acc23_0 = fma(a23, b0, acc23_0); acc23_1 = fma(a23, b1, acc23_1); acc23_2 = fma(a23, b2, acc23_2); acc23_3 = fma(a23, b3, acc23_3); acc23_4 = fma(a23, b4, acc23_4); acc23_5 = fma(a23, b5, acc23_5); acc23_6 = fma(a23, b6, acc23_6); acc23_7 = fma(a23, b7, acc23_7);
        acc24_0 = fma(a24, b0, acc24_0); acc24_1 = fma(a24, b1, acc24_1); acc24_2 = fma(a24, b2, acc24_2); acc24_3 = fma(a24, b3, acc24_3); acc24_4 = fma(a24, b4, acc24_4); acc24_5 = fma(a24, b5, acc24_5); acc24_6 = fma(a24, b6, acc24_6); acc24_7 = fma(a24, b7, acc24_7);
        acc25_0 = fma(a25, b0, acc25_0); acc25_1 = fma(a25, b1, acc25_1); acc25_2 = fma(a25, b2, acc25_2); acc25_3 = fma(a25, b3, acc25_3); acc25_4 = fma(a25, b4, acc25_4); acc25_5 = fma(a25, b5, acc25_5); acc25_6 = fma(a25, b6, acc25_6); acc25_7 = fma(a25, b7, acc25_7);
        acc26_0 = fma(a26, b0, acc26_0); acc26_1 = fma(a26, b1, acc26_1); acc26_2 = fma(a26, b2, acc26_2); acc26_3 = fma(a26, b3, acc26_3); acc26_4 = fma(a26, b4, acc26_4); acc26_5 = fma(a26, b5, acc26_5); acc26_6 = fma(a26, b6, acc26_6); acc26_7 = fma(a26, b7, acc26_7);
        acc27_0 = fma(a27, b0, acc27_0); acc27_1 = fma(a27, b1, acc27_1); acc27_2 = fma(a27, b2, acc27_2); acc27_3 = fma(a27, b3, acc27_3); acc27_4 = fma(a27, b4, acc27_4); acc27_5 = fma(a27, b5, acc27_5); acc27_6 = fma(a27, b6, acc27_6); acc27_7 = fma(a27, b7, acc27_7);
        acc28_0 = fma(a28, b0, acc28_0); acc28_1 = fma(a28, b1, acc28_1); acc28_2 = fma(a28, b2, acc28_2); acc28_3 = fma(a28, b3, acc28_3); acc28_4 = fma(a28, b4, acc28_4); acc28_5 = fma(a28, b5, acc28_5); acc28_6 = fma(a28, b6, acc28_6); acc28_7 = fma(a28, b7, acc28_7);
        acc29_0 = fma(a29, b0, acc29_0); acc29_1 = fma(a29, b1, acc29_1); acc29_2 = fma(a29, b2, acc29_2); acc29_3 = fma(a29, b3, acc29_3); acc29_4 = fma(a29, b4, acc29_4); acc29_5 = fma(a29, b5, acc29_5); acc29_6 = fma(a29, b6, acc29_6); acc29_7 = fma(a29, b7, acc29_7);
        acc30_0 = fma(a30, b0, acc30_0); acc30_1 = fma(a30, b1, acc30_1); acc30_2 = fma(a30, b2, acc30_2); acc30_3 = fma(a30, b3, acc30_3); acc30_4 = fma(a30, b4, acc30_4); acc30_5 = fma(a30, b5, acc30_5); acc30_6 = fma(a30, b6, acc30_6); acc30_7 = fma(a30, b7, acc30_7);
        acc31_0 = fma(a31, b0, acc31_0); acc31_1 = fma(a31, b1, acc31_1); acc31_2 = fma(a31, b2, acc31_2); acc31_3 = fma(a31, b3, acc31_3); acc31_4 = fma(a31, b4, acc31_4); acc31_5 = fma(a31, b5, acc31_5); acc31_6 = fma(a31, b6, acc31_6); acc31_7 = fma(a31, b7, acc31_7);
        acc32_0 = fma(a32, b0, acc32_0); acc32_1 = fma(a32, b1, acc32_1); acc32_2 = fma(a32, b2, acc32_2); acc32_3 = fma(a32, b3, acc32_3); acc32_4 = fma(a32, b4, acc32_4); acc32_5 = fma(a32, b5, acc32_5); acc32_6 = fma(a32, b6, acc32_6); acc32_7 = fma(a32, b7, acc32_7);
        acc33_0 = fma(a33, b0, acc33_0); acc33_1 = fma(a33, b1, acc33_1); acc33_2 = fma(a33, b2, acc33_2); acc33_3 = fma(a33, b3, acc33_3); acc33_4 = fma(a33, b4, acc33_4); acc33_5 = fma(a33, b5, acc33_5); acc33_6 = fma(a33, b6, acc33_6); acc33_7 = fma(a33, b7, acc33_7);
        acc34_0 = fma(a34, b0, acc34_0); acc34_1 = fma(a34, b1, acc34_1); acc34_2 = fma(a34, b2, acc34_2); acc34_3 = fma(a34, b3, acc34_3); acc34_4 = fma(a34, b4, acc34_4); acc34_5 = fma(a34, b5, acc34_5); acc34_6 = fma(a34, b6, acc34_6); acc34_7 = fma(a34, b7, acc34_7);
        acc35_0 = fma(a35, b0, acc35_0); acc35_1 = fma(a35, b1, acc35_1); acc35_2 = fma(a35, b2, acc35_2); acc35_3 = fma(a35, b3, acc35_3); acc35_4 = fma(a35, b4, acc35_4); acc35_5 = fma(a35, b5, acc35_5); acc35_6 = fma(a35, b6, acc35_6); acc35_7 = fma(a35, b7, acc35_7);
        acc36_0 = fma(a36, b0, acc36_0); acc36_1 = fma(a36, b1, acc36_1); acc36_2 = fma(a36, b2, acc36_2); acc36_3 = fma(a36, b3, acc36_3); acc36_4 = fma(a36, b4, acc36_4); acc36_5 = fma(a36, b5, acc36_5); acc36_6 = fma(a36, b6, acc36_6); acc36_7 = fma(a36, b7, acc36_7);
        acc37_0 = fma(a37, b0, acc37_0); acc37_1 = fma(a37, b1, acc37_1); acc37_2 = fma(a37, b2, acc37_2); acc37_3 = fma(a37, b3, acc37_3); acc37_4 = fma(a37, b4, acc37_4); acc37_5 = fma(a37, b5, acc37_5); acc37_6 = fma(a37, b6, acc37_6); acc37_7 = fma(a37, b7, acc37_7);
        acc38_0 = fma(a38, b0, acc38_0); acc38_1 = fma(a38, b1, acc38_1); acc38_2 = fma(a38, b2, acc38_2); acc38_3 = fma(a38, b3, acc38_3); acc38_4 = fma(a38, b4, acc38_4); acc38_5 = fma(a38, b5, acc38_5); acc38_6 = fma(a38, b6, acc38_6); acc38_7 = fma(a38, b7, acc38_7);
        acc39_0 = fma(a39, b0, acc39_0); acc39_1 = fma(a39, b1, acc39_1); acc39_2 = fma(a39, b2, acc39_2); acc39_3 = fma(a39, b3, acc39_3); acc39_4 = fma(a39, b4, acc39_4); acc39_5 = fma(a39, b5, acc39_5); acc39_6 = fma(a39, b6, acc39_6); acc39_7 = fma(a39, b7, acc39_7);
        acc40_0 = fma(a40, b0, acc40_0); acc40_1 = fma(a40, b1, acc40_1); acc40_2 = fma(a40, b2, acc40_2); acc40_3 = fma(a40, b3, acc40_3); acc40_4 = fma(a40, b4, acc40_4); acc40_5 = fma(a40, b5, acc40_5); acc40_6 = fma(a40, b6, acc40_6); acc40_7 = fma(a40, b7, acc40_7);
        acc41_0 = fma(a41, b0, acc41_0); acc41_1 = fma(a41, b1, acc41_1); acc41_2 = fma(a41, b2, acc41_2); acc41_3 = fma(a41, b3, acc41_3); acc41_4 = fma(a41, b4, acc41_4); acc41_5 = fma(a41, b5, acc41_5); acc41_6 = fma(a41, b6, acc41_6); acc41_7 = fma(a41, b7, acc41_7);
        acc42_0 = fma(a42, b0, acc42_0); acc42_1 = fma(a42, b1, acc42_1); acc42_2 = fma(a42, b2, acc42_2); acc42_3 = fma(a42, b3, acc42_3); acc42_4 = fma(a42, b4, acc42_4); acc42_5 = fma(a42, b5, acc42_5); acc42_6 = fma(a42, b6, acc42_6); acc42_7 = fma(a42, b7, acc42_7);
        acc43_0 = fma(a43, b0, acc43_0); acc43_1 = fma(a43, b1, acc43_1); acc43_2 = fma(a43, b2, acc43_2); acc43_3 = fma(a43, b3, acc43_3); acc43_4 = fma(a43, b4, acc43_4); acc43_5 = fma(a43, b5, acc43_5); acc43_6 = fma(a43, b6, acc43_6); acc43_7 = fma(a43, b7, acc43_7);
        acc44_0 = fma(a44, b0, acc44_0); acc44_1 = fma(a44, b1, acc44_1); acc44_2 = fma(a44, b2, acc44_2); acc44_3 = fma(a44, b3, acc44_3); acc44_4 = fma(a44, b4, acc44_4); acc44_5 = fma(a44, b5, acc44_5); acc44_6 = fma(a44, b6, acc44_6); acc44_7 = fma(a44, b7, acc44_7);
        acc45_0 = fma(a45, b0, acc45_0); acc45_1 = fma(a45, b1, acc45_1); acc45_2 = fma(a45, b2, acc45_2); acc45_3 = fma(a45, b3, acc45_3); acc45_4 = fma(a45, b4, acc45_4); acc45_5 = fma(a45, b5, acc45_5); acc45_6 = fma(a45, b6, acc45_6); acc45_7 = fma(a45, b7, acc45_7);
        acc46_0 = fma(a46, b0, acc46_0); acc46_1 = fma(a46, b1, acc46_1); acc46_2 = fma(a46, b2, acc46_2); acc46_3 = fma(a46, b3, acc46_3); acc46_4 = fma(a46, b4, acc46_4); acc46_5 = fma(a46, b5, acc46_5); acc46_6 = fma(a46, b6, acc46_6); acc46_7 = fma(a46, b7, acc46_7);
        acc47_0 = fma(a47, b0, acc47_0); acc47_1 = fma(a47, b1, acc47_1); acc47_2 = fma(a47, b2, acc47_2); acc47_3 = fma(a47, b3, acc47_3); acc47_4 = fma(a47, b4, acc47_4); acc47_5 = fma(a47, b5, acc47_5); acc47_6 = fma(a47, b6, acc47_6); acc47_7 = fma(a47, b7, acc47_7);
        acc48_0 = fma(a48, b0, acc48_0); acc48_1 = fma(a48, b1, acc48_1); acc48_2 = fma(a48, b2, acc48_2); acc48_3 = fma(a48, b3, acc48_3); acc48_4 = fma(a48, b4, acc48_4); acc48_5 = fma(a48, b5, acc48_5); acc48_6 = fma(a48, b6, acc48_6); acc48_7 = fma(a48, b7, acc48_7);
        acc49_0 = fma(a49, b0, acc49_0); acc49_1 = fma(a49, b1, acc49_1); acc49_2 = fma(a49, b2, acc49_2); acc49_3 = fma(a49, b3, acc49_3); acc49_4 = fma(a49, b4, acc49_4); acc49_5 = fma(a49, b5, acc49_5); acc49_6 = fma(a49, b6, acc49_6); acc49_7 = fma(a49, b7, acc49_7);
        acc50_0 = fma(a50, b0, acc50_0); acc50_1 = fma(a50, b1, acc50_1); acc50_2 = fma(a50, b2, acc50_2); acc50_3 = fma(a50, b3, acc50_3); acc50_4 = fma(a50, b4, acc50_4); acc50_5 = fma(a50, b5, acc50_5); acc50_6 = fma(a50, b6, acc50_6); acc50_7 = fma(a50, b7, acc50_7);
        acc51_0 = fma(a51, b0, acc51_0); acc51_1 = fma(a51, b1, acc51_1); acc51_2 = fma(a51, b2, acc51_2); acc51_3 = fma(a51, b3, acc51_3); acc51_4 = fma(a51, b4, acc51_4); acc51_5 = fma(a51, b5, acc51_5); acc51_6 = fma(a51, b6, acc51_6); acc51_7 = fma(a51, b7, acc51_7);
        acc52_0 = fma(a52, b0, acc52_0); acc52_1 = fma(a52, b1, acc52_1); acc52_2 = fma(a52, b2, acc52_2); acc52_3 = fma(a52, b3, acc52_3); acc52_4 = fma(a52, b4, acc52_4); acc52_5 = fma(a52, b5, acc52_5); acc52_6 = fma(a52, b6, acc52_6); acc52_7 = fma(a52, b7, acc52_7);
        acc53_0 = fma(a53, b0, acc53_0); acc53_1 = fma(a53, b1, acc53_1); acc53_2 = fma(a53, b2, acc53_2); acc53_3 = fma(a53, b3, acc53_3); acc53_4 = fma(a53, b4, acc53_4); acc53_5 = fma(a53, b5, acc53_5); acc53_6 = fma(a53, b6, acc53_6); acc53_7 = fma(a53, b7, acc53_7);
        acc54_0 = fma(a54, b0, acc54_0); acc54_1 = fma(a54, b1, acc54_1); acc54_2 = fma(a54, b2, acc54_2); acc54_3 = fma(a54, b3, acc54_3); acc54_4 = fma(a54, b4, acc54_4); acc54_5 = fma(a54, b5, acc54_5); acc54_6 = fma(a54, b6, acc54_6); acc54_7 = fma(a54, b7, acc54_7);
        acc55_0 = fma(a55, b0, acc55_0); acc55_1 = fma(a55, b1, acc55_1); acc55_2 = fma(a55, b2, acc55_2); acc55_3 = fma(a55, b3, acc55_3); acc55_4 = fma(a55, b4, acc55_4); acc55_5 = fma(a55, b5, acc55_5); acc55_6 = fma(a55, b6, acc55_6); acc55_7 = fma(a55, b7, acc55_7);
        acc56_0 = fma(a56, b0, acc56_0); acc56_1 = fma(a56, b1, acc56_1); acc56_2 = fma(a56, b2, acc56_2); acc56_3 = fma(a56, b3, acc56_3); acc56_4 = fma(a56, b4, acc56_4); acc56_5 = fma(a56, b5, acc56_5); acc56_6 = fma(a56, b6, acc56_6); acc56_7 = fma(a56, b7, acc56_7);
        acc57_0 = fma(a57, b0, acc57_0); acc57_1 = fma(a57, b1, acc57_1); acc57_2 = fma(a57, b2, acc57_2); acc57_3 = fma(a57, b3, acc57_3); acc57_4 = fma(a57, b4, acc57_4); acc57_5 = fma(a57, b5, acc57_5); acc57_6 = fma(a57, b6, acc57_6); acc57_7 = fma(a57, b7, acc57_7);
        acc58_0 = fma(a58, b0, acc58_0); acc58_1 = fma(a58, b1, acc58_1); acc58_2 = fma(a58, b2, acc58_2); acc58_3 = fma(a58, b3, acc58_3); acc58_4 = fma(a58, b4, acc58_4); acc58_5 = fma(a58, b5, acc58_5); acc58_6 = fma(a58, b6, acc58_6); acc58_7 = fma(a58, b7, acc58_7);
        acc59_0 = fma(a59, b0, acc59_0); acc59_1 = fma(a59, b1, acc59_1); acc59_2 = fma(a59, b2, acc59_2); acc59_3 = fma(a59, b3, acc59_3); acc59_4 = fma(a59, b4, acc59_4); acc59_5 = fma(a59, b5, acc59_5); acc59_6 = fma(a59, b6, acc59_6); acc59_7 = fma(a59, b7, acc59_7);
        acc60_0 = fma(a60, b0, acc60_0); acc60_1 = fma(a60, b1, acc60_1); acc60_2 = fma(a60, b2, acc60_2); acc60_3 = fma(a60, b3, acc60_3); acc60_4 = fma(a60, b4, acc60_4); acc60_5 = fma(a60, b5, acc60_5); acc60_6 = fma(a60, b6, acc60_6); acc60_7 = fma(a60, b7, acc60_7);
        acc61_0 = fma(a61, b0, acc61_0); acc61_1 = fma(a61, b1, acc61_1); acc61_2 = fma(a61, b2, acc61_2); acc61_3 = fma(a61, b3, acc61_3); acc61_4 = fma(a61, b4, acc61_4); acc61_5 = fma(a61, b5, acc61_5); acc61_6 = fma(a61, b6, acc61_6); acc61_7 = fma(a61, b7, acc61_7);
        acc62_0 = fma(a62, b0, acc62_0); acc62_1 = fma(a62, b1, acc62_1); acc62_2 = fma(a62, b2, acc62_2); acc62_3 = fma(a62, b3, acc62_3); acc62_4 = fma(a62, b4, acc62_4); acc62_5 = fma(a62, b5, acc62_5); acc62_6 = fma(a62, b6, acc62_6); acc62_7 = fma(a62, b7, acc62_7);
        acc63_0 = fma(a63, b0, acc63_0); acc63_1 = fma(a63, b1, acc63_1); acc63_2 = fma(a63, b2, acc63_2); acc63_3 = fma(a63, b3, acc63_3); acc63_4 = fma(a63, b4, acc63_4); acc63_5 = fma(a63, b5, acc63_5); acc63_6 = fma(a63, b6, acc63_6); acc63_7 = fma(a63, b7, acc63_7);
    }
    var acc = array<array<f32, 8>, 64>(
        array<f32, 8>(acc0_0, acc0_1, acc0_2, acc0_3, acc0_4, acc0_5, acc0_6, acc0_7),
        array<f32, 8>(acc1_0, acc1_1, acc1_2, acc1_3, acc1_4, acc1_5, acc1_6, acc1_7),
        array<f32, 8>(acc2_0, acc2_1, acc2_2, acc2_3, acc2_4, acc2_5, acc2_6, acc2_7),
        array<f32, 8>(acc3_0, acc3_1, acc3_2, acc3_3, acc3_4, acc3_5, acc3_6, acc3_7),
        array<f32, 8>(acc4_0, acc4_1, acc4_2, acc4_3, acc4_4, acc4_5, acc4_6, acc4_7),
        array<f32, 8>(acc5_0, acc5_1, acc5_2, acc5_3, acc5_4, acc5_5, acc5_6, acc5_7),
        array<f32, 8>(acc6_0, acc6_1, acc6_2, acc6_3, acc6_4, acc6_5, acc6_6, acc6_7),
        array<f32, 8>(acc7_0, acc7_1, acc7_2, acc7_3, acc7_4, acc7_5, acc7_6, acc7_7),
        array<f32, 8>(acc8_0, acc8_1, acc8_2, acc8_3, acc8_4, acc8_5, acc8_6, acc8_7),
        array<f32, 8>(acc9_0, acc9_1, acc9_2, acc9_3, acc9_4, acc9_5, acc9_6, acc9_7),
        array<f32, 8>(acc10_0, acc10_1, acc10_2, acc10_3, acc10_4, acc10_5, acc10_6, acc10_7),
        array<f32, 8>(acc11_0, acc11_1, acc11_2, acc11_3, acc11_4, acc11_5, acc11_6, acc11_7),
        array<f32, 8>(acc12_0, acc12_1, acc12_2, acc12_3, acc12_4, acc12_5, acc12_6, acc12_7),
        array<f32, 8>(acc13_0, acc13_1, acc13_2, acc13_3, acc13_4, acc13_5, acc13_6, acc13_7),
        array<f32, 8>(acc14_0, acc14_1, acc14_2, acc14_3, acc14_4, acc14_5, acc14_6, acc14_7),
        array<f32, 8>(acc15_0, acc15_1, acc15_2, acc15_3, acc15_4, acc15_5, acc15_6, acc15_7),
        array<f32, 8>(acc16_0, acc16_1, acc16_2, acc16_3, acc16_4, acc16_5, acc16_6, acc16_7),
        array<f32, 8>(acc17_0, acc17_1, acc17_2, acc17_3, acc17_4, acc17_5, acc17_6, acc17_7),
        array<f32, 8>(acc18_0, acc18_1, acc18_2, acc18_3, acc18_4, acc18_5, acc18_6, acc18_7),
        array<f32, 8>(acc19_0, acc19_1, acc19_2, acc19_3, acc19_4, acc19_5, acc19_6, acc19_7),
        array<f32, 8>(acc20_0, acc20_1, acc20_2, acc20_3, acc20_4, acc20_5, acc20_6, acc20_7),
        array<f32, 8>(acc21_0, acc21_1, acc21_2, acc21_3, acc21_4, acc21_5, acc21_6, acc21_7),
        array<f32, 8>(acc22_0, acc22_1, acc22_2, acc22_3, acc22_4, acc22_5, acc22_6, acc22_7),
        array<f32, 8>(acc23_0, acc23_1, acc23_2, acc23_3, acc23_4, acc23_5, acc23_6, acc23_7),
        array<f32, 8>(acc24_0, acc24_1, acc24_2, acc24_3, acc24_4, acc24_5, acc24_6, acc24_7),
        array<f32, 8>(acc25_0, acc25_1, acc25_2, acc25_3, acc25_4, acc25_5, acc25_6, acc25_7),
        array<f32, 8>(acc26_0, acc26_1, acc26_2, acc26_3, acc26_4, acc26_5, acc26_6, acc26_7),
        array<f32, 8>(acc27_0, acc27_1, acc27_2, acc27_3, acc27_4, acc27_5, acc27_6, acc27_7),
        array<f32, 8>(acc28_0, acc28_1, acc28_2, acc28_3, acc28_4, acc28_5, acc28_6, acc28_7),
        array<f32, 8>(acc29_0, acc29_1, acc29_2, acc29_3, acc29_4, acc29_5, acc29_6, acc29_7),
        array<f32, 8>(acc30_0, acc30_1, acc30_2, acc30_3, acc30_4, acc30_5, acc30_6, acc30_7),
        array<f32, 8>(acc31_0, acc31_1, acc31_2, acc31_3, acc31_4, acc31_5, acc31_6, acc31_7),
        array<f32, 8>(acc32_0, acc32_1, acc32_2, acc32_3, acc32_4, acc32_5, acc32_6, acc32_7),
        array<f32, 8>(acc33_0, acc33_1, acc33_2, acc33_3, acc33_4, acc33_5, acc33_6, acc33_7),
        array<f32, 8>(acc34_0, acc34_1, acc34_2, acc34_3, acc34_4, acc34_5, acc34_6, acc34_7),
        array<f32, 8>(acc35_0, acc35_1, acc35_2, acc35_3, acc35_4, acc35_5, acc35_6, acc35_7),
        array<f32, 8>(acc36_0, acc36_1, acc36_2, acc36_3, acc36_4, acc36_5, acc36_6, acc36_7),
        array<f32, 8>(acc37_0, acc37_1, acc37_2, acc37_3, acc37_4, acc37_5, acc37_6, acc37_7),
        array<f32, 8>(acc38_0, acc38_1, acc38_2, acc38_3, acc38_4, acc38_5, acc38_6, acc38_7),
        array<f32, 8>(acc39_0, acc39_1, acc39_2, acc39_3, acc39_4, acc39_5, acc39_6, acc39_7),
        array<f32, 8>(acc40_0, acc40_1, acc40_2, acc40_3, acc40_4, acc40_5, acc40_6, acc40_7),
        array<f32, 8>(acc41_0, acc41_1, acc41_2, acc41_3, acc41_4, acc41_5, acc41_6, acc41_7),
        array<f32, 8>(acc42_0, acc42_1, acc42_2, acc42_3, acc42_4, acc42_5, acc42_6, acc42_7),
        array<f32, 8>(acc43_0, acc43_1, acc43_2, acc43_3, acc43_4, acc43_5, acc43_6, acc43_7),
        array<f32, 8>(acc44_0, acc44_1, acc44_2, acc44_3, acc44_4, acc44_5, acc44_6, acc44_7),
        array<f32, 8>(acc45_0, acc45_1, acc45_2, acc45_3, acc45_4, acc45_5, acc45_6, acc45_7),
        array<f32, 8>(acc46_0, acc46_1, acc46_2, acc46_3, acc46_4, acc46_5, acc46_6, acc46_7),
        array<f32, 8>(acc47_0, acc47_1, acc47_2, acc47_3, acc47_4, acc47_5, acc47_6, acc47_7),
        array<f32, 8>(acc48_0, acc48_1, acc48_2, acc48_3, acc48_4, acc48_5, acc48_6, acc48_7),
        array<f32, 8>(acc49_0, acc49_1, acc49_2, acc49_3, acc49_4, acc49_5, acc49_6, acc49_7),
        array<f32, 8>(acc50_0, acc50_1, acc50_2, acc50_3, acc50_4, acc50_5, acc50_6, acc50_7),
        array<f32, 8>(acc51_0, acc51_1, acc51_2, acc51_3, acc51_4, acc51_5, acc51_6, acc51_7),
        array<f32, 8>(acc52_0, acc52_1, acc52_2, acc52_3, acc52_4, acc52_5, acc52_6, acc52_7),
        array<f32, 8>(acc53_0, acc53_1, acc53_2, acc53_3, acc53_4, acc53_5, acc53_6, acc53_7),
        array<f32, 8>(acc54_0, acc54_1, acc54_2, acc54_3, acc54_4, acc54_5, acc54_6, acc54_7),
        array<f32, 8>(acc55_0, acc55_1, acc55_2, acc55_3, acc55_4, acc55_5, acc55_6, acc55_7),
        array<f32, 8>(acc56_0, acc56_1, acc56_2, acc56_3, acc56_4, acc56_5, acc56_6, acc56_7),
        array<f32, 8>(acc57_0, acc57_1, acc57_2, acc57_3, acc57_4, acc57_5, acc57_6, acc57_7),
        array<f32, 8>(acc58_0, acc58_1, acc58_2, acc58_3, acc58_4, acc58_5, acc58_6, acc58_7),
        array<f32, 8>(acc59_0, acc59_1, acc59_2, acc59_3, acc59_4, acc59_5, acc59_6, acc59_7),
        array<f32, 8>(acc60_0, acc60_1, acc60_2, acc60_3, acc60_4, acc60_5, acc60_6, acc60_7),
        array<f32, 8>(acc61_0, acc61_1, acc61_2, acc61_3, acc61_4, acc61_5, acc61_6, acc61_7),
        array<f32, 8>(acc62_0, acc62_1, acc62_2, acc62_3, acc62_4, acc62_5, acc62_6, acc62_7),
        array<f32, 8>(acc63_0, acc63_1, acc63_2, acc63_3, acc63_4, acc63_5, acc63_6, acc63_7),
    );
    for (var i = 0u; i < 64u; i++) {
        let r = row0 + i * WG_Y;
        if (r >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = col0 + j * WG_X;
            if (col >= p.n) { break; }
            store(c_base, r, col, acc[i][j]);
        }
    }
}
