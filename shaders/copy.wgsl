// Strided copy over up to 8 dims: out[out_shift + sum c_d * ostr_d] = in[in_shift + sum c_d * istr_d]
// for every coordinate c of `dims`. Permute, broadcast (stride 0), narrow, concatenation
// into a slot of a larger tensor, and their backward passes are all this one kernel.

struct Params {
    n: u32, in_shift: u32, out_shift: u32,
    // Axes in use (1..=8), after the host dropped size-1 axes and merged contiguous ones: they
    // sit at the end of the lists, innermost last.
    rank: u32,
    dims_lo: vec4<u32>, dims_hi: vec4<u32>,
    istr_lo: vec4<u32>, istr_hi: vec4<u32>,
    ostr_lo: vec4<u32>, ostr_hi: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// Axis k's (size, input stride, output stride).
fn axis(k: u32) -> vec3<u32> {
    if (k >= 4u) {
        return vec3(p.dims_hi[k - 4u], p.istr_hi[k - 4u], p.ostr_hi[k - 4u]);
    }
    return vec3(p.dims_lo[k], p.istr_lo[k], p.ostr_lo[k]);
}

// The input and output positions of element i of the copy.
fn positions(i: u32) -> vec2<u32> {
    var rem = i;
    var si = p.in_shift;
    var so = p.out_shift;
    // One division per axis but the outermost (what is left of the index is its coordinate):
    // a division by a value known only at run time is costly, and most copies have two or
    // three axes once merged (attention's head split and merge three).
    for (var d = 0u; d + 1u < p.rank; d++) {
        let a = axis(7u - d);
        let q = rem / a.x;
        let c = rem - q * a.x;
        rem = q;
        si += c * a.y;
        so += c * a.z;
    }
    let outer = axis(8u - p.rank);
    return vec2(si + rem * outer.y, so + rem * outer.z);
}

@compute @workgroup_size(256)
fn strided_copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    let at = positions(i);
    dst[at.y] = src[at.x];
}

// strided_copy four elements at a time, where the innermost axis is contiguous on both sides
// and everything (its length, the other strides, both shifts) is a multiple of 4: the host
// divides all of them by 4. A quarter of the loads and stores and of the index arithmetic
// (attention's heads of 40 and 64, channel concatenations).
@group(0) @binding(1) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn strided_copy4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    let at = positions(i);
    dst4[at.y] = src4[at.x];
}

// Batched transpose through workgroup memory: dst[b, x, y] = src[b, y, x] for src
// [batch, Y, X] contiguous, src in any storage dtype (SRC_DTYPE: 0 f32, 1 f16, 2 bf16, half
// elements two to a word as in gemm.wgsl; `half_at` is appended from Rust), dst f32: conv's
// weight gradient widens autocast's half image as it moves it channels-last. Each workgroup moves a 16x16 tile: rows of src are read and rows of
// dst written contiguously. The strided copy reads a transpose with lanes a whole row apart,
// which on lavapipe cost ~50 ms for a 1024x1024 matrix (rows a power of two apart share a
// cache set).
struct TParams {
    x: u32, y: u32, in_shift: u32, out_shift: u32,
}

@group(0) @binding(0) var<uniform> tp: TParams;
@group(0) @binding(1) var<storage, read> src_words: array<u32>;
var<workgroup> tile: array<f32, 272>; // 16 x 17: the pad keeps column reads off one bank

@compute @workgroup_size(16, 16, 1)
fn transpose(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let base = wg.z * tp.x * tp.y;
    let x = wg.x * 16u + lid.x;
    let y = wg.y * 16u + lid.y;
    if (x < tp.x && y < tp.y) {
        let i = tp.in_shift + base + y * tp.x + x;
        var v: f32;
        if (SRC_DTYPE == 0u) {
            v = bitcast<f32>(src_words[i]);
        } else {
            v = half_at(src_words[i >> 1u], i, SRC_DTYPE);
        }
        tile[lid.y * 17u + lid.x] = v;
    }
    workgroupBarrier();
    let ox = wg.x * 16u + lid.y;
    let oy = wg.y * 16u + lid.x;
    if (ox < tp.x && oy < tp.y) {
        dst[tp.out_shift + base + ox * tp.y + oy] = tile[lid.x * 17u + lid.y];
    }
}
