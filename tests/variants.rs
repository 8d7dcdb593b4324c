//! Every GEMM and conv2d launch variant, forced in turn, forward and backward against the f64
//! reference. Variants come from the kernel tables (`gemm::variant_names`,
//! `conv::variant_names`), so a new row is tested without naming it here. Forcing is per thread
//! (`gpu::variant::force`), so both tests run side by side in one binary. Variants a shape or
//! this adapter does not offer (no subgroups) fall back to the default and are checked as that.

mod common;

use common::*;
use engine::gpu::variant::{force, Family};
use engine::ops::attention::{attention_with, Strategy};
use engine::ops::gemm::matmul_t;
use engine::ops::{conv, gemm};
use engine::tensor::DType;
use engine::Tensor;

#[test]
fn every_gemm_variant_matches_the_reference() {
    // Shapes that offer each variant: wide products (every block height), ragged edges, and
    // the narrow products of attention heads.
    let shapes = [
        (1usize, 1100usize, 300usize, 19usize),
        (2, 131, 257, 8),
        (1, 300, 129, 64),
        (2, 70, 40, 33),
        (1, 259, 80, 5),
        (1, 96, 160, 12),
    ];
    let variants: Vec<&str> = gemm::variant_names().collect();
    assert!(variants.len() >= 10);
    for v in variants {
        let _forced = force(Family::Gemm, v);
        for (si, &(batch, m, n, k)) in shapes.iter().enumerate() {
            for &(ta, tb) in &[(false, false), (true, true)] {
                let mut rng = Rng::new((m * 31 + n * 7 + k) as u64);
                let sa = if ta { vec![batch, k, m] } else { vec![batch, m, k] };
                let sb = if tb { vec![batch, n, k] } else { vec![batch, k, n] };
                let a = rng.vec(numel(&sa), -1.0, 1.0);
                let b = rng.vec(numel(&sb), -1.0, 1.0);
                let out = matmul_t(&t(&a, &sa), &t(&b, &sb), ta, tb).unwrap();
                let want = gemm_ref(&f64s(&a), &f64s(&b), None, batch, m, n, k, ta, tb);
                let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
                assert_close(
                    &format!("gemm {v} b{batch} m{m} n{n} k{k} ta{ta} tb{tb}"),
                    &out.to_vec().unwrap(),
                    &want,
                    tol,
                    tol,
                );
                // A stored in half (autocast's inputs, read as stored): on one ragged, batched
                // shape (each new dtype is new pipelines to compile).
                if si == 1 {
                    let dt = if ta { DType::F16 } else { DType::BF16 };
                    let ah = Tensor::from_slice_as(&a, &sa, dt).unwrap();
                    let out = matmul_t(&ah, &t(&b, &sb), ta, tb).unwrap();
                    let want = gemm_ref(&f64s(&rounded(&a, dt)), &f64s(&b), None, batch, m, n, k, ta, tb);
                    assert_close(
                        &format!("gemm {v} A {dt} b{batch} m{m} n{n} k{k} ta{ta} tb{tb}"),
                        &out.to_vec().unwrap(),
                        &want,
                        tol,
                        tol,
                    );
                }
                // B stored in half (frozen weights): the same product of the rounded values. On
                // every other shape (each new shape is new pipelines to compile): those still
                // offer every variant (n = 300, 129 and 80; m up to 1100).
                if si % 2 == 1 {
                    continue;
                }
                let dt = if ta { DType::BF16 } else { DType::F16 };
                let bh = Tensor::from_slice_as(&b, &sb, dt).unwrap();
                let out = matmul_t(&t(&a, &sa), &bh, ta, tb).unwrap();
                let want = gemm_ref(&f64s(&a), &f64s(&rounded(&b, dt)), None, batch, m, n, k, ta, tb);
                assert_close(
                    &format!("gemm {v} {dt} b{batch} m{m} n{n} k{k} ta{ta} tb{tb}"),
                    &out.to_vec().unwrap(),
                    &want,
                    tol,
                    tol,
                );
            }
        }
    }
}

