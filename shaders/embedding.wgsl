// Lookups that turn integers into vectors.
//   embedding_forward:  out[j, :] = table[ids[j], :] for the ids inside this table chunk
//                       (the table, 49408 x 768 for CLIP = 145 MiB, may exceed a binding and
//                       is bound in row chunks).
//   embedding_backward: dtable[ids[j], :] += dy[j, :], one invocation per column looping over
//                       the ids in order: deterministic (no atomics) and correct when an id
//                       repeats (padding tokens).
//   timestep_embedding: diffusers' get_timestep_embedding: sinusoids of t * exp(-ln(P) k /
//                       (half - shift)), sin then cos (or cos then sin with flip), zero-padded
//                       to an odd dim, in the same f32 operations as diffusers.

struct Params {
    n: u32, d: u32, row0: u32, rows: u32,
    ids_shift: u32, src_shift: u32, dst_shift: u32, flip: u32,
    shift: f32, scale: f32, log_max_period: f32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn flat(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * 256u + lid;
}

// bindings: ids, table chunk, out
@compute @workgroup_size(256)
fn embedding_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = flat(wg, nwg, lid);
    if (i >= p.n * p.d) { return; }
    let j = i / p.d;
    let k = i % p.d;
    let id = ids[p.ids_shift + j];
    if (id >= p.row0 && id < p.row0 + p.rows) {
        dst[p.dst_shift + i] = src[p.src_shift + (id - p.row0) * p.d + k];
    }
}

// bindings: ids, dy, dtable chunk (zeroed by the caller)
@compute @workgroup_size(256)
fn embedding_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let k = flat(wg, nwg, lid);
    if (k >= p.d) { return; }
    for (var j = 0u; j < p.n; j++) {
        let id = ids[p.ids_shift + j];
        if (id >= p.row0 && id < p.row0 + p.rows) {
            let o = p.dst_shift + (id - p.row0) * p.d + k;
            dst[o] = dst[o] + src[p.src_shift + j * p.d + k];
        }
    }
}

const TWO_PI_HI: f32 = 6.28125;                 // 2 pi split in two (Cody-Waite): k * HI is
const TWO_PI_LO: f32 = 0.0019353071795864769;   // exact for the k of timesteps up to ~1e5

// Arguments reach ~1000 (timestep 999 x frequency 1): reduce them to [-pi, pi] first, since
// GPUs' sin/cos lose accuracy far from zero.
fn reduce_angle(x: f32) -> f32 {
    let k = round(x / (TWO_PI_HI + TWO_PI_LO));
    return (x - k * TWO_PI_HI) - k * TWO_PI_LO;
}

// bindings: (unused ids), timesteps, out [n, d]
@compute @workgroup_size(256)
fn timestep_embedding(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = flat(wg, nwg, lid);
    if (i >= p.n * p.d) { return; }
    let row = i / p.d;
    let col = i % p.d;
    let half = p.d / 2u;
    if (col >= 2u * half) {
        dst[p.dst_shift + i] = 0.0;
        return;
    }
    let k = col % half;
    let exponent = (-p.log_max_period * f32(k)) / (f32(half) - p.shift);
    let arg = reduce_angle(p.scale * (src[p.src_shift + row] * exp(exponent)));
    let first_half = col < half;
    // Without flip: [sin, cos]; with flip_sin_to_cos: [cos, sin].
    let use_cos = first_half == (p.flip != 0u);
    dst[p.dst_shift + i] = select(sin(arg), cos(arg), use_cos);
}
