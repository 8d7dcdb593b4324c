//! Every kernel against a plain-Rust reference, forward and backward (central finite
//! differences in f64), on random inputs with awkward shapes. Runs on whatever adapter
//! ENGINE_BACKEND / ENGINE_ADAPTER select (CI: lavapipe Vulkan, then llvmpipe GL).

mod common;
use common::*;
use engine::ops::attention::{attention_with, Strategy};
use engine::ops::gemm::{linear, matmul_t};
use engine::ops::loss::mse_loss;
use engine::tensor::DType;
use engine::Tensor;

// ---------------------------------------------------------------- GEMM

fn gemm_case(batch: usize, m: usize, n: usize, k: usize, ta: bool, tb: bool, grads: bool) {
    let mut rng = Rng::new((batch * 1_000_003 + m * 1009 + n * 31 + k) as u64);
    let sa = if ta { vec![batch, k, m] } else { vec![batch, m, k] };
    let sb = if tb { vec![batch, n, k] } else { vec![batch, k, n] };
    let a = rng.vec(numel(&sa), -1.0, 1.0);
    let b = rng.vec(numel(&sb), -1.0, 1.0);
    let name = format!("gemm b{batch} m{m} n{n} k{k} ta{ta} tb{tb}");
    let cpu = move |x: &[Vec<f64>]| gemm_ref(&x[0], &x[1], None, batch, m, n, k, ta, tb);
    let gpu = move |x: &[Tensor]| matmul_t(&x[0], &x[1], ta, tb);
    let tol = 1e-5 * (k as f64).sqrt().max(1.0) + 1e-6;
    if grads {
        check_op(&name, &[(a, sa), (b, sb)], &gpu, &cpu, tol, 2e-3);
    } else {
        let out = gpu(&[t(&a, &sa), t(&b, &sb)]).unwrap();
        assert_eq!(out.shape(), &[batch, m, n]);
        assert_close(&name, &out.to_vec().unwrap(), &cpu(&[f64s(&a), f64s(&b)]), tol, tol);
    }
}

#[test]
fn gemm_awkward_shapes_all_transposes() {
    for &(ta, tb) in &[(false, false), (false, true), (true, false), (true, true)] {
        for &(batch, m, n, k) in
            // (1, 128, 128, 5) and the two after it take the 8x8-block kernel (M, N >= 128): a
            // partial 128-tile, and exact and ragged multiples of it. N = 40, 80 and 160 take
            // the 8x5-block kernel, with a workgroup of 1 to 32 rows of invocations.
            &[
                (1, 1, 1, 1),
                (1, 3, 5, 7),
                (2, 65, 33, 17),
                (1, 1, 127, 3),
                (3, 64, 64, 64),
                (1, 130, 1, 66),
                (1, 128, 128, 5),
                (2, 131, 257, 19),
                (1, 300, 129, 64),
                (2, 3, 40, 9),
                (1, 77, 80, 33),
                (2, 259, 160, 20),
                (1, 1000, 40, 7),
            ]
        {
            gemm_case(batch, m, n, k, ta, tb, false);
        }
    }
}

/// Split-K (K in equal runs side by side, each into its own copy of C, then summed; a GPU
/// default for products with few output tiles, never lavapipe's): forced here, every
/// transpose, batches, the 8x5 and 8x8 blocks' shapes, and a half B (frozen weights); a count
/// that does not divide K leaves the product whole.
#[test]
fn gemm_split_k_matches_reference() {
    for splits in [2usize, 4, 3] {
        engine::ops::gemm::force_k_splits(Some(splits));
        for &(ta, tb) in &[(false, false), (false, true), (true, false), (true, true)] {
            for &(batch, m, n, k) in &[(3usize, 37usize, 40usize, 64usize), (1, 130, 129, 96), (2, 65, 33, 20)] {
                gemm_case(batch, m, n, k, ta, tb, false);
            }
        }
        let mut rng = Rng::new(71);
        let (a, b) = (rng.vec(2 * 70 * 48, -1.0, 1.0), rng.vec(2 * 33 * 48, -1.0, 1.0));
        let bh = Tensor::from_slice_as(&b, &[2, 33, 48], DType::BF16).unwrap();
        let out = matmul_t(&t(&a, &[2, 70, 48]), &bh, false, true).unwrap();
        let want = gemm_ref(&f64s(&a), &f64s(&rounded(&b, DType::BF16)), None, 2, 70, 33, 48, false, true);
        assert_close(&format!("gemm split {splits} bf16 B"), &out.to_vec().unwrap(), &want, 1e-4, 1e-5);
    }
    engine::ops::gemm::force_k_splits(None);
}

#[test]
fn gemm_large_k() {
    gemm_case(1, 3, 70, 4099, false, false, false);
    gemm_case(1, 5, 2, 20000, false, true, false);
}

#[test]
fn gemm_backward_all_transposes() {
    for &(ta, tb) in &[(false, false), (false, true), (true, false), (true, true)] {
        gemm_case(2, 5, 3, 4, ta, tb, true);
        gemm_case(1, 1, 7, 3, ta, tb, true);
    }
}

#[test]
fn matmul_with_shared_right_operand() {
    // [2, 3, 4] x [4, 5]: the batch folds into the rows; and with a transposed left operand.
    let mut rng = Rng::new(5);
    let a = rng.vec(24, -1.0, 1.0);
    let b = rng.vec(20, -1.0, 1.0);
    check_op(
        "matmul shared b",
        &[(a.clone(), vec![2, 3, 4]), (b.clone(), vec![4, 5])],
        &|x| x[0].matmul(&x[1]),
        &|x| {
            let bb: Vec<f64> = x[1].iter().chain(x[1].iter()).cloned().collect();
            gemm_ref(&x[0], &bb, None, 2, 3, 5, 4, false, false)
        },
        1e-5,
        2e-3,
    );
    check_op(
        "matmul shared b, a transposed",
        &[(a, vec![2, 4, 3]), (b, vec![4, 5])],
        &|x| matmul_t(&x[0], &x[1], true, false),
        &|x| {
            let bb: Vec<f64> = x[1].iter().chain(x[1].iter()).cloned().collect();
            gemm_ref(&x[0], &bb, None, 2, 3, 5, 4, true, false)
        },
        1e-5,
        2e-3,
    );
}

#[test]
fn linear_with_bias_forward_and_backward() {
    let mut rng = Rng::new(11);
    let (rows, k, n) = (6, 9, 5);
    let x = rng.vec(rows * k, -1.0, 1.0);
    let w = rng.vec(n * k, -1.0, 1.0);
    let b = rng.vec(n, -1.0, 1.0);
    check_op(
        "linear",
        &[(x, vec![2, 3, k]), (w, vec![n, k]), (b, vec![n])],
        &|t| linear(&t[0], &t[1], Some(&t[2])),
        &|t| gemm_ref(&t[0], &t[1], Some(&t[2]), 1, rows, n, k, false, true),
        1e-5,
        2e-3,
    );
}

// ---------------------------------------------------------------- half storage