/// Half operands staged two elements per load (`ops::blocked::Pairs`: the tiled and coop
/// entries, where a half operand's pairs start at even elements) at every edge a pair can
/// straddle: operands inside wider rows (`gemm_strided`, as attention slices them) whose
/// padding is NaN, with K, M and N odd, so that the second element of an edge pair is the
/// padding (or the next row) and must stage as zero; and at an odd offset, where the entries
/// stage element by element; and a whole tile, staged without bounds checks. Every tiled
/// variant, then each coop entry where the adapter has matrix units (A f16 there, the
/// matrices' rounding of B in the reference).
#[test]
fn half_operands_staged_in_pairs_match_the_reference() {
    let coop = gemm::coop().unwrap();
    let mut variants: Vec<(&str, Family)> =
        gemm::variant_names().filter(|v| v.contains("tiled")).map(|v| (v, Family::Gemm)).collect();
    assert!(variants.len() >= 4, "{variants:?}");
    if coop.is_some() {
        variants.push(("coop", Family::Gemm));
        if gemm::coop_pipelined().unwrap() {
            variants.push(("coop pipelined", Family::Gemm));
        }
    }
    // Past one 128 x 128 tile both ways: the first tile is whole, and its whole k steps stage
    // without bounds checks.
    let (batch, m, n, k) = (2usize, 131usize, 133usize, 37usize);
    for (v, family) in variants {
        let _forced = force(family, v);
        let el = match coop {
            Some(shape) if v.starts_with("coop") && shape.half => DType::F16,
            _ => DType::F32,
        };
        for (case, &(ta, tb)) in [(false, false), (false, true), (true, false), (true, true)].iter().enumerate() {
            for odd in [false, true] {
                let mut rng = Rng::new(4100 + case as u64 * 2 + odd as u64);
                // Stored [rows, cols] inside rows `ld` wide (even), batches `ld·rows + 2` apart,
                // from element `off` (even, or odd to turn pairs off).
                let layout = |rows: usize, cols: usize| {
                    let ld = cols + 2 - cols % 2;
                    (rows, cols, ld, ld * rows + 2, if odd { 3 } else { 4 })
                };
                let (ar, ac) = if ta { (k, m) } else { (m, k) };
                let (br, bc) = if tb { (n, k) } else { (k, n) };
                let la = layout(ar, ac);
                let lb = layout(br, bc);
                let fill = |(rows, cols, ld, bs, off): (usize, usize, usize, usize, usize), rng: &mut Rng| {
                    let mut v = vec![f32::NAN; off + batch * bs];
                    let mut logical = Vec::new();
                    for bi in 0..batch {
                        for r in 0..rows {
                            for c in 0..cols {
                                let x = rng.vec(1, -1.0, 1.0)[0];
                                v[off + bi * bs + r * ld + c] = x;
                                logical.push(x);
                            }
                        }
                    }
                    (v, logical)
                };
                let (a_dt, b_dt) = if el == DType::F16 || case % 2 == 0 {
                    (DType::F16, DType::BF16)
                } else {
                    (DType::BF16, DType::F16)
                };
                let (av, a) = fill(la, &mut rng);
                let (bv, b) = fill(lb, &mut rng);
                let at = Tensor::from_slice_as(&av, &[av.len()], a_dt).unwrap();
                let bt = Tensor::from_slice_as(&bv, &[bv.len()], b_dt).unwrap();
                let ct = Tensor::zeros(&[batch * m * n]).unwrap();
                let mat = |t, (rows, cols, ld, bs, off): (usize, usize, usize, usize, usize)| gemm::Mat {
                    t,
                    offset: off,
                    batch_stride: bs,
                    ld,
                    rows,
                    cols,
                };
                let c = gemm::Mat { t: &ct, offset: 0, batch_stride: m * n, ld: n, rows: m, cols: n };
                gemm::gemm_strided(mat(&at, la), mat(&bt, lb), c, batch, (ta, tb), 1.0, 0.0).unwrap();
                let (a, b) = (rounded(&a, a_dt), rounded(&rounded(&b, b_dt), el));
                let want = gemm_ref(&f64s(&a), &f64s(&b), None, batch, m, n, k, ta, tb);
                let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
                let what = format!("{v}: A {a_dt} B {b_dt} ta{ta} tb{tb} odd offset {odd}");
                assert_close(&what, &ct.to_vec().unwrap(), &want, tol, tol);
            }
        }
    }
}

