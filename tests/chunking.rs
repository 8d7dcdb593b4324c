//! Tensors larger than one storage binding. The adapter's binding limit is overridden to
//! 8 KiB here, so that every op's chunked path (windows, partial sums, row splits) runs on
//! small tensors and is checked against the same references as the unchunked path.

mod common;
use common::*;
use engine::gpu::{self, GpuOptions};
use engine::ops::attention::{attention_with, Strategy};
use engine::ops::gemm::{linear, matmul_t};
use engine::ops::loss::mse_loss;
use engine::tensor::DType;
use std::sync::Once;

const LIMIT: u64 = 8192;

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut o = GpuOptions::from_env().unwrap();
        o.max_binding_override = Some(LIMIT);
        gpu::configure(o).unwrap();
        assert_eq!(gpu::context().unwrap().max_binding, LIMIT);
    });
}

#[test]
fn elementwise_ops_split_into_windows() {
    setup();
    let mut rng = Rng::new(1);
    let n = 10_007;
    let a = rng.vec(n, -2.0, 2.0);
    let b = rng.vec(n, -2.0, 2.0);
    let row = rng.vec(7, -1.0, 1.0);
    let got = t(&a, &[n]).silu().unwrap().to_vec().unwrap();
    let want: Vec<f64> = a.iter().map(|&x| x as f64 / (1.0 + (-(x as f64)).exp())).collect();
    assert_close("silu chunked", &got, &want, 1e-6, 1e-6);
    let got = t(&a, &[n]).mul(&t(&b, &[n])).unwrap().to_vec().unwrap();
    let want: Vec<f64> = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).collect();
    assert_close("mul chunked", &got, &want, 1e-6, 1e-6);
    // A broadcast operand is bound whole while the output is windowed.
    let m = 7 * 1400;
    let got = t(&a[..m], &[1400, 7]).add(&t(&row, &[7])).unwrap().to_vec().unwrap();
    let want = broadcast_ref(&f64s(&a[..m]), &[1400, 7], &f64s(&row), &[7], &[1400, 7], |x, y| x + y);
    assert_close("broadcast add chunked", &got, &want, 1e-6, 1e-6);
    let full = engine::Tensor::full(&[n], 3.5).unwrap().to_vec().unwrap();
    assert!(full.iter().all(|&v| v == 3.5));
}

#[test]
fn reductions_split_rows_and_partials() {
    setup();
    let mut rng = Rng::new(2);
    for (shape, axis) in [(vec![3usize, 5000], 1usize), (vec![4000, 3], 0), (vec![600, 5], 1), (vec![20, 30, 4], 1)] {
        let x = rng.vec(numel(&shape), -1.0, 1.0);
        let got = t(&x, &shape).sum(axis as isize, false).unwrap().to_vec().unwrap();
        assert_close(&format!("sum {shape:?} axis {axis}"), &got, &sum_axis_ref(&f64s(&x), &shape, axis), 1e-4, 1e-5);
    }
    let x = rng.vec(50_000, 0.0, 1.0);
    let got = t(&x, &[50_000]).sum_all().unwrap().item().unwrap() as f64;
    let want: f64 = x.iter().map(|&v| v as f64).sum();
    assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
}