/// A linear layer with frozen half weights (`--mixed-precision`): forward, and the input's
/// gradient through the transposed product, equal the f64 reference on the rounded weights.
/// Every GEMM variant's half path is in tests/variants.rs.
#[test]
fn linear_with_half_weights_forward_and_input_gradient() {
    let mut rng = Rng::new(17);
    let (rows, k, n) = (37, 70, 45);
    let x = rng.vec(rows * k, -1.0, 1.0);
    let w = rng.vec(n * k, -1.0, 1.0);
    let b = rng.vec(n, -1.0, 1.0);
    let dy = rng.vec(rows * n, -1.0, 1.0);
    for dt in [DType::F16, DType::BF16] {
        let wr = f64s(&rounded(&w, dt));
        let tx = param(&x, &[rows, k]);
        let wh = Tensor::from_slice_as(&w, &[n, k], dt).unwrap();
        assert_eq!(wh.dtype(), dt);
        assert_eq!(wh.to_vec().unwrap(), rounded(&w, dt), "{dt} weights read back as stored");
        let y = linear(&tx, &wh, Some(&t(&b, &[n]))).unwrap();
        let want = gemm_ref(&f64s(&x), &wr, Some(&f64s(&b)), 1, rows, n, k, false, true);
        assert_close(&format!("linear {dt} y"), &y.to_vec().unwrap(), &want, 1e-5, 1e-5);
        y.backward_with(&t(&dy, &[rows, n])).unwrap();
        let dx = gemm_ref(&f64s(&dy), &wr, None, 1, rows, k, n, false, false);
        assert_close(&format!("linear {dt} dx"), &tx.grad().unwrap().to_vec().unwrap(), &dx, 1e-5, 1e-5);
    }
}

/// `got` is `v` rounded to `dt`: bf16 to nearest even bit for bit; f16 to the nearest value or
/// its neighbour on the other side of v (WGSL leaves pack2x16float's rounding to the implementation).
fn assert_rounded(what: &str, got: &[f32], v: &[f32], dt: DType) {
    for ((g, w), x) in got.iter().zip(rounded(v, dt)).zip(v) {
        let ok = g.to_bits() == w.to_bits()
            || (dt == DType::F16 && {
                let (gh, wh) = (half::f16::from_f32(*g), half::f16::from_f32(w));
                gh.to_f32() == *g && wh.to_bits().abs_diff(gh.to_bits()) == 1 && (g - x) * (w - x) <= 0.0
            });
        assert!(ok, "{what} of {x}: {g}, want {w}");
    }
}

/// cast f32 -> half rounds as the host does (bf16 bit for bit; f16 within one unit in the
/// last place, WGSL leaving pack2x16float's rounding to the implementation), half -> f32 is
/// exact, from odd offsets too (a row of a half tensor starting in a word's upper half), and
/// the gradient passes back through both casts.
#[test]
fn cast_rounds_like_the_host_and_passes_gradients() {
    let mut rng = Rng::new(23);
    let n = 1001;
    let mut v = rng.vec(n, -3.0, 3.0);
    v[0] = 1.0 + 1.0 / 256.0; // a bf16 tie: to even (1.0)
    v[1] = 70000.0; // beyond f16's range: inf
    v[2] = 1.0e-6; // an f16 subnormal
    v[3] = -0.0;
    for dt in [DType::F16, DType::BF16] {
        let x = param(&v, &[n]);
        let h = x.cast(dt).unwrap();
        assert_eq!(h.dtype(), dt);
        assert_rounded(&format!("{dt} cast"), &h.to_vec().unwrap(), &v, dt);
        // Rows of 7 elements: row 3 starts at element 21, an odd half.
        let stored = Tensor::from_slice_as(&v[..140], &[20, 7], dt).unwrap();
        let row = stored.narrow0(3, 2).unwrap().cast(DType::F32).unwrap();
        assert_eq!(row.to_vec().unwrap(), rounded(&v[21..35], dt), "{dt} rows at an odd offset");
        let back = h.cast(DType::F32).unwrap();
        let g = rng.vec(n, -1.0, 1.0);
        back.backward_with(&t(&g, &[n])).unwrap();
        // As torch: the gradient reaching the half tensor is held in half.
        assert_rounded(&format!("{dt} gradient"), &x.grad().unwrap().to_vec().unwrap(), &g, dt);
    }
    let nan = Tensor::from_slice(&[f32::NAN, f32::INFINITY, -f32::INFINITY], &[3]).unwrap();
    let b = nan.cast(DType::BF16).unwrap().to_vec().unwrap();
    assert!(b[0].is_nan() && b[1] == f32::INFINITY && b[2] == f32::NEG_INFINITY, "{b:?}");
}