#[test]
fn every_conv_variant_matches_the_reference() {
    // (x, w, stride, padding): tall and wide enough for the largest tiles, with ragged edges;
    // an 8x8 image (64 pixels, the narrow tiles); stride 2; a 4x4 image (two lanes across).
    let cases: [([usize; 4], [usize; 4], usize, usize); 3] = [
        ([1, 20, 17, 16], [300, 20, 3, 3], 1, 1),
        ([2, 33, 8, 8], [70, 33, 3, 3], 1, 1),
        ([1, 9, 13, 12], [260, 9, 3, 3], 2, 1),
    ];
    let variants = conv::variant_names();
    assert!(variants.len() >= 11);
    for v in variants {
        let _forced = force(Family::Conv, v);
        for (ci, &(xs, ws, stride, pad)) in cases.iter().enumerate() {
            let name = format!("conv2d {v} x{xs:?} w{ws:?} s{stride}");
            let mut rng = Rng::new(xs.iter().sum::<usize>() as u64 * 131 + ws[0] as u64);
            let (x, w) = (rng.vec(xs.iter().product(), -1.0, 1.0), rng.vec(ws.iter().product(), -1.0, 1.0));
            let b = rng.vec(ws[0], -1.0, 1.0);
            let (tx, tw, tb) = (param(&x, &xs), param(&w, &ws), param(&b, &[ws[0]]));
            let y = tx.conv2d(&tw, Some(&tb), stride, pad).unwrap();
            let want = conv2d_ref(&f64s(&x), &f64s(&w), Some(&f64s(&b)), xs, ws, stride, pad);
            let k = (ws[1] * ws[2] * ws[3]) as f64;
            assert_close(&format!("{name} y"), &y.to_vec().unwrap(), &want, 1e-6 * k.sqrt() + 1e-6, 1e-5);
            let dy = rng.vec(y.numel(), -1.0, 1.0);
            y.backward_with(&t(&dy, y.shape())).unwrap();
            let (dx, dw) = conv2d_grads_ref(&f64s(&x), &f64s(&w), &f64s(&dy), xs, ws, stride, pad);
            let tol = 1e-6 * ((ws[0] * 9).max(y.numel() / ws[0]) as f64).sqrt() + 1e-6;
            assert_close(&format!("{name} dx"), &tx.grad().unwrap().to_vec().unwrap(), &dx, tol, 1e-5);
            assert_close(&format!("{name} dw"), &tw.grad().unwrap().to_vec().unwrap(), &dw, tol, 1e-5);
            // Frozen weights in half: forward and the input's gradient with the rounded weights
            // (f16 and bf16 on alternate cases).
            let dt = [DType::F16, DType::BF16][ci % 2];
            let tx = param(&x, &xs);
            let wh = Tensor::from_slice_as(&w, &ws, dt).unwrap();
            let y = tx.conv2d(&wh, Some(&t(&b, &[ws[0]])), stride, pad).unwrap();
            let wr = f64s(&rounded(&w, dt));
            let want = conv2d_ref(&f64s(&x), &wr, Some(&f64s(&b)), xs, ws, stride, pad);
            assert_close(&format!("{name} {dt} y"), &y.to_vec().unwrap(), &want, 1e-6 * k.sqrt() + 1e-6, 1e-5);
            y.backward_with(&t(&dy, y.shape())).unwrap();
            let (dx, _) = conv2d_grads_ref(&f64s(&x), &wr, &f64s(&dy), xs, ws, stride, pad);
            assert_close(&format!("{name} {dt} dx"), &tx.grad().unwrap().to_vec().unwrap(), &dx, tol, 1e-5);
            // The image in half (autocast's input, read as stored by forward and by the weight
            // gradient through its widening transpose), on the stride-2 case.
            if ci == 2 {
                let xh = Tensor::from_slice_as(&x, &xs, dt).unwrap();
                let tw = param(&w, &ws);
                let y = xh.conv2d(&tw, Some(&t(&b, &[ws[0]])), stride, pad).unwrap();
                let xr = f64s(&rounded(&x, dt));
                let want = conv2d_ref(&xr, &f64s(&w), Some(&f64s(&b)), xs, ws, stride, pad);
                assert_close(&format!("{name} x {dt} y"), &y.to_vec().unwrap(), &want, 1e-6 * k.sqrt() + 1e-6, 1e-5);
                y.backward_with(&t(&dy, y.shape())).unwrap();
                let (_, dw) = conv2d_grads_ref(&xr, &f64s(&w), &f64s(&dy), xs, ws, stride, pad);
                assert_close(&format!("{name} x {dt} dw"), &tw.grad().unwrap().to_vec().unwrap(), &dw, tol, 1e-5);
            }
        }
    }
}

