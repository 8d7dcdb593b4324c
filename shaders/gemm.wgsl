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

@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemm8x8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 8u * WG_X + lid.x;
    let r0 = min(row0 + 0u * WG_Y, p.m - 1u);
    let r1 = min(row0 + 1u * WG_Y, p.m - 1u);
    let r2 = min(row0 + 2u * WG_Y, p.m - 1u);
    let r3 = min(row0 + 3u * WG_Y, p.m - 1u);
    let r4 = min(row0 + 4u * WG_Y, p.m - 1u);
    let r5 = min(row0 + 5u * WG_Y, p.m - 1u);
    let r6 = min(row0 + 6u * WG_Y, p.m - 1u);
    let r7 = min(row0 + 7u * WG_Y, p.m - 1u);
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
        let a0 = load_a(a_base, r0, kk);
        let a1 = load_a(a_base, r1, kk);
        let a2 = load_a(a_base, r2, kk);
        let a3 = load_a(a_base, r3, kk);
        let a4 = load_a(a_base, r4, kk);
        let a5 = load_a(a_base, r5, kk);
        let a6 = load_a(a_base, r6, kk);
        let a7 = load_a(a_base, r7, kk);
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

@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemm8x5(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let batch = wg.z;
    let a_base = p.a_shift + batch * p.a_batch;
    let b_base = p.b_shift + batch * p.b_batch;
    let c_base = p.c_shift + batch * p.c_batch;
    let row0 = wg.y * 8u * WG_Y + lid.y;
    let col0 = wg.x * 5u * WG_X + lid.x;
    let r0 = min(row0 + 0u * WG_Y, p.m - 1u);
    let r1 = min(row0 + 1u * WG_Y, p.m - 1u);
    let r2 = min(row0 + 2u * WG_Y, p.m - 1u);
    let r3 = min(row0 + 3u * WG_Y, p.m - 1u);
    let r4 = min(row0 + 4u * WG_Y, p.m - 1u);
    let r5 = min(row0 + 5u * WG_Y, p.m - 1u);
    let r6 = min(row0 + 6u * WG_Y, p.m - 1u);
    let r7 = min(row0 + 7u * WG_Y, p.m - 1u);
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
        let a0 = load_a(a_base, r0, kk);
        let a1 = load_a(a_base, r1, kk);
        let a2 = load_a(a_base, r2, kk);
        let a3 = load_a(a_base, r3, kk);
        let a4 = load_a(a_base, r4, kk);
        let a5 = load_a(a_base, r5, kk);
        let a6 = load_a(a_base, r6, kk);
        let a7 = load_a(a_base, r7, kk);
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