/// Mixed precision (`autograd::autocast`): Linear and Conv2d round their input to the half
/// dtype and read the weight as stored, accumulate in f32 and write f32, so outputs and
/// gradients equal the f64 reference on the rounded input; the gradients reach the f32 weight
/// and the f32 input unrounded (f32), as AdamW must take them. The half input is what backward
/// keeps: GEMM's left operand and conv's image (forward, weight gradient) read it as stored. A frozen half weight
/// (LoRA's base) is read as half.
#[test]
fn linear_and_conv_under_autocast_round_inputs_and_keep_f32_gradients() {
    use engine::autograd::autocast;
    let mut rng = Rng::new(31);
    let (rows, k, n) = (19, 70, 33);
    let (x, w, b) = (rng.vec(rows * k, -1.0, 1.0), rng.vec(n * k, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
    let dy = rng.vec(rows * n, -1.0, 1.0);
    let (xs, ws) = ([2usize, 5, 7, 6], [9usize, 5, 3, 3]);
    let (cx, cw) = (rng.vec(numel(&xs), -1.0, 1.0), rng.vec(numel(&ws), -1.0, 1.0));
    // Where the adapter's f16 cooperative matrices take the f16 forward product (NVIDIA, when
    // tuned or forced), they round an f32 weight to f16 as they load it, as torch.autocast does;
    // the plain kernels multiply the f32 weight as stored. The gradients' products have an f32
    // A: plain kernels.
    let coop_f16 = engine::ops::gemm::takes_coop(DType::F16, DType::F32, rows, n, k, 1, (false, true)).unwrap()
        && engine::ops::gemm::coop().unwrap().is_some_and(|shape| shape.half);
    for dt in [DType::F16, DType::BF16] {
        for frozen_half in [false, true] {
            let tx = param(&x, &[rows, k]);
            let tw = if frozen_half { Tensor::from_slice_as(&w, &[n, k], dt).unwrap() } else { param(&w, &[n, k]) };
            let y = {
                let _a = autocast(dt);
                linear(&tx, &tw, Some(&t(&b, &[n]))).unwrap()
            };
            assert_eq!(y.dtype(), DType::F32);
            let xr = f64s(&rounded(&x, dt));
            let w_rounded_in_forward = frozen_half || (coop_f16 && dt == DType::F16);
            let wr = if frozen_half { f64s(&rounded(&w, dt)) } else { f64s(&w) };
            let wr_fwd = if w_rounded_in_forward { f64s(&rounded(&w, dt)) } else { wr.clone() };
            let what = format!("autocast {dt} linear (half weight {frozen_half})");
            let want = gemm_ref(&xr, &wr_fwd, Some(&f64s(&b)), 1, rows, n, k, false, true);
            assert_close(&format!("{what} y"), &y.to_vec().unwrap(), &want, 1e-5, 1e-5);
            // Backward after the guard is gone: what forward kept decides, not the mode.
            y.backward_with(&t(&dy, &[rows, n])).unwrap();
            let dx = gemm_ref(&f64s(&dy), &wr, None, 1, rows, k, n, false, false);
            let gx = tx.grad().unwrap();
            assert_eq!(gx.dtype(), DType::F32);
            assert_close(&format!("{what} dx"), &gx.to_vec().unwrap(), &dx, 1e-5, 1e-5);
            if !frozen_half {
                let dw = gemm_ref(&f64s(&dy), &xr, None, 1, n, k, rows, true, false);
                let gw = tw.grad().unwrap();
                assert_eq!(gw.dtype(), DType::F32);
                assert_close(&format!("{what} dw"), &gw.to_vec().unwrap(), &dw, 1e-5, 1e-5);
            }
        }

        let (tx, tw) = (param(&cx, &xs), param(&cw, &ws));
        let y = {
            let _a = autocast(dt);
            // The plain kernel, which multiplies the f32 weight as stored: a tuning cache may
            // have chosen conv2d's f16 cooperative matrices for this class, which round it
            // (tests/variants.rs checks that entry).
            let _plain = engine::gpu::variant::force(engine::gpu::variant::Family::Conv, "plain");
            tx.conv2d(&tw, None, 2, 1).unwrap()
        };
        let xr = f64s(&rounded(&cx, dt));
        let want = conv2d_ref(&xr, &f64s(&cw), None, xs, ws, 2, 1);
        assert_close(&format!("autocast {dt} conv y"), &y.to_vec().unwrap(), &want, 1e-5, 1e-5);
        let g = rng.vec(y.numel(), -1.0, 1.0);
        y.backward_with(&t(&g, y.shape())).unwrap();
        let (dx, dw) = conv2d_grads_ref(&xr, &f64s(&cw), &f64s(&g), xs, ws, 2, 1);
        assert_close(&format!("autocast {dt} conv dx"), &tx.grad().unwrap().to_vec().unwrap(), &dx, 1e-5, 1e-5);
        assert_close(&format!("autocast {dt} conv dw"), &tw.grad().unwrap().to_vec().unwrap(), &dw, 1e-5, 1e-5);
    }
    // Outside the guard nothing is rounded.
    let y = linear(&t(&x, &[rows, k]), &t(&w, &[n, k]), None).unwrap();
    let want = gemm_ref(&f64s(&x), &f64s(&w), None, 1, rows, n, k, false, true);
    assert_close("f32 linear", &y.to_vec().unwrap(), &want, 1e-5, 1e-5);
}

/// A half tensor given to a kernel that reads f32 only is an error that says so, not a
/// result computed from misread words.
#[test]
fn half_tensors_are_refused_by_f32_kernels() {
    let h = Tensor::from_slice_as(&[1.0, 2.0, 3.0, 4.0], &[2, 2], DType::BF16).unwrap();
    let f = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let e = h.add(&f).expect_err("add of a bf16 tensor").to_string();
    assert!(e.contains("bf16") && e.contains("cast"), "{e}");
    assert!(h.permute(&[1, 0]).is_err());
}

/// LoRA's dropout mask, drawn on the GPU: element for element the host transcription of its hash,
/// 0 or 1 / (1 - p), dropping about p of the elements; the same seed gives the same mask, the
/// next seed another.
#[test]
fn dropout_mask_matches_the_host_hash() {
    use engine::ops::elementwise::{dropout_keeps, dropout_mask};
    let (p, seed) = (0.3f32, 0x1234_5678_9abc_def0u64);
    let shape = [3, 1001];
    let mask = dropout_mask(&shape, p, seed).unwrap().to_vec().unwrap();
    let keep = 1.0 / (1.0 - p);
    for (i, m) in mask.iter().enumerate() {
        assert_eq!(*m, if dropout_keeps(i as u32, p, seed) { keep } else { 0.0 }, "element {i}");
    }
    let dropped = mask.iter().filter(|m| **m == 0.0).count() as f64 / mask.len() as f64;
    assert!((dropped - 0.3).abs() < 0.03, "dropped {dropped}");
    assert_eq!(dropout_mask(&shape, p, seed).unwrap().to_vec().unwrap(), mask);
    assert_ne!(dropout_mask(&shape, p, seed + 1).unwrap().to_vec().unwrap(), mask);
}

#[test]
fn gemm_shape_errors_name_both_shapes() {
    let a = Tensor::zeros(&[2, 3]).unwrap();
    let b = Tensor::zeros(&[4, 5]).unwrap();
    let e = a.matmul(&b).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4, 5]"), "{e}");
    let e = linear(&a, &b, None).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4, 5]"), "{e}");
}

// ---------------------------------------------------------------- element-wise

type UnaryGpu = fn(&Tensor) -> engine::Result<Tensor>;
/// (name, the GPU op, its f64 reference, input range low, high).
type UnaryCase = (&'static str, UnaryGpu, fn(f64) -> f64, f32, f32);

fn unary_cases() -> Vec<UnaryCase> {
    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }
    vec![
        ("exp", |t| t.exp(), |x| x.exp(), -3.0, 3.0),
        ("log", |t| t.log(), |x| x.ln(), 0.1, 4.0),
        ("sqrt", |t| t.sqrt(), |x| x.sqrt(), 0.1, 4.0),
        ("tanh", |t| t.tanh(), |x| x.tanh(), -4.0, 4.0),
        ("sigmoid", |t| t.sigmoid(), sig, -6.0, 6.0),
        ("relu", |t| t.relu(), |x| x.max(0.0), -2.0, 2.0),
        ("silu", |t| t.silu(), |x| x * sig(x), -6.0, 6.0),
        ("gelu", |t| t.gelu(), |x| 0.5 * x * (1.0 + erf64(x / 2f64.sqrt())), -5.0, 5.0),
        (
            "gelu_tanh",
            |t| t.gelu_tanh(),
            |x| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh()),
            -5.0,
            5.0,
        ),
        ("quick_gelu", |t| t.quick_gelu(), |x| x * sig(1.702 * x), -6.0, 6.0),
        ("square", |t| t.square(), |x| x * x, -3.0, 3.0),
        ("scale", |t| t.scale(-2.5), |x| -2.5 * x, -3.0, 3.0),
        ("affine", |t| t.affine(0.5, 1.25), |x| 0.5 * x + 1.25, -3.0, 3.0),
    ]
}

#[test]
fn unary_forward_matches_reference() {
    for (name, gpu, cpu, lo, hi) in unary_cases() {
        for &n in &[1usize, 257, 70_001] {
            let mut rng = Rng::new(n as u64);
            let x = rng.vec(n, lo, hi);
            let got = gpu(&t(&x, &[n])).unwrap().to_vec().unwrap();
            let want: Vec<f64> = x.iter().map(|&v| cpu(v as f64)).collect();
            assert_close(&format!("{name} n={n}"), &got, &want, 2e-6, 2e-6);
        }
    }
}

#[test]
fn unary_backward_matches_finite_differences() {
    for (name, gpu, cpu, lo, hi) in unary_cases() {
        let mut rng = Rng::new(3);
        // Keep relu's inputs away from its kink, where finite differences are meaningless.
        let x: Vec<f32> =
            rng.vec(37, lo, hi).into_iter().map(|v| if name == "relu" && v.abs() < 0.01 { 0.5 } else { v }).collect();
        check_op(name, &[(x, vec![37])], &|t| gpu(&t[0]), &|x| x[0].iter().map(|&v| cpu(v)).collect(), 2e-6, 1e-3);
    }
}

