//! Shared test helpers: a seeded RNG, plain-Rust (f64) references, tolerance checks, a
//! central finite-difference gradient check, copying a fixture folder, and a parity report's
//! verdict.
#![allow(dead_code)]
// The f64 references take every size of the op they mirror.
#![allow(clippy::too_many_arguments)]

use engine::Tensor;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) ^ 0xD1B54A32D192ED03 | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

pub fn t(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(data, shape).unwrap()
}

pub fn param(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(data, shape).unwrap().requires_grad_()
}

/// `v` rounded to `dtype` as the engine stores it (nearest even).
pub fn rounded(v: &[f32], dtype: engine::tensor::DType) -> Vec<f32> {
    v.iter().map(|&x| dtype.round(x)).collect()
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Asserts |got - want| <= atol + rtol * |want| elementwise, naming the first failure.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs {}", got.len(), want.len());
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        let tol = atol + rtol * w.abs();
        assert!(
            err <= tol && g.is_finite(),
            "{what}: element {i}: got {g}, want {w} (|err| {err:.3e} > tol {tol:.3e}; {} elements)",
            got.len()
        );
        if err > worst.0 {
            worst = (err, i);
        }
    }
}

/// Row-major strided index helpers for references.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Central finite differences of L(x) = sum(f(x) * w) with respect to every input, in f64.
pub fn fd_grads(inputs: &[Vec<f64>], w: &[f64], f: &dyn Fn(&[Vec<f64>]) -> Vec<f64>, h: f64) -> Vec<Vec<f64>> {
    let loss = |xs: &[Vec<f64>]| -> f64 { f(xs).iter().zip(w).map(|(a, b)| a * b).sum() };
    let mut xs: Vec<Vec<f64>> = inputs.to_vec();
    let mut out = Vec::new();
    for i in 0..inputs.len() {
        let mut g = vec![0.0; inputs[i].len()];
        for j in 0..inputs[i].len() {
            let x0 = xs[i][j];
            xs[i][j] = x0 + h;
            let lp = loss(&xs);
            xs[i][j] = x0 - h;
            let lm = loss(&xs);
            xs[i][j] = x0;
            g[j] = (lp - lm) / (2.0 * h);
        }
        out.push(g);
    }
    out
}

/// Checks forward and backward of a GPU op against an f64 reference: the forward output
/// elementwise, and the gradient of sum(out * w) for random w against central finite
/// differences of the reference.
pub fn check_op(
    name: &str,
    inputs: &[(Vec<f32>, Vec<usize>)],
    gpu: &dyn Fn(&[Tensor]) -> engine::Result<Tensor>,
    cpu: &dyn Fn(&[Vec<f64>]) -> Vec<f64>,
    tol: f64,
    grad_tol: f64,
) {
    let ts: Vec<Tensor> = inputs.iter().map(|(d, s)| param(d, s)).collect();
    let out = gpu(&ts).unwrap_or_else(|e| panic!("{name}: {e}"));
    let xs: Vec<Vec<f64>> = inputs.iter().map(|(d, _)| f64s(d)).collect();
    let want = cpu(&xs);
    let got = out.to_vec().unwrap();
    assert_close(&format!("{name} forward"), &got, &want, tol, tol);

    let mut rng = Rng::new(name.len() as u64 * 7919 + inputs.len() as u64);
    let w = rng.vec(want.len(), -1.0, 1.0);
    out.backward_with(&t(&w, out.shape())).unwrap_or_else(|e| panic!("{name} backward: {e}"));
    let fd = fd_grads(&xs, &f64s(&w), cpu, 1e-3);
    for (i, x) in ts.iter().enumerate() {
        let g = x.grad().unwrap_or_else(|| panic!("{name}: input {i} got no gradient"));
        assert_eq!(g.shape(), x.shape(), "{name}: gradient {i} shape");
        assert_close(&format!("{name} grad of input {i}"), &g.to_vec().unwrap(), &fd[i], grad_tol, grad_tol);
    }
}

// ---- plain-Rust references (f64) ----

/// C[b] = op(A[b]) op(B[b]) (+ bias), shapes as the GPU op.
pub fn gemm_ref(
    a: &[f64],
    b: &[f64],
    bias: Option<&[f64]>,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
) -> Vec<f64> {
    let mut c = vec![0.0; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for kk in 0..k {
                    let av = if ta { a[bi * m * k + kk * m + i] } else { a[bi * m * k + i * k + kk] };
                    let bv = if tb { b[bi * k * n + j * k + kk] } else { b[bi * k * n + kk * n + j] };
                    s += av * bv;
                }
                c[bi * m * n + i * n + j] = s + bias.map_or(0.0, |bb| bb[j]);
            }
        }
    }
    c
}