/// The cooperative-matrix GEMM's entries, plain and pipelined (forced: by default they run
/// only where `engine bench --tune` chose them), where the adapter has matrix units: f16 A
/// (autocast's input, the only products f16 matrices take), B in every storage dtype and rounded to the matrices' element type as
/// it is staged, every transpose, batches, ragged edges past one workgroup tile in both
/// directions, whole tiles straight to C, K past several steps and not a multiple of the
/// matrices' size, and a bias through `linear` (ragged, and on whole tiles). Lavapipe has matrix units from Mesa 26 (8x8x8); CI's Mesa 25 has none,
/// and `.ci/coop-lavapipe` runs this binary again on Mesa 26. Elsewhere the test says it ran
/// nothing.
#[test]
fn coop_gemm_matches_the_reference() {
    let Some(shape) = coop_shape("coop_gemm_matches_the_reference", gemm::coop().unwrap()) else { return };
    each_coop_entry(Family::Gemm, gemm::coop_pipelined().unwrap(), |v| coop_gemm_case(v, shape));
}

/// `shape` (a family's coop shape here, `None` where its entries do not run), after checking
/// that the adapter reports no matrices where it is `None`: an adapter that reports a shape the
/// kernels are written for runs them unless a self-test failed (which falls back quietly in
/// use, but is a bug here). `None`: the test says it ran nothing.
fn coop_shape(test: &str, shape: Option<engine::gpu::CoopShape>) -> Option<engine::gpu::CoopShape> {
    if shape.is_none() {
        let reported = engine::gpu::context().unwrap().caps.coop;
        assert!(reported.is_none(), "{test}: the adapter has {reported:?} matrices but a coop self-test failed");
        eprintln!("{test}: this adapter has no cooperative matrices; nothing run");
    }
    shape
}

/// `case` with each coop entry of `family` forced in turn: the plain one, and the pipelined
/// one (`pipelined`: it runs here), which must run where its workgroup memory fits the
/// adapter's limit (lavapipe: 16 of its 32 KiB), else it failed its self-test.
fn each_coop_entry(family: Family, pipelined: bool, case: impl Fn(&str)) {
    assert_eq!(pipelined, gemm::coop_pipelined_fits().unwrap(), "{family:?}'s pipelined coop entry");
    for v in gemm::COOP_VARIANTS {
        if v != "coop" && !pipelined {
            eprintln!("{family:?}: {v} does not fit this adapter's workgroup memory; not run");
            continue;
        }
        let _forced = force(family, v);
        case(v);
    }
}

