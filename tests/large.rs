//! A real tensor over the adapter's per-binding limit (lavapipe: 128 MiB), as SD 1.5's CLIP
//! token embedding (145 MiB) and a 512x512 VAE activation (134 MiB) are.

mod common;
use common::*;
use engine::ops::loss::mse_loss;
use engine::Tensor;

#[test]
fn ops_on_a_tensor_larger_than_one_binding() {
    let ctx = engine::gpu::context().unwrap();
    let n = (ctx.max_binding as usize / 4) + 1_000_003; // just over the limit
    let shape = [n];
    let data: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32) * 1e-3).collect();
    let a = Tensor::from_slice(&data, &shape).unwrap();
    assert!(a.numel() as u64 * 4 > ctx.max_binding);
    let b = Tensor::full(&shape, 0.5).unwrap();
    let c = a.add(&b).unwrap().scale(2.0).unwrap();
    let got = c.to_vec().unwrap();
    for &i in &[0usize, 1, 999, n / 2, n - 2, n - 1] {
        let want = 2.0 * (data[i] + 0.5);
        assert!((got[i] - want).abs() < 1e-6, "element {i}: {} vs {want}", got[i]);
    }
    let s = c.sum_all().unwrap().item().unwrap() as f64;
    let want: f64 = data.iter().map(|&x| 2.0 * (x as f64 + 0.5)).sum();
    assert!((s - want).abs() < 1e-4 * want, "sum {s} vs {want}");
    let l = mse_loss(&a, &b).unwrap().item().unwrap() as f64;
    let want = data.iter().map(|&x| (x as f64 - 0.5).powi(2)).sum::<f64>() / n as f64;
    assert!((l - want).abs() < 1e-4 * want, "mse {l} vs {want}");
    drop((a, b, c));
    let _ = Rng::new(0);
}

#[test]
fn clip_sized_token_embedding_over_one_binding() {
    // SD 1.5's CLIP token embedding: 49408 x 768 floats = 145 MiB.
    let (v, d) = (49408usize, 768usize);
    let data: Vec<f32> = (0..v * d).map(|i| ((i / d) as f32) + (i % d) as f32 * 1e-4).collect();
    let table = Tensor::from_slice(&data, &[v, d]).unwrap().requires_grad_();
    let ids = [49406u32, 320, 1125, 49407, 49407, 0];
    let out = engine::ops::embedding::embedding(&table, &ids).unwrap();
    let got = out.to_vec().unwrap();
    for (j, &id) in ids.iter().enumerate() {
        for &k in &[0usize, 1, 767] {
            assert_eq!(got[j * d + k], data[id as usize * d + k], "row {j} (id {id}) col {k}");
        }
    }
    out.sum_all().unwrap().backward().unwrap();
    let g = table.grad().unwrap().narrow0(49407, 1).unwrap().to_vec().unwrap();
    assert!(g.iter().all(|&x| x == 2.0), "the repeated id 49407 must get 2: {:?}", &g[..4]);
}