#[test]
fn row_ops_split_rows_forward_and_backward() {
    setup();
    let mut rng = Rng::new(3);
    let (rows, n) = (40, 300);
    let x = rng.vec(rows * n, -3.0, 3.0);
    let got = t(&x, &[rows, n]).softmax().unwrap().to_vec().unwrap();
    assert_close("softmax chunked", &got, &softmax_ref(&f64s(&x), n), 1e-7, 1e-5);
    let (rows, n) = (300, 12);
    let x = rng.vec(rows * n, -2.0, 2.0);
    let g = rng.vec(n, 0.5, 1.5);
    let b = rng.vec(n, -0.5, 0.5);
    let gpu = |t: &[engine::Tensor]| t[0].layer_norm(&t[1], &t[2], 1e-5);
    let (xs, gs, bs) = (x.clone(), g.clone(), b.clone());
    let ts = [param(&xs, &[rows, n]), param(&gs, &[n]), param(&bs, &[n])];
    let y = gpu(&ts).unwrap();
    assert_close(
        "layer_norm chunked",
        &y.to_vec().unwrap(),
        &layernorm_ref(&f64s(&x), &f64s(&g), &f64s(&b), n, 1e-5),
        2e-5,
        2e-5,
    );
    // Parameter gradients accumulate across row chunks: compare with an unchunked identity.
    y.backward_with(&engine::Tensor::ones(&[rows, n]).unwrap()).unwrap();
    let dbeta = ts[2].grad().unwrap().to_vec().unwrap();
    assert_close("layer_norm dbeta chunked", &dbeta, &vec![rows as f64; n], 1e-3, 1e-6);
    let dgamma = ts[1].grad().unwrap().to_vec().unwrap();
    let xhat = layernorm_ref(&f64s(&x), &vec![1.0; n], &vec![0.0; n], n, 1e-5);
    let want: Vec<f64> = (0..n).map(|j| (0..rows).map(|r| xhat[r * n + j]).sum()).collect();
    assert_close("layer_norm dgamma chunked", &dgamma, &want, 1e-3, 1e-4);
}

#[test]
fn gemm_splits_batches_and_rows() {
    setup();
    let mut rng = Rng::new(4);
    // Batches split across dispatches.
    let (batch, m, n, k) = (6, 20, 20, 20);
    let a = rng.vec(batch * m * k, -1.0, 1.0);
    let b = rng.vec(batch * k * n, -1.0, 1.0);
    let got = matmul_t(&t(&a, &[batch, m, k]), &t(&b, &[batch, n, k]), false, true).unwrap().to_vec().unwrap();
    assert_close(
        "gemm batches chunked",
        &got,
        &gemm_ref(&f64s(&a), &f64s(&b), None, batch, m, n, k, false, true),
        1e-5,
        1e-5,
    );
    // One matrix larger than a binding: rows of a and c split, b whole; with bias and grads.
    let (rows, k, n) = (300, 30, 20);
    let x = rng.vec(rows * k, -1.0, 1.0);
    let w = rng.vec(n * k, -1.0, 1.0);
    let bias = rng.vec(n, -1.0, 1.0);
    let got = linear(&t(&x, &[rows, k]), &t(&w, &[n, k]), Some(&t(&bias, &[n]))).unwrap().to_vec().unwrap();
    assert_close(
        "linear rows chunked",
        &got,
        &gemm_ref(&f64s(&x), &f64s(&w), Some(&f64s(&bias)), 1, rows, n, k, false, true),
        1e-5,
        1e-5,
    );
    let xs = param(&x, &[rows, k]);
    let ws = param(&w, &[n, k]);
    let y = linear(&xs, &ws, None).unwrap();
    y.backward_with(&engine::Tensor::ones(&[rows, n]).unwrap()).unwrap();
    // d/dw sum(x wᵀ) = column sums of x, per output row of w.
    let colsum: Vec<f64> = (0..k).map(|j| (0..rows).map(|r| x[r * k + j] as f64).sum()).collect();
    let want: Vec<f64> = (0..n).flat_map(|_| colsum.clone()).collect();
    assert_close("linear dw chunked", &ws.grad().unwrap().to_vec().unwrap(), &want, 1e-4, 1e-5);
    // A half A (autocast's input, read as stored) split into row windows that start inside a
    // word: 55 rows of 37 per window, so the second starts at half 2035.
    let (rows, k, n) = (200, 37, 20);
    let x = rng.vec(rows * k, -1.0, 1.0);
    let w = rng.vec(n * k, -1.0, 1.0);
    for dt in [DType::F16, DType::BF16] {
        let xh = engine::Tensor::from_slice_as(&x, &[rows, k], dt).unwrap();
        let got = linear(&xh, &t(&w, &[n, k]), None).unwrap().to_vec().unwrap();
        let want = gemm_ref(&f64s(&rounded(&x, dt)), &f64s(&w), None, 1, rows, n, k, false, true);
        assert_close(&format!("linear {dt} x rows chunked"), &got, &want, 1e-5, 1e-5);
    }
    // A case no split can serve (b transposed and too large): an error, not wrong numbers.
    let big = engine::Tensor::zeros(&[1, 100, 100]).unwrap();
    let small = engine::Tensor::zeros(&[1, 2, 100]).unwrap();
    let e = matmul_t(&small, &big, false, true).unwrap_err().to_string();
    assert!(e.contains("binding limit"), "{e}");
}