fn coop_gemm_case(v: &str, shape: engine::gpu::CoopShape) {
    let s = shape.size as usize;
    // The matrices' element type: B (and A where it is f32) are rounded to it as staged.
    let el = if shape.half { DType::F16 } else { DType::F32 };
    let shapes = [(1usize, 8 * s + 3, 16 * s + 1, 5 * s + 3), (2, 3, 2 * s + 5, 77), (3, 2 * s, s, s), (1, 1, 1, 1)];
    for (si, &(batch, m, n, k)) in shapes.iter().enumerate() {
        for &(ta, tb) in &[(false, false), (false, true), (true, false), (true, true)] {
            assert!(
                gemm::takes_coop(DType::F16, DType::F32, m, n, k, batch, (ta, tb)).unwrap(),
                "forced, the {s}x{s} matrices take an f16-A product"
            );
            let mut rng = Rng::new((si * 4 + ta as usize * 2 + tb as usize) as u64 + 900);
            let sa = if ta { vec![batch, k, m] } else { vec![batch, m, k] };
            let sb = if tb { vec![batch, n, k] } else { vec![batch, k, n] };
            let (a, b) = (rng.vec(numel(&sa), -1.0, 1.0), rng.vec(numel(&sb), -1.0, 1.0));
            let ah = Tensor::from_slice_as(&a, &sa, DType::F16).unwrap();
            let bdt = [DType::F32, DType::BF16, DType::F16][(si + ta as usize) % 3];
            let bh = Tensor::from_slice_as(&b, &sb, bdt).unwrap();
            let out = matmul_t(&ah, &bh, ta, tb).unwrap();
            let br = rounded(&rounded(&b, bdt), el);
            let want = gemm_ref(&f64s(&rounded(&a, DType::F16)), &f64s(&br), None, batch, m, n, k, ta, tb);
            let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
            let name = format!("{v} gemm {s}x{s} b{batch} m{m} n{n} k{k} ta{ta} tb{tb} B {bdt}");
            assert_close(&name, &out.to_vec().unwrap(), &want, tol, tol);
        }
    }
    // Whole 128 x 128 workgroup tiles with a plain store (alpha 1, no bias, beta 0): the
    // accumulators go straight to C where its offset and row stride are 16-byte aligned
    // (a batch, a row stride wider than N), and through workgroup memory where they are not.
    let (batch, m, n, k) = (2usize, 256usize, 128usize, 3 * s + 1);
    let mut rng = Rng::new(961);
    let (a, b) = (rng.vec(batch * m * k, -1.0, 1.0), rng.vec(batch * k * n, -1.0, 1.0));
    let ah = Tensor::from_slice_as(&a, &[batch, m, k], DType::F16).unwrap();
    let bt = t(&b, &[batch, k, n]);
    let want = gemm_ref(&f64s(&rounded(&a, DType::F16)), &f64s(&rounded(&b, el)), None, batch, m, n, k, false, false);
    let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
    let out = matmul_t(&ah, &bt, false, false).unwrap();
    assert_close(&format!("{v} whole tiles"), &out.to_vec().unwrap(), &want, tol, tol);
    for (offset, ld) in [(4, n + 4), (1, n + 1), (2, n + 2)] {
        let bs = m * ld + 4;
        let ct = Tensor::from_slice(&vec![f32::NAN; offset + batch * bs], &[offset + batch * bs]).unwrap();
        let mat = |t, rows, cols, ld| gemm::Mat { t, offset: 0, batch_stride: rows * cols, ld, rows, cols };
        let c = gemm::Mat { t: &ct, offset, batch_stride: bs, ld, rows: m, cols: n };
        gemm::gemm_strided(mat(&ah, m, k, k), mat(&bt, k, n, n), c, batch, (false, false), 1.0, 0.0).unwrap();
        let got = ct.to_vec().unwrap();
        let got: Vec<f32> =
            (0..batch * m * n).map(|i| got[offset + (i / (m * n)) * bs + (i % (m * n)) / n * ld + i % n]).collect();
        assert_close(&format!("{v} whole tiles into C at {offset}, rows {ld} apart"), &got, &want, tol, tol);
    }
    // Linear's bias: through the epilogue the plain kernels share where the tiles are ragged;
    // on whole tiles (256 x 128) as the accumulators' first value, the tiles straight to C.
    for (rows, n, k) in [(8 * s + 1, 3 * s + 2, 2 * s + 1), (256, 128, 2 * s + 3)] {
        let mut rng = Rng::new(977 + rows as u64);
        let (x, w, bias) = (rng.vec(rows * k, -1.0, 1.0), rng.vec(n * k, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
        let xh = Tensor::from_slice_as(&x, &[rows, k], DType::F16).unwrap();
        let y = engine::ops::gemm::linear(&xh, &t(&w, &[n, k]), Some(&t(&bias, &[n]))).unwrap();
        let want = gemm_ref(
            &f64s(&rounded(&x, DType::F16)),
            &f64s(&rounded(&w, el)),
            Some(&f64s(&bias)),
            1,
            rows,
            n,
            k,
            false,
            true,
        );
        assert_close(&format!("{v} linear with bias, {rows} x {n}"), &y.to_vec().unwrap(), &want, 1e-5, 1e-5);
    }
}

/// Attention's GEMM form on the matrix units (the coop GEMM entries forced), forward and
/// backward. Under fp16 autocast its products take the coop entries with both operands rounded
/// to f16 (torch's autocast runs attention in half): close to f64 at f16's precision, and not
/// the plain kernels' result (so they did run there). Outside autocast, f16 matrices must leave
/// attention alone: bit for bit the plain kernels' result. Unforced (the defaults, untuned),
/// autocast changes nothing. The inputs are exact in f16, so that what separates the paths is
/// the rounding of the probabilities and score gradients the products read.
#[test]
fn coop_attention_matches_the_reference() {
    let Some(shape) = coop_shape("coop_attention_matches_the_reference", gemm::coop().unwrap()) else { return };
    // (batch x heads, Nq, Nk, D): self-attention past one 128 x 128 tile both ways with a head
    // width that is no multiple of the matrices' size; cross-attention's 77 keys.
    for (ci, (b, nq, nk, d)) in [(2usize, 150usize, 140usize, 40usize), (3, 70, 77, 20)].into_iter().enumerate() {
        let mut rng = Rng::new(ci as u64 + 1300);
        let mut half = |n: usize| rounded(&rng.vec(n, -1.0, 1.0), DType::F16);
        let (q, k, v, g) = (half(b * nq * d), half(b * nk * d), half(b * nk * d), half(b * nq * d));
        let scale = 1.0 / (d as f32).sqrt();
        let (fq, fk, fv) = (f64s(&q), f64s(&k), f64s(&v));
        let o = attention_ref(&fq, &fk, &fv, b, nq, nk, d, false, scale as f64);
        let (dq, dk, dv) = attention_backward_ref(&fq, &fk, &fv, &f64s(&g), b, nq, nk, d, scale as f64);
        let want = [o, dq, dk, dv];
        // `plain_backward`: the backward's products on the default plain kernels (a GEMM
        // variant no kernel has forced: no coop route, and the default plain choice).
        let run = |autocast: bool, plain_backward: bool| -> Vec<Vec<f32>> {
            let (tq, tk, tv) = (param(&q, &[b, nq, d]), param(&k, &[b, nk, d]), param(&v, &[b, nk, d]));
            let o = {
                let _a = autocast.then(|| engine::autograd::autocast(DType::F16));
                attention_with(&tq, &tk, &tv, false, scale, Some(Strategy::Gemm)).unwrap()
            };
            // Backward after the guard is gone: it runs under the forward's autocast.
            let _p = plain_backward.then(|| force(Family::Gemm, "no such variant"));
            o.backward_with(&t(&g, &[b, nq, d])).unwrap();
            [o, tq.grad().unwrap(), tk.grad().unwrap(), tv.grad().unwrap()].map(|x| x.to_vec().unwrap()).to_vec()
        };
        // Whole, and in chunks of 23 queries (dK and dV accumulate over them, beta 1, as at SD
        // 1.5's 4096 tokens).
        for chunk in [None, Some(23 * nk)] {
            engine::ops::attention::force_chunk_floats(chunk);
            let plain = run(false, false);
            assert!(plain == run(true, false), "unforced, autocast changed attention's results");
            let names = ["o", "dq", "dk", "dv"];
            each_coop_entry(Family::Gemm, gemm::coop_pipelined().unwrap(), |entry| {
                let what = format!("{entry} attention b{b} nq{nq} nk{nk} d{d} chunk {chunk:?}");
                let f32_run = run(false, false);
                if shape.half {
                    assert!(f32_run == plain, "{what}: f16 matrices rounded attention outside autocast");
                }
                let got = run(true, false);
                for i in 0..4 {
                    assert_close(&format!("{what} {} (f32)", names[i]), &f32_run[i], &want[i], 1e-5, 1e-4);
                    // 1e-3 of the largest value, one to two f16 ulps there (the probabilities and
                    // score gradients are rounded to f16; measured on lavapipe: up to 0.26 of this).
                    let largest = want[i].iter().fold(0.0f64, |m, w| m.max(w.abs()));
                    assert_close(&format!("{what} {} (autocast)", names[i]), &got[i], &want[i], 1e-3 * largest, 0.0);
                }
                if shape.half {
                    // The forward's products, then the backward's, ran on the matrix units.
                    assert!(got[0] != plain[0], "{what}: under autocast the forward ran on the plain kernels");
                    let plain_bw = run(true, true);
                    assert!(plain_bw[0] == got[0], "{what}: the same forward twice");
                    for i in 1..4 {
                        assert!(got[i] != plain_bw[i], "{what} {}: the backward ran on the plain kernels", names[i]);
                    }
                }
            });
        }
        engine::ops::attention::force_chunk_floats(None);
    }
}

/// fp16 autocast's gradients on the matrix units (the coop entries forced): Linear's and
/// conv2d's input and weight gradients round dy to the matrices' element type as they stage it
/// (torch's autocast backward runs in half), with the backward run after the forward's guard
/// is gone (it runs under the forward's autocast). Forward and every gradient against f64 on
/// the values rounded as the kernels round them: a gradient from an unrounded dy would be off
/// by f16's rounding, far outside the tolerance.
#[test]
fn coop_fp16_gradients_match_the_reference() {
    let test = "coop_fp16_gradients_match_the_reference";
    let (Some(shape), Some(_)) = (coop_shape(test, gemm::coop().unwrap()), coop_shape(test, conv::coop().unwrap()))
    else {
        return;
    };
    let el = if shape.half { DType::F16 } else { DType::F32 };
    let r = |v: &[f32], dtype: DType| f64s(&rounded(v, dtype));
    each_coop_entry(Family::Gemm, gemm::coop_pipelined().unwrap(), |v| {
        let (rows, n, k) = (150, 45, 70);
        let mut rng = Rng::new(1400);
        let (x, w, bias, dy) = (
            rng.vec(rows * k, -1.0, 1.0),
            rng.vec(n * k, -1.0, 1.0),
            rng.vec(n, -1.0, 1.0),
            rng.vec(rows * n, -1.0, 1.0),
        );
        let (tx, tw, tb) = (param(&x, &[rows, k]), param(&w, &[n, k]), param(&bias, &[n]));
        let y = {
            let _a = engine::autograd::autocast(DType::F16);
            engine::ops::gemm::linear(&tx, &tw, Some(&tb)).unwrap()
        };
        y.backward_with(&t(&dy, &[rows, n])).unwrap();
        let (xr, wr, dyr) = (r(&x, DType::F16), r(&w, el), r(&dy, el));
        let tol = 1e-5 * (k.max(rows) as f64).sqrt() + 1e-6;
        let want_y = gemm_ref(&xr, &wr, Some(&f64s(&bias)), 1, rows, n, k, false, true);
        assert_close(&format!("{v} linear y"), &y.to_vec().unwrap(), &want_y, tol, 1e-5);
        let want_dx = gemm_ref(&dyr, &wr, None, 1, rows, k, n, false, false);
        assert_close(&format!("{v} linear dx"), &tx.grad().unwrap().to_vec().unwrap(), &want_dx, tol, 1e-5);
        let want_dw = gemm_ref(&dyr, &xr, None, 1, n, k, rows, true, false);
        assert_close(&format!("{v} linear dw"), &tw.grad().unwrap().to_vec().unwrap(), &want_dw, tol, 1e-5);
        let want_db: Vec<f64> = (0..n).map(|j| (0..rows).map(|i| dy[i * n + j] as f64).sum()).collect();
        assert_close(&format!("{v} linear dbias"), &tb.grad().unwrap().to_vec().unwrap(), &want_db, tol, 1e-5);
    });
    // Output channels past one 128-row tile; two images (the weight gradient's sum runs over
    // both); whole, and in the GPUs' split-K slices (forced: channels forward and backward-input,
    // output rows for the weight gradient).
    let (xs, ws) = ([2usize, 20, 17, 16], [140usize, 20, 3, 3]);
    let ys = [2, 140, 17, 16];
    let mut rng = Rng::new(1401);
    let (x, w, dy) = (rng.vec(numel(&xs), -1.0, 1.0), rng.vec(numel(&ws), -1.0, 1.0), rng.vec(numel(&ys), -1.0, 1.0));
    let (xr, wr, dyr) = (r(&x, DType::F16), r(&w, el), r(&dy, el));
    let want_y = conv2d_ref(&xr, &wr, None, xs, ws, 1, 1);
    let (want_dx, want_dw) = conv2d_grads_ref(&xr, &wr, &dyr, xs, ws, 1, 1);
    let tol = 1e-5 * ((ws[0] * 9).max(numel(&ys) / ws[0]) as f64).sqrt() + 1e-6;
    each_coop_entry(Family::Conv, conv::coop_pipelined().unwrap(), |v| {
        for splits in [None, Some(3)] {
            conv::force_splits(splits);
            let (tx, tw) = (param(&x, &xs), param(&w, &ws));
            let y = {
                let _a = engine::autograd::autocast(DType::F16);
                tx.conv2d(&tw, None, 1, 1).unwrap()
            };
            y.backward_with(&t(&dy, &ys)).unwrap();
            conv::force_splits(None);
            let what = format!("{v} conv2d splits {splits:?}");
            assert_close(&format!("{what} y"), &y.to_vec().unwrap(), &want_y, tol, 1e-5);
            assert_close(&format!("{what} dx"), &tx.grad().unwrap().to_vec().unwrap(), &want_dx, tol, 1e-5);
            assert_close(&format!("{what} dw"), &tw.grad().unwrap().to_vec().unwrap(), &want_dw, tol, 1e-5);
        }
    });
}

/// conv2d's cooperative-matrix entries, plain and pipelined (forced; tuner-only otherwise),
/// where the adapter has matrix units: forward with an f16 image (autocast's input, the only
/// convolutions f16 matrices take outside fp16 autocast; the weights are rounded to the
/// matrices' element type as staged), a bias, ragged tiles both ways (output channels and
/// pixels past 128) and whole ones (straight to the output), several 16-deep channel steps
/// and a partial one, stride 2, a 1x1 kernel, batches, and the GPUs' split-K slices forced.
/// Outside autocast the weight gradient keeps its plain kernel on f16 matrices (dy is f32;
/// `coop_fp16_gradients_match_the_reference` runs it under fp16) and is checked as such.
#[test]
fn coop_conv_matches_the_reference() {
    let Some(shape) = coop_shape("coop_conv_matches_the_reference", conv::coop().unwrap()) else { return };
    each_coop_entry(Family::Conv, conv::coop_pipelined().unwrap(), |v| coop_conv_case(v, shape));
}

fn coop_conv_case(v: &str, shape: engine::gpu::CoopShape) {
    let el = if shape.half { DType::F16 } else { DType::F32 };
    // (x, w, stride, padding, split-K slices)
    type Case = ([usize; 4], [usize; 4], usize, usize, Option<usize>);
    // The last two are whole 128 x 128 tiles (output channels x pixels), which go from the
    // accumulators straight to the output: the bias their first value, in the split-K slices
    // only the first slice's.
    let cases: [Case; 7] = [
        ([1, 20, 17, 16], [300, 20, 3, 3], 1, 1, None),
        ([2, 33, 8, 8], [70, 33, 3, 3], 1, 1, None),
        ([1, 9, 13, 12], [130, 9, 3, 3], 2, 1, None),
        ([3, 40, 5, 7], [24, 40, 1, 1], 1, 0, None),
        ([1, 50, 12, 12], [140, 50, 3, 3], 1, 1, Some(3)),
        ([2, 20, 16, 8], [128, 20, 3, 3], 1, 1, None),
        ([1, 40, 16, 16], [256, 40, 3, 3], 1, 1, Some(3)),
    ];
    for (xs, ws, stride, pad, splits) in cases {
        conv::force_splits(splits);
        let name = format!("{v} conv2d x{xs:?} w{ws:?} s{stride} splits {splits:?}");
        let mut rng = Rng::new(xs.iter().sum::<usize>() as u64 * 7 + ws[0] as u64);
        let (x, w) = (rng.vec(xs.iter().product(), -1.0, 1.0), rng.vec(ws.iter().product(), -1.0, 1.0));
        let b = rng.vec(ws[0], -1.0, 1.0);
        let xh = Tensor::from_slice_as(&x, &xs, DType::F16).unwrap();
        let tw = param(&w, &ws);
        let y = xh.conv2d(&tw, Some(&t(&b, &[ws[0]])), stride, pad).unwrap();
        let xr = f64s(&rounded(&x, DType::F16));
        let want = conv2d_ref(&xr, &f64s(&rounded(&w, el)), Some(&f64s(&b)), xs, ws, stride, pad);
        let k = (ws[1] * ws[2] * ws[3]) as f64;
        assert_close(&format!("{name} y"), &y.to_vec().unwrap(), &want, 1e-6 * k.sqrt() + 1e-6, 1e-5);
        // The weight gradient from the image as stored (dy f32: unrounded on either kernel).
        let dy = rng.vec(y.numel(), -1.0, 1.0);
        y.backward_with(&t(&dy, y.shape())).unwrap();
        let (_, dw) = conv2d_grads_ref(&xr, &f64s(&w), &f64s(&dy), xs, ws, stride, pad);
        let tol = 1e-6 * ((ws[0] * 9).max(y.numel() / ws[0]) as f64).sqrt() + 1e-6;
        assert_close(&format!("{name} dw"), &tw.grad().unwrap().to_vec().unwrap(), &dw, tol, 1e-5);
    }
    conv::force_splits(None);
}