#[test]
fn binary_broadcasting_forward_and_backward() {
    let shapes: &[(&[usize], &[usize])] = &[
        (&[2, 3, 4], &[2, 3, 4]),
        (&[2, 3, 4], &[4]),
        (&[2, 1, 4], &[1, 3, 1]),
        (&[5], &[1]),
        (&[1], &[7, 5]),
        (&[3, 1, 2, 1], &[4, 1, 5]),
    ];
    type Op = (&'static str, fn(&Tensor, &Tensor) -> engine::Result<Tensor>, fn(f64, f64) -> f64);
    let ops: [Op; 4] = [
        ("add", |a, b| a.add(b), |a, b| a + b),
        ("sub", |a, b| a.sub(b), |a, b| a - b),
        ("mul", |a, b| a.mul(b), |a, b| a * b),
        ("div", |a, b| a.div(b), |a, b| a / b),
    ];
    for (sa, sb) in shapes {
        for (name, gpu, cpu) in ops {
            let mut rng = Rng::new(numel(sa) as u64 * 13 + numel(sb) as u64);
            let a = rng.vec(numel(sa), -2.0, 2.0);
            // Keep divisors away from zero.
            let b: Vec<f32> = rng
                .vec(numel(sb), 0.5, 2.0)
                .into_iter()
                .map(|v| if rng.uniform(0.0, 1.0) < 0.5 { -v } else { v })
                .collect();
            let out_shape = engine::ops::elementwise::broadcast_shape("test", sa, sb).unwrap();
            let (sa2, sb2, os) = (sa.to_vec(), sb.to_vec(), out_shape.clone());
            check_op(
                &format!("{name} {sa:?} {sb:?}"),
                &[(a, sa.to_vec()), (b, sb.to_vec())],
                &|x| gpu(&x[0], &x[1]),
                &move |x| broadcast_ref(&x[0], &sa2, &x[1], &sb2, &os, cpu),
                1e-6,
                1e-3,
            );
        }
    }
}

#[test]
fn binary_shape_mismatch_is_an_error_naming_both_shapes() {
    let a = Tensor::zeros(&[2, 3]).unwrap();
    let b = Tensor::zeros(&[4]).unwrap();
    let e = a.add(&b).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4]"), "{e}");
}

// ---------------------------------------------------------------- reductions

#[test]
fn sum_and_mean_over_each_axis() {
    let shape = [3usize, 4, 5];
    let mut rng = Rng::new(17);
    let x = rng.vec(60, -1.0, 1.0);
    for axis in 0..3 {
        let r = shape[axis] as f64;
        check_op(
            &format!("sum axis {axis}"),
            &[(x.clone(), shape.to_vec())],
            &|t| t[0].sum(axis as isize, false),
            &|t| sum_axis_ref(&t[0], &shape, axis),
            1e-5,
            1e-3,
        );
        check_op(
            &format!("mean axis {axis} keepdim"),
            &[(x.clone(), shape.to_vec())],
            &|t| t[0].mean(axis as isize - 3, true),
            &|t| sum_axis_ref(&t[0], &shape, axis).into_iter().map(|v| v / r).collect(),
            1e-5,
            1e-3,
        );
    }
}

#[test]
fn long_reductions() {
    let mut rng = Rng::new(23);
    // Long contiguous rows (one workgroup each), a long column reduction, and everything.
    for shape in [vec![2usize, 100_000], vec![10_000, 3], vec![1023, 5], vec![1, 1], vec![300_001]] {
        let x = rng.vec(numel(&shape), -1.0, 1.0);
        let axis = if shape.len() == 2 && shape[1] == 3 { 0 } else { shape.len() - 1 };
        let got = t(&x, &shape).sum(axis as isize, false).unwrap().to_vec().unwrap();
        let want = sum_axis_ref(&f64s(&x), &shape, axis);
        assert_close(&format!("sum {shape:?} axis {axis}"), &got, &want, 1e-3, 1e-5);
    }
    // Few long sums split into runs with partial sums: rows, and columns with outer > 1.
    for (shape, axis) in [(vec![3usize, 140_001, 2], 1usize), (vec![2, 200_000, 1], 1)] {
        let x = rng.vec(numel(&shape), -1.0, 1.0);
        let got = t(&x, &shape).sum(axis as isize, false).unwrap().to_vec().unwrap();
        let want = sum_axis_ref(&f64s(&x), &shape, axis);
        assert_close(&format!("sum {shape:?} axis {axis}"), &got, &want, 1e-3, 1e-5);
    }
    // The GPUs' rule, forced: a bias gradient's column sum (many columns, a few thousand rows)
    // in runs of 64 rows and then over the runs; a few long rows in runs of 16384; columns with
    // outer > 1.
    engine::ops::launch::force_gpu_split_rules(true);
    for (shape, axis) in [(vec![3000usize, 70], 0usize), (vec![3, 70_001], 1), (vec![2, 5000, 3], 1)] {
        let x = rng.vec(numel(&shape), -1.0, 1.0);
        let got = t(&x, &shape).sum(axis as isize, false).unwrap().to_vec().unwrap();
        let want = sum_axis_ref(&f64s(&x), &shape, axis);
        assert_close(&format!("GPU rule: sum {shape:?} axis {axis}"), &got, &want, 1e-3, 1e-5);
    }
    engine::ops::launch::force_gpu_split_rules(false);
    let x = rng.vec(123_457, 0.0, 1.0);
    let got = t(&x, &[123_457]).mean_all().unwrap().item().unwrap();
    let want = x.iter().map(|&v| v as f64).sum::<f64>() / 123_457.0;
    assert!((got as f64 - want).abs() < 1e-5, "mean_all {got} vs {want}");
}

/// `sum_except_middle` (a convolution's bias gradient, [N, C, H·W] -> [C]) on each of its
/// paths: an invocation per sum (N·H·W ≤ 64), a workgroup per sum, runs of H·W side by side
/// and their sum (CPU rule: few sums of 2·65536 or more; the GPUs' rule forced: 4 runs of
/// 16384 or more), and one image (a plain sum).
#[test]
fn sums_over_first_and_last_axes_in_one_pass() {
    let mut rng = Rng::new(25);
    let cases = [
        (vec![2usize, 5, 20], false),
        (vec![2, 7, 300], false),
        (vec![3, 4, 70_001], false),
        (vec![1, 3, 10], false),
        (vec![2, 3, 40_000], true),
        (vec![2, 300, 30], true),
    ];
    for (shape, gpu_rule) in cases {
        let x = rng.vec(numel(&shape), -1.0, 1.0);
        engine::ops::launch::force_gpu_split_rules(gpu_rule);
        let got = engine::ops::reduce::sum_except_middle(&t(&x, &shape)).unwrap().to_vec().unwrap();
        engine::ops::launch::force_gpu_split_rules(false);
        let (n, c, r) = (shape[0], shape[1], shape[2]);
        let want: Vec<f64> = (0..c)
            .map(|ch| (0..n).flat_map(|b| (0..r).map(move |i| (b * c + ch) * r + i)).map(|i| x[i] as f64).sum())
            .collect();
        assert_close(&format!("sum_except_middle {shape:?} gpu rule {gpu_rule}"), &got, &want, 1e-3, 1e-5);
    }
    // No images: zeros.
    let got = engine::ops::reduce::sum_except_middle(&Tensor::zeros(&[0, 3, 4]).unwrap()).unwrap();
    assert_eq!(got.to_vec().unwrap(), vec![0.0; 3]);
}

// ---------------------------------------------------------------- softmax, layer norm, loss