#[test]
fn mse_loss_split_into_partials() {
    setup();
    let mut rng = Rng::new(5);
    let n = 9001;
    let a = rng.vec(n, -1.0, 1.0);
    let b = rng.vec(n, -1.0, 1.0);
    let (ta, tb) = (param(&a, &[n]), t(&b, &[n]));
    let loss = mse_loss(&ta, &tb).unwrap();
    let want = a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / n as f64;
    let got = loss.item().unwrap() as f64;
    assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
    loss.backward().unwrap();
    let want: Vec<f64> = a.iter().zip(&b).map(|(x, y)| 2.0 * (x - y) as f64 / n as f64).collect();
    assert_close("mse grad chunked", &ta.grad().unwrap().to_vec().unwrap(), &want, 1e-8, 1e-5);
}

#[test]
fn group_norm_splits_rows_forward_and_backward() {
    setup();
    let mut rng = Rng::new(6);
    // 8 samples of 2 groups x 300 elements: chunks of 6 rows, whole samples. Then 3 groups of
    // 200: chunks of 10 rows, which start mid-sample (the SD VAE's 512x512 activations: one
    // sample is a whole binding). Then planes of 300 (the kernel's channel-at-a-time path).
    // Planes a multiple of 4 go four elements at a time (100, 300; 1100 is a workgroup of vec4s
    // and more, their channel-at-a-time path); 150 one at a time.
    for (n, c, hw, groups) in [(8, 4, 150, 2), (5, 6, 100, 3), (5, 4, 300, 2), (3, 4, 1100, 4)] {
        let x = rng.vec(n * c * hw, -2.0, 2.0);
        let g = rng.vec(c, 0.5, 1.5);
        let b = rng.vec(c, -0.5, 0.5);
        let (xs, gs, bs) = (param(&x, &[n, c, hw]), param(&g, &[c]), param(&b, &[c]));
        let y = xs.group_norm(groups, &gs, &bs, 1e-6).unwrap();
        let want = groupnorm_ref(&f64s(&x), &f64s(&g), &f64s(&b), n, c, hw, groups, 1e-6);
        assert_close("group_norm chunked", &y.to_vec().unwrap(), &want, 2e-5, 2e-5);
        let dy = rng.vec(n * c * hw, -1.0, 1.0);
        y.backward_with(&engine::Tensor::from_slice(&dy, &[n, c, hw]).unwrap()).unwrap();
        let want_db: Vec<f64> = (0..c)
            .map(|ch| (0..n).flat_map(|s| (0..hw).map(move |p| (s * c + ch) * hw + p)).map(|i| dy[i] as f64).sum())
            .collect();
        assert_close("group_norm dbeta chunked", &bs.grad().unwrap().to_vec().unwrap(), &want_db, 1e-3, 1e-4);
        let xhat = groupnorm_ref(&f64s(&x), &vec![1.0; c], &vec![0.0; c], n, c, hw, groups, 1e-6);
        let want: Vec<f64> = (0..c)
            .map(|ch| {
                (0..n).flat_map(|s| (0..hw).map(move |p| (s * c + ch) * hw + p)).map(|i| xhat[i] * dy[i] as f64).sum()
            })
            .collect();
        assert_close("group_norm dgamma chunked", &gs.grad().unwrap().to_vec().unwrap(), &want, 1e-3, 1e-4);
        // dx against the analytic rule on each (sample, group) slab.
        let dx = xs.grad().unwrap().to_vec().unwrap();
        let per = c / groups * hw;
        for slab in 0..n * groups {
            let idx: Vec<usize> = (slab * per..(slab + 1) * per).collect();
            let ch = |i: usize| (i / hw) % c;
            let gy: Vec<f64> = idx.iter().map(|&i| dy[i] as f64 * g[ch(i)] as f64).collect();
            let xh: Vec<f64> = idx.iter().map(|&i| xhat[i]).collect();
            let xs_: Vec<f64> = idx.iter().map(|&i| x[i] as f64).collect();
            let mean = xs_.iter().sum::<f64>() / per as f64;
            let var = xs_.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / per as f64;
            let rstd = 1.0 / (var + 1e-6).sqrt();
            let mg = gy.iter().sum::<f64>() / per as f64;
            let mgx = gy.iter().zip(&xh).map(|(a, b)| a * b).sum::<f64>() / per as f64;
            let want: Vec<f64> = gy.iter().zip(&xh).map(|(gi, xi)| rstd * (gi - mg - xi * mgx)).collect();
            assert_close("group_norm dx chunked", &dx[slab * per..(slab + 1) * per], &want, 1e-4, 1e-4);
        }
    }
}

