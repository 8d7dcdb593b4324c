// Batched GEMM: C[b] = alpha * op(A[b]) · op(B[b]) (+ bias[n]), row-major, f32.
//   op(A) is [M, K] (A stored [M, K], or [K, M] when TRANS_A); op(B) is [K, N] (B stored
//   [K, N], or [N, K] when TRANS_B). Backward needs no entry point of its own: the autograd
//   layer expresses dA and dB as GEMMs with the transposes flipped.
//
// Specialisation: TRANS_A, TRANS_B, HAS_BIAS (bool); A_DTYPE, B_DTYPE (u32): A's and B's
// storage, 0 f32, 1 f16, 2 bf16. Both are bound as words: f32 elements are their bits, half
// elements two to a word (element i in word i/2, the low half first), so frozen half weights
// (B) and the half inputs autocast keeps for backward (A of a Linear's forward) are read as
// stored, on any adapter (unpack2x16float and a shift, no SHADER_F16), with no widened copy.
// Products and sums stay f32.
// `beta` != 0 adds beta * C to the result: the launcher uses it to accumulate over chunks of
// K when an operand is larger than one storage binding.
// `gemm8x8` and `gemm8x5`: the same product with an 8x8 (8x5) register block per invocation,
// rows WG_Y apart and columns WG_X apart (spec constants), so a workgroup covers 8 WG_Y rows by
// 8 WG_X (5 WG_X) columns. 16 loads feed 64 FMAs instead of 8 feeding 16; on lavapipe, where
// buffer loads are the cost, that runs large GEMMs 1.3-2x faster (1024³: 9.7 -> 16.9
// GFLOP/s). The 8x5 block with WG_X = 8, 16 or 32 covers exactly the 40, 80 and 160 columns
// of SD 1.5's attention heads. The accumulators are named scalars: as arrays, naga's output
// made llvmpipe keep them in memory (3x slower). Those entries, and their subgroup twins
// (rows' A values taken by subgroup broadcast, in a module of their own), are not in this
// file: Rust writes them after it from the kernel table `ops::gemm::KERNELS`
// (`ops::blocked::gemm_entry`).
// `gemm`: each workgroup of 16x16 invocations computes a 64x64 tile of C; each invocation a 4x4
// register block whose columns are 16 apart, so that neighbouring lanes load neighbouring
// elements of B (contiguous across the subgroup) and share the loads of A.

struct Params {
    m: u32, n: u32, k: u32, beta: f32,
    a_batch: u32, b_batch: u32, c_batch: u32, batches: u32,
    a_shift: u32, b_shift: u32, c_shift: u32, bias_shift: u32,
    lda: u32, ldb: u32, ldc: u32, alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Element i of A as f32, whatever its storage dtype (`half_at` is appended from Rust).
fn elem_a(i: u32) -> f32 {
    if (A_DTYPE == 0u) {
        return bitcast<f32>(a[i]);
    }
    return half_at(a[i >> 1u], i, A_DTYPE);
}

fn load_a(base: u32, row: u32, kk: u32) -> f32 {
    if (TRANS_A) {
        return elem_a(base + kk * p.lda + row);
    }
    return elem_a(base + row * p.lda + kk);
}

// A's element (row, kk) and the next one along A's storage (row + 1 where TRANS_A, else
// kk + 1), for half A whose element (row, kk) is at an even index: the tiled entries' staging
// takes two elements per load where it can (`ops::blocked::Pairs`). `word_a` is the index of
// the word that holds them.
fn word_a(base: u32, row: u32, kk: u32) -> u32 {
    return select(base + row * p.lda + kk, base + kk * p.lda + row, TRANS_A) >> 1u;
}

fn load_a2(base: u32, row: u32, kk: u32) -> vec2<f32> {
    return half_pair(a[word_a(base, row, kk)], A_DTYPE);
}

// Element i of B as f32, whatever its storage dtype.
fn elem_b(i: u32) -> f32 {
    if (B_DTYPE == 0u) {
        return bitcast<f32>(b[i]);
    }
    return half_at(b[i >> 1u], i, B_DTYPE);
}

fn load_b(base: u32, kk: u32, col: u32) -> f32 {
    if (TRANS_B) {
        return elem_b(base + col * p.ldb + kk);
    }
    return elem_b(base + kk * p.ldb + col);
}

// B's element (kk, col) and the next one along B's storage (kk + 1 where TRANS_B, else
// col + 1), for half B whose element (kk, col) is at an even index (see `load_a2`).
fn word_b(base: u32, kk: u32, col: u32) -> u32 {
    return select(base + kk * p.ldb + col, base + col * p.ldb + kk, TRANS_B) >> 1u;
}

fn load_b2(base: u32, kk: u32, col: u32) -> vec2<f32> {
    return half_pair(b[word_b(base, kk, col)], B_DTYPE);
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

// Where workgroup row z of the grid reads A and B and writes C. z = slice * batches + batch:
// under split-K (the launcher's, on GPUs, for products with few output tiles and a long K)
// slice s multiplies K's s-th run of `k` (A's columns, B's rows) into its own copy of C, which
// the launcher sums; unsplit, z is the batch.
struct Bases { a: u32, b: u32, c: u32 }

fn bases(z: u32) -> Bases {
    let batch = z % p.batches;
    let k0 = (z / p.batches) * p.k;
    let a0 = select(k0, k0 * p.lda, TRANS_A);
    let b0 = select(k0 * p.ldb, k0, TRANS_B);
    return Bases(p.a_shift + batch * p.a_batch + a0, p.b_shift + batch * p.b_batch + b0, p.c_shift + z * p.c_batch);
}

@compute @workgroup_size(16, 16, 1)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bs = bases(wg.z);
    let a_base = bs.a;
    let b_base = bs.b;
    let c_base = bs.c;

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