#[test]
fn softmax_forward_and_backward() {
    let mut rng = Rng::new(29);
    for (rows, n) in [(4usize, 77usize), (3, 1), (2, 1000), (1, 4096)] {
        let x = rng.vec(rows * n, -5.0, 5.0);
        let got = t(&x, &[rows, n]).softmax().unwrap().to_vec().unwrap();
        assert_close(&format!("softmax [{rows}, {n}]"), &got, &softmax_ref(&f64s(&x), n), 1e-7, 1e-5);
    }
    // Large logits must not overflow.
    let x = vec![1000.0f32, 999.0, -1000.0, 0.0];
    let got = t(&x, &[1, 4]).softmax().unwrap().to_vec().unwrap();
    assert_close("softmax large logits", &got, &softmax_ref(&f64s(&x), 4), 1e-7, 1e-5);
    let x = rng.vec(3 * 7, -2.0, 2.0);
    check_op("softmax grad", &[(x, vec![3, 7])], &|t| t[0].softmax(), &|x| softmax_ref(&x[0], 7), 1e-6, 1e-3);
}

#[test]
fn layer_norm_forward_and_backward() {
    let mut rng = Rng::new(31);
    for (rows, n) in [(5usize, 768usize), (3, 1), (7, 33), (2, 3000)] {
        let x = rng.vec(rows * n, -2.0, 3.0);
        let g = rng.vec(n, 0.5, 1.5);
        let b = rng.vec(n, -0.5, 0.5);
        let got = t(&x, &[rows, n]).layer_norm(&t(&g, &[n]), &t(&b, &[n]), 1e-5).unwrap().to_vec().unwrap();
        let want = layernorm_ref(&f64s(&x), &f64s(&g), &f64s(&b), n, 1e-5);
        assert_close(&format!("layer_norm [{rows}, {n}]"), &got, &want, 2e-5, 2e-5);
    }
    let (rows, n) = (4, 6);
    let x = rng.vec(rows * n, -2.0, 2.0);
    let g = rng.vec(n, 0.5, 1.5);
    let b = rng.vec(n, -0.5, 0.5);
    check_op(
        "layer_norm grad",
        &[(x, vec![2, 2, n]), (g, vec![n]), (b, vec![n])],
        &|t| t[0].layer_norm(&t[1], &t[2], 1e-5),
        &|x| layernorm_ref(&x[0], &x[1], &x[2], n, 1e-5),
        2e-5,
        2e-3,
    );
}

/// The parameter gradients of group and layer norm by both entries (an invocation per channel,
/// lavapipe's default; a workgroup per channel with a tree sum, the GPUs'), against f64, with
/// more than 256 (row, position) pairs per channel: dgamma = sum dy * xhat, dbeta = sum dy.
#[test]
fn norm_parameter_gradients_by_either_entry() {
    let mut rng = Rng::new(67);
    // (N, C, HW, groups); groups 0: layer norm over C, N rows (HW 1).
    for (n, c, hw, groups) in [(2usize, 64usize, 340usize, 32usize), (3, 6, 100, 3), (300, 70, 1, 0)] {
        let x = rng.vec(n * c * hw, -2.0, 3.0);
        let dy = rng.vec(n * c * hw, -1.0, 1.0);
        let (g, b) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        // f64: each (sample, group)'s mean and variance, then the sums over samples and pixels.
        let per = c.checked_div(groups).unwrap_or(c);
        let (mut dg, mut db) = (vec![0.0f64; c], vec![0.0f64; c]);
        for i in 0..n {
            for grp in 0..c / per {
                let idx: Vec<usize> = (grp * per..(grp + 1) * per)
                    .flat_map(|ch| (0..hw).map(move |q| (ch, i * c * hw + ch * hw + q)))
                    .map(|(_, j)| j)
                    .collect();
                let mean = idx.iter().map(|&j| x[j] as f64).sum::<f64>() / idx.len() as f64;
                let var = idx.iter().map(|&j| (x[j] as f64 - mean).powi(2)).sum::<f64>() / idx.len() as f64;
                let rstd = 1.0 / (var + 1e-5).sqrt();
                for &j in &idx {
                    let ch = (j / hw) % c;
                    dg[ch] += dy[j] as f64 * (x[j] as f64 - mean) * rstd;
                    db[ch] += dy[j] as f64;
                }
            }
        }
        for per_workgroup in [false, true] {
            engine::ops::norm::force_params_per_workgroup(Some(per_workgroup));
            let (tx, tg, tb) = (param(&x, &[n, c, hw]), param(&g, &[c]), param(&b, &[c]));
            let y = if groups == 0 {
                tx.reshape(&[n, c]).unwrap().layer_norm(&tg, &tb, 1e-5).unwrap()
            } else {
                tx.reshape(&[n, c, hw, 1]).unwrap().group_norm(groups, &tg, &tb, 1e-5).unwrap()
            };
            y.backward_with(&t(&dy, y.shape())).unwrap();
            engine::ops::norm::force_params_per_workgroup(None);
            let what = format!("norm [{n}, {c}, {hw}] groups {groups} (workgroup per channel {per_workgroup})");
            let tol = 1e-5 * ((n * hw) as f64).sqrt();
            assert_close(&format!("{what} dgamma"), &tg.grad().unwrap().to_vec().unwrap(), &dg, tol, 1e-5);
            assert_close(&format!("{what} dbeta"), &tb.grad().unwrap().to_vec().unwrap(), &db, tol, 1e-5);
        }
    }
}

