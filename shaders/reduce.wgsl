// Sum (and mean, through `scale`) over one axis. The tensor is viewed as [outer, R, inner]
// and reduced over R. The backward of a sum is a broadcast, which the copy kernel does.
//
//   sum_rows: inner == 1, one workgroup per output: long contiguous reductions (R up to
//             millions) are split across 256 invocations and combined in a tree.
//   sum_cols: inner > 1, one invocation per output; neighbouring invocations read
//             neighbouring elements.
// Both can also split R into `pieces` runs of `piece_len` and write one partial sum per run
// ([outer, pieces, inner]), which the launcher then sums: one workgroup per gradient-norm
// parameter (outer = 1, R in the millions) kept a single core or SM busy for the whole sum.
// Both also sum `batch` such blocks, `batch_stride` elements apart, into one output: x viewed
// as [batch, outer, R, inner] summed over its first axis too (a convolution's bias gradient,
// dy [N, C, H·W] -> [C], in one pass; it was a sum over H·W, then one over N).
// Specialisation: SQUARE (bool) sums x^2 instead of x (gradient norms).

struct Params {
    outer: u32, r: u32, inner: u32, x_shift: u32,
    y_shift: u32, scale: f32, pieces: u32, piece_len: u32,
    batch: u32, batch_stride: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 256>;

// The sum of `v` over the workgroup's 256 invocations (a tree in workgroup memory); every
// invocation must call it (it has barriers), and every one gets the sum.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    return partial[0];
}

fn load(i: u32) -> f32 {
    let v = x[i];
    if (SQUARE) {
        return v * v;
    }
    return v;
}

@compute @workgroup_size(256)
fn sum_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    // Uniform control flow: every invocation reaches the barriers, out-of-range rows add 0.
    let valid = row < p.outer * p.pieces;
    var acc = 0.0;
    if (valid) {
        let start = (row % p.pieces) * p.piece_len;
        let end = min(start + p.piece_len, p.r);
        // Four sums side by side (see `sum_cols`), then the rest one at a time.
        var a = vec4<f32>(0.0);
        for (var b = 0u; b < p.batch; b++) {
            let base = p.x_shift + b * p.batch_stride + (row / p.pieces) * p.r;
            var i = start + lid;
            for (; i + 768u < end; i += 1024u) {
                a += vec4<f32>(load(base + i), load(base + i + 256u), load(base + i + 512u), load(base + i + 768u));
            }
            for (; i < end; i += 256u) {
                a.x += load(base + i);
            }
        }
        acc = (a.x + a.y) + (a.z + a.w);
    }
    let total = workgroup_sum(lid, acc);
    if (valid && lid == 0u) {
        y[p.y_shift + row] = total * p.scale;
    }
}

@compute @workgroup_size(256)
fn sum_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let idx = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (idx >= p.outer * p.pieces * p.inner) { return; }
    let row = idx / p.inner;
    let j = idx % p.inner;
    let o = row / p.pieces;
    let start = (row % p.pieces) * p.piece_len;
    let end = min(start + p.piece_len, p.r);
    // Four sums side by side: each step issues four independent loads. With one running sum
    // the add that needs a load stalled the invocation before its next load was issued (a GPU
    // issues in order), so a run cost a memory latency (~0.5 us) per element: the GPUs' runs
    // of 64 rows (a bias gradient's first pass, then 128 partial sums in its second) ran at
    // 68 us a dispatch on the H200 (2026-12-04: 12% of the bf16 step in `sum_cols` and
    // `sum_rows`) for a few MB each.
    var a = vec4<f32>(0.0);
    for (var b = 0u; b < p.batch; b++) {
        let base = p.x_shift + b * p.batch_stride + o * p.r * p.inner + j;
        var i = start;
        for (; i + 4u <= end; i += 4u) {
            a += vec4<f32>(load(base + i * p.inner), load(base + (i + 1u) * p.inner),
                           load(base + (i + 2u) * p.inner), load(base + (i + 3u) * p.inner));
        }
        for (; i < end; i++) {
            a.x += load(base + i * p.inner);
        }
    }
    y[p.y_shift + idx] = ((a.x + a.y) + (a.z + a.w)) * p.scale;
}

// sum_squares_multi: the sums of squares of up to seven tensors in one dispatch (a gradient
// norm's first pass over every trained parameter). One or two dispatches per tensor made 967
// small dispatches for SD 1.5's U-Net under the GPUs' split rules (99 now), each waiting for
// the one before (they wrote one buffer); the H200 spent 3.6% of its bf16 step (2026-12-04)
// in `sum_rows`, where a pass over the gradients at the copy probe's rate would take 1 ms.
// Each tensor is cut into runs of `run` elements, one per workgroup; workgroup w takes tensor
// t's run w - first[t] (first[t] <= w < first[t + 1]) and writes its partial sum at
// y_shift + w. Seven tensors and the output are eight storage
// bindings, what every adapter offers; unused ones repeat tensor 0.
struct MultiParams {
    count: u32, run: u32, y_shift: u32, _p0: u32,
    shift_lo: vec4<u32>, shift_hi: vec4<u32>,
    len_lo: vec4<u32>, len_hi: vec4<u32>,
    first_lo: vec4<u32>, first_hi: vec4<u32>,
}

@group(0) @binding(0) var<uniform> mp: MultiParams;
@group(0) @binding(1) var<storage, read> m0: array<f32>;
@group(0) @binding(2) var<storage, read> m1: array<f32>;
@group(0) @binding(3) var<storage, read> m2: array<f32>;
@group(0) @binding(4) var<storage, read> m3: array<f32>;
@group(0) @binding(5) var<storage, read> m4: array<f32>;
@group(0) @binding(6) var<storage, read> m5: array<f32>;
@group(0) @binding(7) var<storage, read> m6: array<f32>;
@group(0) @binding(8) var<storage, read_write> my: array<f32>;

fn lane8(lo: vec4<u32>, hi: vec4<u32>, t: u32) -> u32 {
    if (t < 4u) { return lo[t]; }
    return hi[t - 4u];
}

// `multi_run(t, base, start, end)`, which Rust writes after this file (`reduce.rs`,
// `multi_run`): four partial sums of squares of tensor t's elements base + i, i = start,
// start + 256, ... below end, a loop per binding so that no load goes through a switch (on
// lavapipe a switch per load ran 2.4x slower than sum_rows).

@compute @workgroup_size(256)
fn sum_squares_multi(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let w = wg.y * nwg.x + wg.x;
    let end_all = lane8(mp.first_lo, mp.first_hi, mp.count);
    let valid = w < end_all;
    var acc = 0.0;
    if (valid) {
        var t = 0u;
        for (var j = 1u; j < mp.count; j++) {
            if (w >= lane8(mp.first_lo, mp.first_hi, j)) { t = j; }
        }
        let base = lane8(mp.shift_lo, mp.shift_hi, t);
        let start = (w - lane8(mp.first_lo, mp.first_hi, t)) * mp.run;
        let end = min(start + mp.run, lane8(mp.len_lo, mp.len_hi, t));
        let a = multi_run(t, base, start + lid, end);
        acc = (a.x + a.y) + (a.z + a.w);
    }
    let total = workgroup_sum(lid, acc);
    if (valid && lid == 0u) {
        my[mp.y_shift + w] = total;
    }
}
