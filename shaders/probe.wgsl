// Peak probes, to put every kernel's number next to what the adapter can do.
//   fma_probe:  nothing but FMAs, on 16 independent scalar chains per invocation (scalar
//               chains vectorise across lanes better than vec4 ones on lavapipe).
//               FLOPs = 2 * 16 * iters per invocation (iters a multiple of 4).
//   copy_probe: vec4 loads and stores; bytes moved = 2 * 16 * n.

struct Params {
    iters: u32, n: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn fma_probe(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    let s = f32(i) * 1e-9;
    let m = 0.9999;
    var a0 = s; var a1 = s + 0.1; var a2 = s + 0.2; var a3 = s + 0.3;
    var a4 = s + 0.4; var a5 = s + 0.5; var a6 = s + 0.6; var a7 = s + 0.7;
    var a8 = s + 0.8; var a9 = s + 0.9; var a10 = s + 1.0; var a11 = s + 1.1;
    var a12 = s + 1.2; var a13 = s + 1.3; var a14 = s + 1.4; var a15 = s + 1.5;
    // Four rounds written out per trip (iters is a multiple of 4). With one round a trip, the
    // loop's compare, increment and branch (and naga's loop counter, where it is kept) came
    // between every 16 FMAs: on lavapipe the probe read 85 GFLOP/s, with four rounds 160 (175
    // without the loop counter; eight rounds were no faster), so every "% of probe" before
    // 2026-12-05 (evening) was against about half the adapter's rate.
    for (var t = 0u; t < p.iters; t += 4u) {
        a0 = fma(a0, m, 0.001); a1 = fma(a1, m, 0.001); a2 = fma(a2, m, 0.001); a3 = fma(a3, m, 0.001);
        a4 = fma(a4, m, 0.001); a5 = fma(a5, m, 0.001); a6 = fma(a6, m, 0.001); a7 = fma(a7, m, 0.001);
        a8 = fma(a8, m, 0.001); a9 = fma(a9, m, 0.001); a10 = fma(a10, m, 0.001); a11 = fma(a11, m, 0.001);
        a12 = fma(a12, m, 0.001); a13 = fma(a13, m, 0.001); a14 = fma(a14, m, 0.001); a15 = fma(a15, m, 0.001);
        a0 = fma(a0, m, 0.001); a1 = fma(a1, m, 0.001); a2 = fma(a2, m, 0.001); a3 = fma(a3, m, 0.001);
        a4 = fma(a4, m, 0.001); a5 = fma(a5, m, 0.001); a6 = fma(a6, m, 0.001); a7 = fma(a7, m, 0.001);
        a8 = fma(a8, m, 0.001); a9 = fma(a9, m, 0.001); a10 = fma(a10, m, 0.001); a11 = fma(a11, m, 0.001);
        a12 = fma(a12, m, 0.001); a13 = fma(a13, m, 0.001); a14 = fma(a14, m, 0.001); a15 = fma(a15, m, 0.001);
        a0 = fma(a0, m, 0.001); a1 = fma(a1, m, 0.001); a2 = fma(a2, m, 0.001); a3 = fma(a3, m, 0.001);
        a4 = fma(a4, m, 0.001); a5 = fma(a5, m, 0.001); a6 = fma(a6, m, 0.001); a7 = fma(a7, m, 0.001);
        a8 = fma(a8, m, 0.001); a9 = fma(a9, m, 0.001); a10 = fma(a10, m, 0.001); a11 = fma(a11, m, 0.001);
        a12 = fma(a12, m, 0.001); a13 = fma(a13, m, 0.001); a14 = fma(a14, m, 0.001); a15 = fma(a15, m, 0.001);
        a0 = fma(a0, m, 0.001); a1 = fma(a1, m, 0.001); a2 = fma(a2, m, 0.001); a3 = fma(a3, m, 0.001);
        a4 = fma(a4, m, 0.001); a5 = fma(a5, m, 0.001); a6 = fma(a6, m, 0.001); a7 = fma(a7, m, 0.001);
        a8 = fma(a8, m, 0.001); a9 = fma(a9, m, 0.001); a10 = fma(a10, m, 0.001); a11 = fma(a11, m, 0.001);
        a12 = fma(a12, m, 0.001); a13 = fma(a13, m, 0.001); a14 = fma(a14, m, 0.001); a15 = fma(a15, m, 0.001);
    }
    let r = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
    if (i < p.n) {
        dst[i] = vec4<f32>(r);
    }
}

@compute @workgroup_size(256)
fn copy_probe(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i < p.n) {
        dst[i] = src[i];
    }
}