#[test]
fn conv2d_splits_channels_and_accumulates() {
    setup();
    let mut rng = Rng::new(7);
    // One image's input (8 x 20 x 20) and output (6 x 20 x 20) exceed a binding: the input
    // channels split 5 + 3 (accumulated), the output channels 5 + 1.
    for (xs, ws, stride) in [([2usize, 8, 20, 20], [6usize, 8, 3, 3], 1usize), ([2, 8, 21, 21], [6, 8, 3, 3], 2)] {
        let x = rng.vec(xs.iter().product(), -1.0, 1.0);
        let w = rng.vec(ws.iter().product(), -1.0, 1.0);
        let b = rng.vec(ws[0], -1.0, 1.0);
        let (tx, tw, tb) = (param(&x, &xs), param(&w, &ws), param(&b, &[ws[0]]));
        let y = tx.conv2d(&tw, Some(&tb), stride, 1).unwrap();
        let want = conv2d_ref(&f64s(&x), &f64s(&w), Some(&f64s(&b)), xs, ws, stride, 1);
        assert_close(&format!("conv2d chunked {xs:?} s{stride}"), &y.to_vec().unwrap(), &want, 1e-4, 1e-5);
        // The tiled kernels over the same chunks (accumulating through beta), f32 and half images.
        for (v, dt) in
            [("8x8 tiled", DType::F32), ("8x8 tiled vec4", DType::BF16), ("8x8 tiled vec4 pipelined", DType::F16)]
        {
            let _forced = engine::gpu::variant::force(engine::gpu::variant::Family::Conv, v);
            let xv = engine::Tensor::from_slice_as(&x, &xs, dt).unwrap();
            let yv = xv.conv2d(&tw, Some(&t(&b, &[ws[0]])), stride, 1).unwrap();
            let want = conv2d_ref(&f64s(&rounded(&x, dt)), &f64s(&w), Some(&f64s(&b)), xs, ws, stride, 1);
            assert_close(
                &format!("conv2d {v} {dt} chunked {xs:?} s{stride}"),
                &yv.to_vec().unwrap(),
                &want,
                1e-4,
                1e-5,
            );
        }
        // Backward by the adjoint identities <dx, v> = <dy, conv(v, w)> and
        // <dw, u> = <dy, conv(x, u)>, with the f64 reference on the right.
        let dy = rng.vec(want.len(), -1.0, 1.0);
        y.backward_with(&t(&dy, y.shape())).unwrap();
        let dot = |a: &[f32], b: &[f64]| a.iter().zip(b).map(|(p, q)| *p as f64 * q).sum::<f64>();
        let v = rng.vec(x.len(), -1.0, 1.0);
        let lhs = dot(&tx.grad().unwrap().to_vec().unwrap(), &f64s(&v));
        let rhs = dot(&dy, &conv2d_ref(&f64s(&v), &f64s(&w), None, xs, ws, stride, 1));
        assert!((lhs - rhs).abs() < 1e-3 * rhs.abs().max(1.0), "dx adjoint: {lhs} vs {rhs}");
        let uu = rng.vec(w.len(), -1.0, 1.0);
        let lhs = dot(&tw.grad().unwrap().to_vec().unwrap(), &f64s(&uu));
        let rhs = dot(&dy, &conv2d_ref(&f64s(&x), &f64s(&uu), None, xs, ws, stride, 1));
        assert!((lhs - rhs).abs() < 1e-3 * rhs.abs().max(1.0), "dw adjoint: {lhs} vs {rhs}");
        // The bias gradient: dy summed over images and pixels, more than a binding (two sums).
        let plane = dy.len() / (xs[0] * ws[0]);
        let db: Vec<f64> = (0..ws[0])
            .map(|c| (0..xs[0]).flat_map(|n| dy[(n * ws[0] + c) * plane..][..plane].iter()).map(|&v| v as f64).sum())
            .collect();
        assert_close(
            &format!("conv2d chunked {xs:?} s{stride} dbias"),
            &tb.grad().unwrap().to_vec().unwrap(),
            &db,
            1e-4,
            1e-5,
        );
        // The image in bf16 (autocast's input), read as stored by the chunked forward and
        // weight gradient: channel windows of 441 halves start inside a word on the 21x21 case.
        let xh = engine::Tensor::from_slice_as(&x, &xs, DType::BF16).unwrap();
        let xr = f64s(&rounded(&x, DType::BF16));
        let tw = param(&w, &ws);
        let y = xh.conv2d(&tw, Some(&t(&b, &[ws[0]])), stride, 1).unwrap();
        let want = conv2d_ref(&xr, &f64s(&w), Some(&f64s(&b)), xs, ws, stride, 1);
        assert_close(&format!("conv2d bf16 x chunked {xs:?} s{stride}"), &y.to_vec().unwrap(), &want, 1e-4, 1e-5);
        y.backward_with(&t(&dy, y.shape())).unwrap();
        let lhs = dot(&tw.grad().unwrap().to_vec().unwrap(), &f64s(&uu));
        let rhs = dot(&dy, &conv2d_ref(&xr, &f64s(&uu), None, xs, ws, stride, 1));
        assert!((lhs - rhs).abs() < 1e-3 * rhs.abs().max(1.0), "bf16 x dw adjoint: {lhs} vs {rhs}");
    }
}

