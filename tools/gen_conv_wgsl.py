"""Writes shaders/conv.wgsl (plain 8x8 register blocks) and shaders/conv_subgroup.wgsl (8, 16
and 32 rows per invocation, A by subgroup broadcast). The accumulators are named scalars
(llvmpipe spills WGSL arrays to memory), hence a generator. Edit this file, not the shaders:
    python3 tools/gen_conv_wgsl.py
"""
import pathlib

HEADER = r'''// 2-D convolution, NCHW, any kernel size, stride and zero padding, as implicit GEMMs: the
// im2col matrix is never materialised, each load gathers from the image.
//
//   MODE 0, forward:          y[n, co, q]  = bias[co] + sum_{tap, ci} w[co, ci, tap] x[n, ci, in(q, tap)]
//   MODE 1, backward input:   dx[n, ci, q] = sum_{tap, co} w[co, ci, tap] dy[n, co, out(q, tap)]
//   `conv_dw`, backward weight: dw[co, ci, tap] = sum_{n, q} dy[n, co, q] x[n, ci, in(q, tap)]
// where tap = (ky, kx), in(q, tap) is the input pixel that output pixel q reads through that
// tap (iy = oy*stride - pad + ky; none in the padding) and out(q, tap) its inverse (none where
// no output pixel reads q through the tap, as with odd q under stride 2).
//
// Each invocation holds an 8x8 register block of C (rows WG_Y apart, columns WG_X apart, so
// that neighbouring lanes touch neighbouring pixels or channels); a workgroup covers
// (8 WG_Y) x (8 WG_X). The subgroup entries (conv_subgroup.wgsl) hold 8, 16 or 32 rows and
// take the rows' A values from lanes 0-7 by broadcast, as the GEMM subgroup kernels do.
// The loops put the tap outside the channel sum: for a fixed tap the pixel offsets and their
// padding masks are the same for every channel, so they are computed once per tap and the
// inner loop is a plain GEMM step, 16 loads for 64 FMAs. In `conv_dw` every invocation walks
// the same pixels, so the padding shows as loop bounds and the inner loop has no masks at all.
// (The previous kernel recomputed coordinates and bounds for every load and ran at 2.8
// GFLOP/s on lavapipe.) Accumulators are named scalars: as arrays, llvmpipe keeps them
// in memory. Written by tools/gen_conv_wgsl.py: edit that, not this file.
//
// Specialisation: MODE (u32: 0 or 1, for `conv`), HAS_BIAS (bool), WG_X, WG_Y (u32).
// `beta` != 0 accumulates into C: the launcher splits channels and images into chunks that fit
// a storage binding, and sums the chunks of a summed dimension.

struct Params {
    m: u32, n: u32, chans: u32, beta: f32,
    a_shift: u32, b_shift: u32, c_shift: u32, bias_shift: u32,
    h: u32, w: u32, oh: u32, ow: u32,
    kh: u32, kw: u32, stride: u32, pad: u32,
    // A (the weights in `conv`, dy in `conv_dw`): row stride, channel stride, image stride.
    a_rs: u32, a_cs: u32, a_img: u32, b_plane: u32,
    b_img: u32, c_row: u32, c_img: u32, imgs: u32,
    // Width of C's pixel plane in `conv` (OW forward, W backward-input); in `conv_dw`, the
    // pixel strides of A and B (1 for NCHW; the channel count for channels-last copies).
    cw: u32, a_px: u32, b_px: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Where pixel q of C reads B through tap (ky, kx): the offset in B's channel plane, and
// whether it reads anything (0 in the padding, or no output pixel under stride > 1).
struct Tap { off: u32, ok: bool }

fn tap_of(q: u32, ky: u32, kx: u32) -> Tap {
    let y = i32(q / p.cw);
    let x = i32(q % p.cw);
    let s = i32(p.stride);
    if (MODE == 0u) {
        let iy = y * s - i32(p.pad) + i32(ky);
        let ix = x * s - i32(p.pad) + i32(kx);
        let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
        return Tap(select(0u, u32(iy) * p.w + u32(ix), ok), ok);
    }
    let ty = y + i32(p.pad) - i32(ky);
    let tx = x + i32(p.pad) - i32(kx);
    let oy = ty / s;
    let ox = tx / s;
    let ok = ty >= 0 && tx >= 0 && ty % s == 0 && tx % s == 0 && oy < i32(p.oh) && ox < i32(p.ow);
    return Tap(select(0u, u32(oy) * p.ow + u32(ox), ok), ok);
}

'''