pub fn broadcast_ref(
    a: &[f64],
    sa: &[usize],
    b: &[f64],
    sb: &[usize],
    out: &[usize],
    f: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let r = out.len();
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; r - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(sa), pad(sb));
    let (sta, stb) = (strides(&pa), strides(&pb));
    let so = strides(out);
    (0..numel(out))
        .map(|i| {
            let (mut ia, mut ib) = (0, 0);
            for d in 0..r {
                let c = (i / so[d]) % out[d];
                if pa[d] != 1 {
                    ia += c * sta[d];
                }
                if pb[d] != 1 {
                    ib += c * stb[d];
                }
            }
            f(a[ia], b[ib])
        })
        .collect()
}

pub fn softmax_ref(x: &[f64], n: usize) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for (xr, yr) in x.chunks(n).zip(y.chunks_mut(n)) {
        let m = xr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = xr.iter().map(|v| (v - m).exp()).sum();
        for (o, v) in yr.iter_mut().zip(xr) {
            *o = (v - m).exp() / s;
        }
    }
    y
}

pub fn layernorm_ref(x: &[f64], g: &[f64], b: &[f64], n: usize, eps: f64) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for (xr, yr) in x.chunks(n).zip(y.chunks_mut(n)) {
        let mean = xr.iter().sum::<f64>() / n as f64;
        let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for j in 0..n {
            yr[j] = (xr[j] - mean) * rstd * g[j] + b[j];
        }
    }
    y
}

/// Sum over `axis` of `shape` (keepdim layout is the same data).
pub fn sum_axis_ref(x: &[f64], shape: &[usize], axis: usize) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let r = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut y = vec![0.0; outer * inner];
    for o in 0..outer {
        for i in 0..r {
            for j in 0..inner {
                y[o * inner + j] += x[(o * r + i) * inner + j];
            }
        }
    }
    y
}