#[test]
fn adamw_and_clipping_split_into_windows() {
    setup();
    let mut rng = Rng::new(8);
    let n = 5000;
    let p0 = rng.vec(n, -1.0, 1.0);
    let c = rng.vec(n, -1.0, 1.0);
    let p = param(&p0, &[n]);
    p.mul(&t(&c, &[n])).unwrap().sum_all().unwrap().backward().unwrap();
    // The gradient is c; its norm (a sum of squares over more than one binding) clips it to 1.
    let norm: f64 = c.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let got = engine::optim::clip_grad_norm(std::slice::from_ref(&p), 1.0).unwrap().item().unwrap() as f64;
    assert!((got - norm).abs() < 1e-5 * norm, "{got} vs {norm}");
    // Beside tensors that fit a binding (summed seven to a dispatch), one that does not is
    // summed alone into the same total.
    let (small, fits) = (rng.vec(100, -1.0, 1.0), rng.vec(2000, -1.0, 1.0));
    let three = [t(&small, &[100]), t(&c, &[n]), t(&fits, &[2000])];
    let got = engine::optim::GradClip::new(&three, 1.0, 1.0).unwrap().norm().unwrap().item().unwrap() as f64;
    let want = small.iter().chain(&c).chain(&fits).map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
    let g: Vec<f64> = c.iter().map(|&x| x as f64 / (norm + 1e-6)).collect();
    assert_close("clipped grad chunked", &p.grad().unwrap().to_vec().unwrap(), &g, 1e-7, 1e-5);
    let mut opt = engine::optim::AdamW::new(0.01);
    opt.step(std::slice::from_ref(&p)).unwrap();
    // Step 1 of AdamW: m_hat = g, v_hat = g^2, so p' = p (1 - lr wd) - lr g / (|g| + eps).
    let want: Vec<f64> =
        p0.iter().zip(&g).map(|(&x, gg)| x as f64 * (1.0 - 0.01 * 0.01) - 0.01 * gg / (gg.abs() + 1e-8)).collect();
    assert_close("AdamW chunked", &p.to_vec().unwrap(), &want, 1e-6, 1e-5);
}