#[test]
fn mse_loss_forward_and_backward() {
    let mut rng = Rng::new(37);
    for n in [1usize, 4096 * 3 + 5] {
        let a = rng.vec(n, -1.0, 1.0);
        let b = rng.vec(n, -1.0, 1.0);
        let got = mse_loss(&t(&a, &[n]), &t(&b, &[n])).unwrap().item().unwrap();
        let want = a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / n as f64;
        assert!((got as f64 - want).abs() <= 1e-6 + 1e-5 * want, "mse n={n}: {got} vs {want}");
    }
    let a = rng.vec(30, -1.0, 1.0);
    let b = rng.vec(30, -1.0, 1.0);
    check_op(
        "mse grad",
        &[(a, vec![5, 6]), (b, vec![5, 6])],
        &|t| mse_loss(&t[0], &t[1]),
        &|x| vec![x[0].iter().zip(&x[1]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / 30.0],
        1e-6,
        1e-3,
    );
}

// ---------------------------------------------------------------- layout ops

/// Permutes that are transposes once axes merge (the tiled transpose kernel): a matrix, a
/// batch of them, channels-last [n, c, h, w] -> [n, h, w, c], with edges off the 16-tile, and
/// ones that are not (strided copy: attention's head split, and six axes that stay five after
/// merging), each against a host permute.
#[test]
fn permute_transposes_match_host() {
    let mut rng = Rng::new(61);
    let cases: [(Vec<usize>, Vec<usize>); 6] = [
        (vec![37, 50], vec![1, 0]),
        (vec![3, 17, 33], vec![0, 2, 1]),
        (vec![2, 19, 5, 7], vec![0, 2, 3, 1]),
        (vec![1, 40, 1, 3], vec![0, 3, 2, 1]),
        (vec![2, 5, 3, 4], vec![0, 2, 1, 3]),
        (vec![2, 3, 1, 4, 5, 3], vec![5, 1, 3, 0, 2, 4]),
    ];
    for (shape, perm) in cases {
        let x = rng.vec(numel(&shape), -1.0, 1.0);
        let got = t(&x, &shape).permute(&perm).unwrap();
        let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        assert_eq!(got.shape(), &out[..]);
        let in_str: Vec<usize> = (0..shape.len()).map(|i| shape[i + 1..].iter().product()).collect();
        let mut want = vec![0.0f32; x.len()];
        for (o, w) in want.iter_mut().enumerate() {
            let (mut rem, mut src) = (o, 0);
            for d in (0..out.len()).rev() {
                src += (rem % out[d]) * in_str[perm[d]];
                rem /= out[d];
            }
            *w = x[src];
        }
        assert_eq!(got.to_vec().unwrap(), want, "permute {shape:?} by {perm:?}");
    }
}

#[test]
fn permute_expand_narrow_forward_and_backward() {
    let mut rng = Rng::new(41);
    let x = rng.vec(24, -1.0, 1.0);
    check_op(
        "permute",
        &[(x.clone(), vec![2, 3, 4])],
        &|t| t[0].permute(&[2, 0, 1]),
        &|x| {
            let mut y = vec![0.0; 24];
            for i in 0..2 {
                for j in 0..3 {
                    for k in 0..4 {
                        y[k * 6 + i * 3 + j] = x[0][i * 12 + j * 4 + k];
                    }
                }
            }
            y
        },
        0.0,
        1e-3,
    );
    check_op(
        "expand",
        &[(x[..4].to_vec(), vec![4, 1])],
        &|t| t[0].expand(&[2, 4, 3]),
        &|x| (0..24).map(|i| x[0][(i / 3) % 4]).collect(),
        0.0,
        1e-3,
    );
    check_op("narrow0", &[(x.clone(), vec![6, 4])], &|t| t[0].narrow0(2, 3), &|x| x[0][8..20].to_vec(), 0.0, 1e-3);
    check_op(
        "reshape + transpose",
        &[(x, vec![4, 6])],
        &|t| t[0].reshape(&[2, 12])?.transpose(0, 1),
        &|x| (0..24).map(|i| x[0][(i % 2) * 12 + i / 2]).collect(),
        0.0,
        1e-3,
    );
}

#[test]
fn group_norm_forward_and_backward() {
    let mut rng = Rng::new(43);
    // (N, C, H, W, groups): SD-like, odd channel counts per group, one group, no spatial dims,
    // and planes of 256 or more (the kernel's channel-at-a-time path), one not a multiple of 256.
    // Forward goes four elements at a time where the plane is a multiple of 4 (8x8, 16x16,
    // 20x17, and 32x33: a workgroup of vec4s and more, its channel-at-a-time path), else one.
    for (n, c, h, w, groups) in [
        (2usize, 64usize, 8usize, 8usize, 32usize),
        (1, 6, 5, 3, 3),
        (3, 4, 1, 1, 1),
        (1, 10, 7, 7, 5),
        (2, 6, 16, 16, 3),
        (1, 4, 20, 17, 2),
        (1, 4, 32, 33, 2),
    ] {
        let shape = vec![n, c, h, w];
        let x = rng.vec(numel(&shape), -2.0, 3.0);
        let g = rng.vec(c, 0.5, 1.5);
        let b = rng.vec(c, -0.5, 0.5);
        let got = t(&x, &shape).group_norm(groups, &t(&g, &[c]), &t(&b, &[c]), 1e-6).unwrap().to_vec().unwrap();
        let want = groupnorm_ref(&f64s(&x), &f64s(&g), &f64s(&b), n, c, h * w, groups, 1e-6);
        assert_close(&format!("group_norm {shape:?} groups {groups}"), &got, &want, 2e-5, 2e-5);
    }
    let (n, c, hw, groups) = (2, 6, 4, 3);
    let x = rng.vec(n * c * hw, -2.0, 2.0);
    let g = rng.vec(c, 0.5, 1.5);
    let b = rng.vec(c, -0.5, 0.5);
    check_op(
        "group_norm grad",
        &[(x, vec![n, c, 2, 2]), (g, vec![c]), (b, vec![c])],
        &|t| t[0].group_norm(groups, &t[1], &t[2], 1e-5),
        &|x| groupnorm_ref(&x[0], &x[1], &x[2], n, c, hw, groups, 1e-5),
        2e-5,
        2e-3,
    );
    let e = t(&[0.0; 12], &[1, 6, 2]).group_norm(4, &t(&[1.0; 6], &[6]), &t(&[0.0; 6], &[6]), 1e-5).unwrap_err();
    assert!(e.to_string().contains("6 channels"), "{e}");
}

// ---------------------------------------------------------------- conv2d

#[test]
fn conv2d_forward_awkward_shapes() {
    let mut rng = Rng::new(47);
    // (x shape, w shape, stride, padding)
    let cases: &[([usize; 4], [usize; 4], usize, usize)] = &[
        ([1, 3, 5, 5], [4, 3, 3, 3], 1, 1),
        ([2, 5, 7, 6], [3, 5, 3, 3], 2, 1),
        ([1, 4, 9, 9], [70, 4, 1, 1], 1, 0),
        ([2, 2, 6, 5], [3, 2, 3, 3], 1, 0),
        ([1, 1, 1, 1], [1, 1, 1, 1], 1, 0),
        ([1, 3, 8, 8], [2, 3, 3, 3], 2, 0),
        ([1, 66, 3, 3], [5, 66, 3, 3], 1, 1),
    ];
    for &(xs, ws, stride, pad) in cases {
        let x = rng.vec(xs.iter().product(), -1.0, 1.0);
        let w = rng.vec(ws.iter().product(), -1.0, 1.0);
        let b = rng.vec(ws[0], -1.0, 1.0);
        let y = t(&x, &xs).conv2d(&t(&w, &ws), Some(&t(&b, &[ws[0]])), stride, pad).unwrap();
        let want = conv2d_ref(&f64s(&x), &f64s(&w), Some(&f64s(&b)), xs, ws, stride, pad);
        let k = (ws[1] * ws[2] * ws[3]) as f64;
        assert_close(
            &format!("conv2d x{xs:?} w{ws:?} s{stride} p{pad}"),
            &y.to_vec().unwrap(),
            &want,
            1e-5 * k.sqrt() + 1e-6,
            1e-5,
        );
    }
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    let mut rng = Rng::new(53);
    for &(xs, ws, stride, pad) in &[
        ([2usize, 3, 5, 4], [2usize, 3, 3, 3], 1usize, 1usize),
        ([1, 2, 7, 7], [3, 2, 3, 3], 2, 1),
        ([1, 3, 4, 4], [2, 3, 1, 1], 1, 0),
        // Backward-input rows (40 input channels) take the 32x4 workgroup shape.
        ([1, 40, 9, 9], [3, 40, 3, 3], 1, 1),
    ] {
        let x = rng.vec(xs.iter().product(), -1.0, 1.0);
        let w = rng.vec(ws.iter().product(), -1.0, 1.0);
        let b = rng.vec(ws[0], -1.0, 1.0);
        check_op(
            &format!("conv2d grad x{xs:?} w{ws:?} s{stride} p{pad}"),
            &[(x, xs.to_vec()), (w, ws.to_vec()), (b, vec![ws[0]])],
            &|t| t[0].conv2d(&t[1], Some(&t[2]), stride, pad),
            &|v| conv2d_ref(&v[0], &v[1], Some(&v[2]), xs, ws, stride, pad),
            1e-5,
            2e-3,
        );
    }
}

/// Shapes wide enough for the 128x128 workgroup tiles and their clamped edge rows and
/// columns, checked element by element against a direct f64 evaluation of dx and dw (finite
/// differences over 150 k weights would take minutes).
#[test]
fn conv2d_backward_wide_matches_reference() {
    let mut rng = Rng::new(59);
    for &(xs, ws, stride, pad) in &[
        ([2usize, 130, 6, 5], [129usize, 130, 3, 3], 2usize, 1usize),
        ([1, 136, 11, 10], [140, 136, 3, 3], 1, 1),
        ([1, 129, 4, 4], [131, 129, 1, 1], 1, 0),
    ] {
        let name = format!("conv2d x{xs:?} w{ws:?} s{stride} p{pad}");
        let (x, w) = (rng.vec(xs.iter().product(), -1.0, 1.0), rng.vec(ws.iter().product(), -1.0, 1.0));
        let (tx, tw) = (param(&x, &xs), param(&w, &ws));
        let y = tx.conv2d(&tw, None, stride, pad).unwrap();
        let dy = rng.vec(y.numel(), -1.0, 1.0);
        y.backward_with(&t(&dy, y.shape())).unwrap();
        let (dx, dw) = conv2d_grads_ref(&f64s(&x), &f64s(&w), &f64s(&dy), xs, ws, stride, pad);
        let k = (ws[0] * ws[2] * ws[3]).max(y.numel() / ws[0]) as f64;
        let tol = 1e-6 * k.sqrt() + 1e-6;
        assert_close(&format!("{name} dx"), &tx.grad().unwrap().to_vec().unwrap(), &dx, tol, 1e-5);
        assert_close(&format!("{name} dw"), &tw.grad().unwrap().to_vec().unwrap(), &dw, tol, 1e-5);
    }
}

/// Split-K (the summed channels in slices side by side, each into its own copy of the output,
/// then summed; a GPU default for deep, small convolutions, never lavapipe's; for the weight
/// gradient, slices of the output rows of every image): forced here, forward with bias and both
/// gradients against f64, for slice counts that divide the channels / rows and ones that leave
/// a short last slice.
#[test]
fn conv2d_split_k_matches_reference() {
    let mut rng = Rng::new(61);
    // The first case's 72 pixels and the second's 81 input pixels (its input gradient) take the
    // tiled kernels too, forced on the middle split count: channel slices not a multiple of
    // their 8-deep k steps, and the inverse taps of stride 2.
    for &(xs, ws, stride, pad) in
        &[([2usize, 66, 8, 9], [9usize, 66, 3, 3], 1usize, 1usize), ([1, 40, 9, 9], [17, 40, 3, 3], 2, 1)]
    {
        let (x, w, b) = (
            rng.vec(xs.iter().product(), -1.0, 1.0),
            rng.vec(ws.iter().product(), -1.0, 1.0),
            rng.vec(ws[0], -1.0, 1.0),
        );
        for (splits, variant) in [
            (2usize, None),
            (3, Some("8x8 tiled")),
            (3, Some("8x8 tiled vec4")),
            (3, Some("8x8 tiled vec4 pipelined")),
            (7, None),
        ] {
            let name = format!("conv2d split {splits} {variant:?} x{xs:?} w{ws:?} s{stride} p{pad}");
            let _forced = variant.map(|v| engine::gpu::variant::force(engine::gpu::variant::Family::Conv, v));
            engine::ops::conv::force_splits(Some(splits));
            let (tx, tw) = (param(&x, &xs), param(&w, &ws));
            let y = tx.conv2d(&tw, Some(&t(&b, &[ws[0]])), stride, pad).unwrap();
            let dy = rng.vec(y.numel(), -1.0, 1.0);
            y.backward_with(&t(&dy, y.shape())).unwrap();
            engine::ops::conv::force_splits(None);
            let want = conv2d_ref(&f64s(&x), &f64s(&w), Some(&f64s(&b)), xs, ws, stride, pad);
            let k = (ws[1] * ws[2] * ws[3]) as f64;
            assert_close(&format!("{name} y"), &y.to_vec().unwrap(), &want, 1e-5 * k.sqrt() + 1e-6, 1e-5);
            let (dx, dw) = conv2d_grads_ref(&f64s(&x), &f64s(&w), &f64s(&dy), xs, ws, stride, pad);
            let k = (ws[0] * ws[2] * ws[3]) as f64;
            assert_close(
                &format!("{name} dx"),
                &tx.grad().unwrap().to_vec().unwrap(),
                &dx,
                1e-5 * k.sqrt() + 1e-6,
                1e-5,
            );
            let k = (y.numel() / ws[0]) as f64;
            let dw_got = tw.grad().unwrap().to_vec().unwrap();
            assert_close(&format!("{name} dw"), &dw_got, &dw, 1e-5 * k.sqrt() + 1e-6, 1e-5);
        }
    }
}

#[test]
fn conv2d_errors_name_both_shapes() {
    let x = Tensor::zeros(&[1, 3, 4, 4]).unwrap();
    let w = Tensor::zeros(&[2, 4, 3, 3]).unwrap();
    let e = x.conv2d(&w, None, 1, 1).unwrap_err().to_string();
    assert!(e.contains("[1, 3, 4, 4]") && e.contains("[2, 4, 3, 3]"), "{e}");
    let w = Tensor::zeros(&[2, 3, 7, 7]).unwrap();
    assert!(x.conv2d(&w, None, 1, 1).is_err());
}

#[test]
fn cat_narrow_split_upsample_forward_and_backward() {
    let mut rng = Rng::new(67);
    let a = rng.vec(24, -1.0, 1.0);
    let b = rng.vec(40, -1.0, 1.0);
    // cat along channels: [2, 3, 4] ++ [2, 5, 4] -> [2, 8, 4]
    check_op(
        "cat axis 1",
        &[(a.clone(), vec![2, 3, 4]), (b.clone(), vec![2, 5, 4])],
        &|t| engine::ops::copy::cat(&[&t[0], &t[1]], 1),
        &|x| {
            (0..2)
                .flat_map(|n| {
                    x[0][n * 12..n * 12 + 12].iter().chain(&x[1][n * 20..n * 20 + 20]).cloned().collect::<Vec<_>>()
                })
                .collect()
        },
        0.0,
        1e-3,
    );
    check_op(
        "narrow last axis",
        &[(b.clone(), vec![2, 5, 4])],
        &|t| t[0].narrow(-1, 1, 2),
        &|x| (0..10).flat_map(|r| x[0][r * 4 + 1..r * 4 + 3].to_vec()).collect(),
        0.0,
        1e-3,
    );
    let x = t(&b, &[2, 5, 4]);
    let parts = x.split(1, &[2, 3]).unwrap();
    assert_eq!(parts[0].shape(), &[2, 2, 4]);
    assert_eq!(parts[1].to_vec().unwrap(), [&b[8..20], &b[28..40]].concat());
    assert!(x.split(1, &[2, 2]).is_err());
    let e = engine::ops::copy::cat(&[&t(&a, &[2, 3, 4]), &t(&b, &[2, 4, 5])], 1).unwrap_err().to_string();
    assert!(e.contains("[2, 3, 4]") && e.contains("[2, 4, 5]"), "{e}");
    // Nearest x2 upsampling of [1, 2, 3, 2].
    let u = rng.vec(12, -1.0, 1.0);
    check_op(
        "upsample_nearest2x",
        &[(u, vec![1, 2, 3, 2])],
        &|t| t[0].upsample_nearest2x(),
        &|x| {
            let mut y = vec![0.0; 48];
            for c in 0..2 {
                for oy in 0..6 {
                    for ox in 0..4 {
                        y[(c * 6 + oy) * 4 + ox] = x[0][(c * 3 + oy / 2) * 2 + ox / 2];
                    }
                }
            }
            y
        },
        0.0,
        1e-3,
    );
}

// ---------------------------------------------------------------- embeddings

#[test]
fn embedding_lookup_and_scatter_add_backward() {
    let mut rng = Rng::new(71);
    let (v, d) = (11, 5);
    let table = rng.vec(v * d, -1.0, 1.0);
    let ids = [3u32, 0, 10, 3, 3, 7];
    let tt = param(&table, &[v, d]);
    let out = engine::ops::embedding::embedding(&tt, &ids).unwrap();
    let want: Vec<f64> =
        ids.iter().flat_map(|&i| table[i as usize * d..(i as usize + 1) * d].iter().map(|&x| x as f64)).collect();
    assert_close("embedding", &out.to_vec().unwrap(), &want, 0.0, 0.0);
    let g = rng.vec(ids.len() * d, -1.0, 1.0);
    out.backward_with(&t(&g, &[ids.len(), d])).unwrap();
    let mut want = vec![0.0; v * d];
    for (j, &i) in ids.iter().enumerate() {
        for k in 0..d {
            want[i as usize * d + k] += g[j * d + k] as f64;
        }
    }
    assert_close("embedding grad (repeated ids add up)", &tt.grad().unwrap().to_vec().unwrap(), &want, 1e-6, 1e-6);
    let e = engine::ops::embedding::embedding(&tt, &[11]).unwrap_err().to_string();
    assert!(e.contains("id 11") && e.contains("11 rows"), "{e}");
}

#[test]
fn timestep_embedding_matches_diffusers() {
    let ts = [0.0f32, 1.0, 17.0, 500.0, 999.0];
    for (dim, flip, shift) in [(320usize, true, 0.0f32), (32, false, 1.0), (7, true, 0.0)] {
        let got = engine::ops::embedding::timestep_embedding(&t(&ts, &[5]), dim, flip, shift).unwrap();
        assert_eq!(got.shape(), &[5, dim]);
        let want = timestep_embedding_ref(&ts, dim, flip, shift);
        // The angle t * freq is an f32 near 1000 (one ulp = 6.1e-5), and the GPU's exp may round
        // freq differently by an ulp: allow 4 ulps of the angle. A wrong formula is off by O(1).
        assert_close(
            &format!("timestep embedding dim {dim} flip {flip} shift {shift}"),
            &got.to_vec().unwrap(),
            &want,
            2.5e-4,
            0.0,
        );
    }
}

// ---------------------------------------------------------------- attention

/// Both forms of attention; a causal case runs the fused kernel under either name.
const FORMS: [Strategy; 2] = [Strategy::Fused, Strategy::Gemm];

#[test]
fn attention_forward_awkward_shapes() {
    let mut rng = Rng::new(73);
    // (batch x heads, Nq, Nk, D, causal): queries and keys not multiples of the 64-query
    // workgroup or the 16-key tile; cross-attention with 77 keys; CLIP's causal 77 x 64.
    for (b, nq, nk, d, causal) in
        [(2usize, 70usize, 37usize, 8usize, false), (3, 5, 77, 40, false), (2, 77, 77, 64, true), (1, 1, 1, 1, false)]
    {
        let q = rng.vec(b * nq * d, -1.0, 1.0);
        let k = rng.vec(b * nk * d, -1.0, 1.0);
        let v = rng.vec(b * nk * d, -1.0, 1.0);
        let scale = 1.0 / (d as f32).sqrt();
        let want = attention_ref(&f64s(&q), &f64s(&k), &f64s(&v), b, nq, nk, d, causal, scale as f64);
        // The GEMM form also under split-K (a GPU default, forced here: P·V with K the keys).
        for (form, splits) in [(Strategy::Fused, None), (Strategy::Gemm, None), (Strategy::Gemm, Some(7))] {
            engine::ops::gemm::force_k_splits(splits);
            let (tq, tk, tv) = (t(&q, &[b, nq, d]), t(&k, &[b, nk, d]), t(&v, &[b, nk, d]));
            let o = attention_with(&tq, &tk, &tv, causal, scale, Some(form)).unwrap();
            engine::ops::gemm::force_k_splits(None);
            assert_close(
                &format!("attention {form:?} split-K {splits:?} b{b} nq{nq} nk{nk} d{d} causal {causal}"),
                &o.to_vec().unwrap(),
                &want,
                1e-5,
                1e-5,
            );
        }
    }
}

#[test]
fn attention_backward_matches_finite_differences() {
    let mut rng = Rng::new(79);
    for (b, nq, nk, d, causal) in [(2usize, 5usize, 7usize, 3usize, false), (1, 6, 6, 4, true), (1, 18, 20, 2, false)] {
        let q = rng.vec(b * nq * d, -1.0, 1.0);
        let k = rng.vec(b * nk * d, -1.0, 1.0);
        let v = rng.vec(b * nk * d, -1.0, 1.0);
        let scale = 0.7;
        for form in FORMS {
            check_op(
                &format!("attention {form:?} grad b{b} nq{nq} nk{nk} d{d} causal {causal}"),
                &[(q.clone(), vec![b, nq, d]), (k.clone(), vec![b, nk, d]), (v.clone(), vec![b, nk, d])],
                &|t| attention_with(&t[0], &t[1], &t[2], causal, scale, Some(form)),
                &|x| attention_ref(&x[0], &x[1], &x[2], b, nq, nk, d, causal, scale as f64),
                1e-5,
                2e-3,
            );
        }
    }
}

// ---------------------------------------------------------------- recording

/// Dispatches share one compute pass until a command that is not a dispatch (a copy, a clear)
/// or the submission ends it (`gpu::Context`'s recorder). Interleaved in one batch, with no
/// wait between them, each command must still see what the one before it wrote.
#[test]
fn dispatches_copies_and_clears_in_one_batch_keep_their_order() {
    let ctx = engine::gpu::context().unwrap();
    ctx.sync().unwrap();
    let n = 1000;
    let x = Tensor::from_slice(&(0..n).map(|i| i as f32 / n as f32).collect::<Vec<_>>(), &[n]).unwrap();
    let readbacks = engine::gpu::readbacks_on_this_thread();
    let y = x.exp().unwrap(); // a dispatch writes y
    let z = Tensor::zeros(&[n]).unwrap(); // a clear
    ctx.copy(y.buffer(), y.offset() as u64 * 4, z.buffer(), z.offset() as u64 * 4, n as u64 * 4); // y -> z
    let w = z.exp().unwrap(); // a dispatch reads the copy
    ctx.clear(y.buffer(), y.offset() as u64 * 4, n as u64 * 4); // y cleared after w was made from z
    let v = y.add(&w).unwrap(); // a dispatch reads the cleared y
    assert_eq!(engine::gpu::readbacks_on_this_thread(), readbacks, "nothing above waits");
    let got = v.to_vec().unwrap();
    ctx.check().unwrap();
    for (i, g) in got.iter().enumerate() {
        let want = (i as f64 / n as f64).exp().exp();
        assert!((*g as f64 - want).abs() <= 1e-5 * want, "element {i}: {g} against {want}");
    }
}