/// erf by its Taylor series (f64; accurate to ~1e-9 for |x| <= 5, the range tests use).
pub fn erf64(x: f64) -> f64 {
    if x.abs() > 5.0 {
        return x.signum();
    }
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= -x * x / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// torch.nn.GroupNorm on x [n, c, hw].
pub fn groupnorm_ref(
    x: &[f64],
    g: &[f64],
    b: &[f64],
    n: usize,
    c: usize,
    hw: usize,
    groups: usize,
    eps: f64,
) -> Vec<f64> {
    let cpg = c / groups;
    let mut y = vec![0.0; x.len()];
    for s in 0..n {
        for gr in 0..groups {
            let start = (s * c + gr * cpg) * hw;
            let len = cpg * hw;
            let xs = &x[start..start + len];
            let mean = xs.iter().sum::<f64>() / len as f64;
            let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / len as f64;
            let rstd = 1.0 / (var + eps).sqrt();
            for i in 0..len {
                let ch = gr * cpg + i / hw;
                y[start + i] = (xs[i] - mean) * rstd * g[ch] + b[ch];
            }
        }
    }
    y
}

/// torch.nn.functional.conv2d, NCHW, zero padding, one stride for both axes.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_ref(
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    xs: [usize; 4],
    ws: [usize; 4],
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let [n, ci, h, wd] = xs;
    let [co, _, kh, kw] = ws;
    let oh = (h + 2 * pad - kh) / stride + 1;
    let ow = (wd + 2 * pad - kw) / stride + 1;
    let mut y = vec![0.0; n * co * oh * ow];
    for b in 0..n {
        for o in 0..co {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias.map_or(0.0, |bb| bb[o]);
                    for c in 0..ci {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                let ix = (ox * stride + kx) as isize - pad as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                s += w[((o * ci + c) * kh + ky) * kw + kx]
                                    * x[((b * ci + c) * h + iy as usize) * wd + ix as usize];
                            }
                        }
                    }
                    y[((b * co + o) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
    y
}

/// (dx, dw) of conv2d for the output gradient `dy`, by the definition (f64).
pub fn conv2d_grads_ref(
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    xs: [usize; 4],
    ws: [usize; 4],
    stride: usize,
    pad: usize,
) -> (Vec<f64>, Vec<f64>) {
    let [n, ci, h, wd] = xs;
    let [co, _, kh, kw] = ws;
    let oh = (h + 2 * pad - kh) / stride + 1;
    let ow = (wd + 2 * pad - kw) / stride + 1;
    let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
    for b in 0..n {
        for o in 0..co {
            for oy in 0..oh {
                for ox in 0..ow {
                    let g = dy[((b * co + o) * oh + oy) * ow + ox];
                    for c in 0..ci {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                let ix = (ox * stride + kx) as isize - pad as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let wi = ((o * ci + c) * kh + ky) * kw + kx;
                                let xi = ((b * ci + c) * h + iy as usize) * wd + ix as usize;
                                dx[xi] += w[wi] * g;
                                dw[wi] += x[xi] * g;
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw)
}

/// diffusers' get_timestep_embedding: frequencies in the same f32 operations, sin/cos in f64.
pub fn timestep_embedding_ref(ts: &[f32], dim: usize, flip: bool, shift: f32) -> Vec<f64> {
    let half = dim / 2;
    let lmp = (10000f64).ln() as f32;
    let mut out = vec![0.0; ts.len() * dim];
    for (i, &t) in ts.iter().enumerate() {
        for k in 0..half {
            let freq = ((-lmp * k as f32) / (half as f32 - shift)).exp();
            let arg = (t * freq) as f64;
            let (s, c) = (arg.sin(), arg.cos());
            let (first, second) = if flip { (c, s) } else { (s, c) };
            out[i * dim + k] = first;
            out[i * dim + half + k] = second;
        }
    }
    out
}

/// softmax(scale q kᵀ [causal]) v, q [b, nq, d], k and v [b, nk, d].
pub fn attention_ref(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    b: usize,
    nq: usize,
    nk: usize,
    d: usize,
    causal: bool,
    scale: f64,
) -> Vec<f64> {
    let mut o = vec![0.0; b * nq * d];
    for bb in 0..b {
        for i in 0..nq {
            let mut s: Vec<f64> = (0..nk)
                .map(|j| {
                    if causal && j > i {
                        f64::NEG_INFINITY
                    } else {
                        scale * (0..d).map(|x| q[(bb * nq + i) * d + x] * k[(bb * nk + j) * d + x]).sum::<f64>()
                    }
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
            for x in s.iter_mut() {
                *x = (*x - m).exp() / z;
            }
            for x in 0..d {
                o[(bb * nq + i) * d + x] = (0..nk).map(|j| s[j] * v[(bb * nk + j) * d + x]).sum();
            }
        }
    }
    o
}

/// Analytic attention gradients (dq, dk, dv) for output gradient `dout`, in f64.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_ref(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    dout: &[f64],
    b: usize,
    nq: usize,
    nk: usize,
    d: usize,
    scale: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
    for bb in 0..b {
        for i in 0..nq {
            let qi = &q[(bb * nq + i) * d..(bb * nq + i + 1) * d];
            let s: Vec<f64> =
                (0..nk).map(|j| scale * (0..d).map(|x| qi[x] * k[(bb * nk + j) * d + x]).sum::<f64>()).collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
            let pr: Vec<f64> = s.iter().map(|x| (x - m).exp() / z).collect();
            let g = &dout[(bb * nq + i) * d..(bb * nq + i + 1) * d];
            let dp: Vec<f64> = (0..nk).map(|j| (0..d).map(|x| g[x] * v[(bb * nk + j) * d + x]).sum()).collect();
            let drow: f64 = (0..nk).map(|j| pr[j] * dp[j]).sum();
            for j in 0..nk {
                let ds = pr[j] * (dp[j] - drow);
                for x in 0..d {
                    dq[(bb * nq + i) * d + x] += scale * ds * k[(bb * nk + j) * d + x];
                    dk[(bb * nk + j) * d + x] += scale * ds * qi[x];
                    dv[(bb * nk + j) * d + x] += pr[j] * g[x];
                }
            }
        }
    }
    (dq, dk, dv)
}

/// Copies the folder `from` (recursively) to `to`, which is created.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Every row of `report` (reference case `name`, `how` it ran) passes, or the failing rows are
/// named.
pub fn assert_parity_passes(name: &str, how: &str, report: &engine::parity::Report) {
    let failed: Vec<String> = report
        .rows
        .iter()
        .filter(|r| !r.pass)
        .map(|r| format!("{} {} rel_err {:.3e} > {:.0e}", r.section, r.tensor, r.rel_err, r.tolerance))
        .collect();
    assert!(failed.is_empty(), "{name}{how}: {} rows fail:\n{}", failed.len(), failed.join("\n"));
    assert!(report.passed() && !report.rows.is_empty(), "{name}{how}: nothing checked");
}