#[test]
fn layout_copies_split_into_pieces() {
    setup();
    let mut rng = Rng::new(9);
    let (r, c) = (60, 50);
    let x = rng.vec(r * c, -1.0, 1.0);
    let got = t(&x, &[r, c]).transpose(0, 1).unwrap().to_vec().unwrap();
    let want: Vec<f64> = (0..r * c).map(|i| x[(i % r) * c + i / r] as f64).collect();
    assert_close("transpose chunked", &got, &want, 0.0, 0.0);
    let got = t(&x[..c], &[1, c]).expand(&[r, c]).unwrap().to_vec().unwrap();
    let want: Vec<f64> = (0..r * c).map(|i| x[i % c] as f64).collect();
    assert_close("expand chunked", &got, &want, 0.0, 0.0);
}

#[test]
fn embedding_table_larger_than_a_binding() {
    setup();
    let mut rng = Rng::new(10);
    let (v, d) = (700, 6); // 4200 floats: three row chunks
    let table = rng.vec(v * d, -1.0, 1.0);
    let ids = [699u32, 0, 350, 699, 341];
    let tt = param(&table, &[v, d]);
    let out = engine::ops::embedding::embedding(&tt, &ids).unwrap();
    let want: Vec<f64> =
        ids.iter().flat_map(|&i| table[i as usize * d..(i as usize + 1) * d].iter().map(|&x| x as f64)).collect();
    assert_close("embedding chunked", &out.to_vec().unwrap(), &want, 0.0, 0.0);
    out.backward_with(&engine::Tensor::ones(&[ids.len(), d]).unwrap()).unwrap();
    let grad = tt.grad().unwrap().to_vec().unwrap();
    let count = |row: usize| ids.iter().filter(|&&i| i as usize == row).count() as f32;
    for row in [0usize, 1, 341, 350, 699] {
        assert!(
            grad[row * d..(row + 1) * d].iter().all(|&g| g == count(row)),
            "row {row}: {:?}",
            &grad[row * d..(row + 1) * d]
        );
    }
}

#[test]
fn attention_splits_heads_forward_and_backward() {
    setup();
    let mut rng = Rng::new(11);
    // One head's 300 x 2 queries fit a binding, four heads do not: heads split 3 + 1.
    let (b, n, d) = (4, 300, 2);
    let q = rng.vec(b * n * d, -1.0, 1.0);
    let k = rng.vec(b * n * d, -1.0, 1.0);
    let v = rng.vec(b * n * d, -1.0, 1.0);
    let want = attention_ref(&f64s(&q), &f64s(&k), &f64s(&v), b, n, n, d, false, 0.5);
    let g = rng.vec(b * n * d, -1.0, 1.0);
    let (dq, dk, dv) = attention_backward_ref(&f64s(&q), &f64s(&k), &f64s(&v), &f64s(&g), b, n, n, d, 0.5);
    // The GEMM form also splits the queries: its score chunks must fit a binding (2 KiB of
    // floats here, so 6 queries x 300 keys per chunk). Under split-K (a GPU default, forced
    // here) its products go in runs summed into strided outputs, dK and dV accumulating over
    // the query chunks (beta 1).
    for (form, splits) in
        [(Strategy::Fused, None), (Strategy::Gemm, None), (Strategy::Gemm, Some(2)), (Strategy::Gemm, Some(3))]
    {
        engine::ops::gemm::force_k_splits(splits);
        let (tq, tk, tv) = (param(&q, &[b, n, d]), param(&k, &[b, n, d]), param(&v, &[b, n, d]));
        let o = attention_with(&tq, &tk, &tv, false, 0.5, Some(form)).unwrap();
        assert_close(&format!("attention {form:?} chunked"), &o.to_vec().unwrap(), &want, 1e-5, 1e-5);
        o.backward_with(&t(&g, &[b, n, d])).unwrap();
        engine::ops::gemm::force_k_splits(None);
        for (name, x, r) in [("dq", &tq, &dq), ("dk", &tk, &dk), ("dv", &tv, &dv)] {
            assert_close(
                &format!("attention {form:?} split-K {splits:?} {name} chunked"),
                &x.grad().unwrap().to_vec().unwrap(),
                r,
                1e-5,
                1e-4,
            );
        }
    }
}
