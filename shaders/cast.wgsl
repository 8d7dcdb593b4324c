// Storage dtype conversion: f32 <-> f16 / bf16 (half elements packed two to a 32-bit word,
// element i in word i/2, the low half first: gemm.wgsl's and conv.wgsl's layout).
//
//   `to_half`: word w of dst = the halves of src[2w] and src[2w + 1] (0 past the end), rounded
//     to nearest even: bf16 by adding 0x7fff plus the kept LSB (NaN stays a quiet NaN); f16 by
//     pack2x16float (whose rounding WGSL leaves to the implementation; the host path rounds to
//     nearest even, so the two may differ by one unit in the last place).
//   `to_f32`: dst[i] = src element i, exact (`half_at`, appended from Rust: gpu::dtype::HALF_WGSL). Its backward is `to_half`'s and vice versa (a cast's
//     gradient is the incoming gradient cast back).
//
// Specialisation: DTYPE (u32): the half dtype, 1 f16, 2 bf16.
// Shifts: `src_shift` counts source elements (halves for `to_f32`), `dst_shift` destination
// elements (words for `to_half`: chunks start on even elements).

struct Params {
    n: u32, src_shift: u32, dst_shift: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

fn bf16_bits(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return (b >> 16u) | 0x40u;
    }
    return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}

fn half_bits(v: f32) -> u32 {
    if (DTYPE == 1u) {
        return pack2x16float(vec2<f32>(v, 0.0)) & 0xffffu;
    }
    return bf16_bits(v);
}

@compute @workgroup_size(256)
fn to_half(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let w = (wg.y * nwg.x + wg.x) * 256u + lid;
    let i = 2u * w;
    if (i >= p.n) { return; }
    let lo = half_bits(bitcast<f32>(src[p.src_shift + i]));
    var hi = 0u;
    if (i + 1u < p.n) {
        hi = half_bits(bitcast<f32>(src[p.src_shift + i + 1u]));
    }
    dst[p.dst_shift + w] = lo | (hi << 16u);
}

@compute @workgroup_size(256)
fn to_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    let e = p.src_shift + i;
    dst[p.dst_shift + i] = bitcast<u32>(half_at(src[e >> 1u], e, DTYPE));
}
