// Mean squared error, loss = mean((a - b)^2), as diffusers' F.mse_loss(reduction="mean").
//   mse_partial:  each workgroup sums (a - b)^2 over a block of 256 * ITEMS elements and
//                 writes one partial; reduce.wgsl's sum_rows then adds the partials and
//                 scales by 1/n. Deterministic: no atomics, fixed summation order.
//   mse_backward: da = dloss * 2/n * (a - b), db = -da; dloss is read on the GPU.

const ITEMS: u32 = 16u;

struct Params {
    n: u32, a_shift: u32, b_shift: u32, out_shift: u32,
    dloss_shift: u32, db_shift: u32, scale: f32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn mse_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let block = wg.y * nwg.x + wg.x;
    let start = block * 256u * ITEMS;
    var acc = 0.0;
    for (var t = 0u; t < ITEMS; t++) {
        let i = start + t * 256u + lid;
        if (i < p.n) {
            let d = a[p.a_shift + i] - b[p.b_shift + i];
            acc += d * d;
        }
    }
    red[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[p.out_shift + block] = red[0];
    }
}

// bindings: a, b, dloss, da, db
@group(0) @binding(3) var<storage, read> dloss: array<f32>;
@group(0) @binding(4) var<storage, read_write> da: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(256)
fn mse_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + lid;
    if (i >= p.n) { return; }
    let g = dloss[p.dloss_shift] * p.scale * (a[p.a_shift + i] - b[p.b_shift + i]);
    da[p.out_shift + i] = g;
    db[p.db_shift + i] = -g;
}
