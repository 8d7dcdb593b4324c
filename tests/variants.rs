//! Every GEMM and conv2d launch variant, forced in turn, forward and backward against the f64
//! reference. Variants come from the kernel tables (`gemm::variant_names`,
//! `conv::variant_names`), so a new row is tested without naming it here. Forcing is per thread
//! (`gpu::variant::force`), so both tests run side by side in one binary. Variants a shape or
//! this adapter does not offer (no subgroups) fall back to the default and are checked as that.

mod common;

use common::*;
use engine::gpu::variant::{force, Family};
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