VALID_RANGE = r'''// First and one-past-last output coordinate whose input coordinate o*stride - pad + k lies
// in [0, size).
fn valid_range(k: u32, size: u32, out: u32) -> vec2<u32> {
    let s = i32(p.stride);
    let lo_num = i32(p.pad) - i32(k);
    let lo = select(0, (lo_num + s - 1) / s, lo_num > 0);
    let hi_num = i32(size) - 1 + i32(p.pad) - i32(k);
    let hi = select(0, min(hi_num / s + 1, i32(out)), hi_num >= 0);
    return vec2<u32>(u32(lo), u32(max(hi, lo)));
}

'''


def signature(name, subgroup):
    if subgroup:
        # Subgroup builtins need a 1-D workgroup; the 2-D position is derived from the index.
        return [
            "@compute @workgroup_size(WG_X * WG_Y, 1, 1)",
            f"fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, "
            "@builtin(subgroup_invocation_id) lane: u32) {",
            "    let lid = vec2<u32>(li % WG_X, li / WG_X);",
        ]
    return [
        "@compute @workgroup_size(WG_X, WG_Y, 1)",
        f"fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{",
    ]


def rows_a(rows, subgroup, indent, a_of):
    """Lines loading the rows' A values: a_of(row) is the expression for row i (or for lane
    group g's row when subgroup)."""
    if subgroup:
        out = [f"{indent}let a_mine{g} = {a_of(f'mine{g}')};" for g in range(rows // 8)]
        out += [f"{indent}let a{i} = subgroupBroadcast(a_mine{i // 8}, {i % 8}u);" for i in range(rows)]
        return out
    return [f"{indent}let a{i} = {a_of(i)};" for i in range(rows)]


def fmas(rows, indent):
    return [indent + " ".join(f"acc{i}_{j} = fma(a{i}, b{j}, acc{i}_{j});" for j in range(8)) for i in range(rows)]


def accs(rows):
    return ["    " + " ".join(f"var acc{i}_{j} = 0.0;" for j in range(8)) for i in range(rows)]


def acc_array(rows):
    out = [f"    var acc = array<array<f32, 8>, {rows}>("]
    out += ["        array<f32, 8>(" + ", ".join(f"acc{i}_{j}" for j in range(8)) + ")," for i in range(rows)]
    return out + ["    );"]


def row_index_lines(rows, subgroup, name, expr):
    """`let {name}{i} = expr(row)` for the rows this invocation loads."""
    if subgroup:
        return [f"    let {name}mine{g} = {expr(f'(lane % 8u + {8 * g}u)')};" for g in range(rows // 8)]
    return [f"    let {name}{i} = {expr(f'{i}u')};" for i in range(rows)]


def conv_entry(rows, subgroup):
    name = f"conv{'_subgroup' + str(rows) if subgroup else ''}"
    out = signature(name, subgroup)
    out += [
        "    let img = wg.z;",
        f"    let row0 = wg.y * {rows}u * WG_Y + lid.y;",
        "    let col0 = wg.x * 8u * WG_X + lid.x;",
    ]
    out += row_index_lines(rows, subgroup, "r", lambda k: f"min(row0 + {k} * WG_Y, p.m - 1u)")
    out += [f"    let q{j} = min(col0 + {j}u * WG_X, p.n - 1u);" for j in range(8)]
    out += accs(rows)
    out += [
        "    let b_base = p.b_shift + img * p.b_img;",
        "    for (var ky = 0u; ky < p.kh; ky++) {",
        "        for (var kx = 0u; kx < p.kw; kx++) {",
        "            let tap = ky * p.kw + kx;",
    ]
    out += [f"            let t{j} = tap_of(q{j}, ky, kx);" for j in range(8)]
    if subgroup:
        out += [f"            let ramine{g} = p.a_shift + rmine{g} * p.a_rs + tap;" for g in range(rows // 8)]
    else:
        out += [f"            let ra{i} = p.a_shift + r{i} * p.a_rs + tap;" for i in range(rows)]
    out += [
        "            for (var ch = 0u; ch < p.chans; ch++) {",
        "                let ac = ch * p.a_cs;",
        "                let bc = b_base + ch * p.b_plane;",
    ]
    out += rows_a(rows, subgroup, "                ", lambda r: f"a[ra{r} + ac]")
    out += [f"                let b{j} = select(0.0, b[bc + t{j}.off], t{j}.ok);" for j in range(8)]
    out += fmas(rows, "                ")
    out += ["            }", "        }", "    }"]
    out += acc_array(rows)
    out += [
        "    let c_base = p.c_shift + img * p.c_img;",
        f"    for (var i = 0u; i < {rows}u; i++) {{",
        "        let r = row0 + i * WG_Y;",
        "        if (r >= p.m) { break; }",
        "        for (var j = 0u; j < 8u; j++) {",
        "            let col = col0 + j * WG_X;",
        "            if (col >= p.n) { break; }",
        "            var v = acc[i][j];",
        "            if (HAS_BIAS) {",
        "                v += bias[p.bias_shift + r];",
        "            }",
        "            let ci = c_base + r * p.c_row + col;",
        "            if (p.beta != 0.0) {",
        "                v += p.beta * c[ci];",
        "            }",
        "            c[ci] = v;",
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(out)


def conv_dw_entry(rows, subgroup):
    name = f"conv_dw{'_subgroup' + str(rows) if subgroup else ''}"
    out = ["// dw for one tap (wg.z): rows are output channels (A = dy), columns input channels (B = x)."]
    out += signature(name, subgroup)
    out += [
        "    let tap = wg.z;",
        "    let ky = tap / p.kw;",
        "    let kx = tap % p.kw;",
        f"    let row0 = wg.y * {rows}u * WG_Y + lid.y;",
        "    let col0 = wg.x * 8u * WG_X + lid.x;",
    ]
    out += row_index_lines(rows, subgroup, "ra", lambda k: f"min(row0 + {k} * WG_Y, p.m - 1u) * p.a_rs")
    out += [f"    let cb{j} = min(col0 + {j}u * WG_X, p.n - 1u) * p.b_plane;" for j in range(8)]
    out += accs(rows)
    out += [
        "    let ys = valid_range(ky, p.h, p.oh);",
        "    let xs = valid_range(kx, p.w, p.ow);",
        "    for (var img = 0u; img < p.imgs; img++) {",
        "        for (var oy = ys.x; oy < ys.y; oy++) {",
        "            let iy = oy * p.stride + ky - p.pad;",
        "            let a_row = p.a_shift + img * p.a_img + oy * p.ow * p.a_px;",
        "            let b_row = p.b_shift + img * p.b_img + iy * p.w * p.b_px;",
        "            for (var ox = xs.x; ox < xs.y; ox++) {",
        "                let ao = a_row + ox * p.a_px;",
        "                let bo = b_row + (ox * p.stride + kx - p.pad) * p.b_px;",
    ]
    out += rows_a(rows, subgroup, "                ", lambda r: f"a[ao + ra{r}]")
    out += [f"                let b{j} = b[bo + cb{j}];" for j in range(8)]
    out += fmas(rows, "                ")
    out += ["            }", "        }", "    }"]
    out += acc_array(rows)
    out += [
        "    let kk = p.kh * p.kw;",
        f"    for (var i = 0u; i < {rows}u; i++) {{",
        "        let r = row0 + i * WG_Y;",
        "        if (r >= p.m) { break; }",
        "        for (var j = 0u; j < 8u; j++) {",
        "            let col = col0 + j * WG_X;",
        "            if (col >= p.n) { break; }",
        "            let ci = p.c_shift + r * p.c_row + col * kk + tap;",
        "            var v = acc[i][j];",
        "            if (p.beta != 0.0) {",
        "                v += p.beta * c[ci];",
        "            }",
        "            c[ci] = v;",
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(out)


shaders = pathlib.Path(__file__).resolve().parent.parent / "shaders"
(shaders / "conv.wgsl").write_text(HEADER + conv_entry(8, False) + "\n" + VALID_RANGE + conv_dw_entry(8, False))
sg = [conv_entry(r, True) for r in (8, 16, 32)] + [conv_dw_entry(r, True) for r in (8, 16, 32)]
(shaders / "conv_subgroup.wgsl").write_text(HEADER + VALID_RANGE + "\n".join(sg))
