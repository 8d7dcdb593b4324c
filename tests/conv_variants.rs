//! Every conv2d launch variant (workgroup shapes; subgroup entries with 8, 16 and 32 rows, wide
//! and narrow) forward and backward against the f64 reference, each forced in turn with
//! ENGINE_CONV_VARIANT. Its own test binary with one test, because the variable is
//! process-wide. Variants a shape does not offer fall back to the default.

mod common;

use common::*;

#[test]
fn every_conv_variant_matches_the_reference() {
    let variants = [
        "plain",
        "16x16",
        "32x8",
        "8x32",
        "64x4",
        "subgroup 8",
        "subgroup 16",
        "subgroup 32",
        "subgroup 8 narrow",
        "subgroup 16 narrow",
        "subgroup 32 narrow",
    ];
    // (x, w, stride, padding): tall and wide enough for the largest tiles, with ragged edges;
    // an 8x8 image (64 pixels, the narrow tiles); stride 2; a 4x4 image (two lanes across).
    let cases: [([usize; 4], [usize; 4], usize, usize); 3] = [
        ([1, 20, 17, 16], [300, 20, 3, 3], 1, 1),
        ([2, 33, 8, 8], [70, 33, 3, 3], 1, 1),
        ([1, 9, 13, 12], [260, 9, 3, 3], 2, 1),
    ];
    for v in variants {
        std::env::set_var("ENGINE_CONV_VARIANT", v);
        for &(xs, ws, stride, pad) in &cases {
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
        }
    }
    std::env::remove_var("ENGINE_CONV_VARIANT");
}
