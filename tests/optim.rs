//! AdamW and gradient clipping against plain-Rust (f64) transcriptions of torch's formulas.

mod common;
use common::*;
use engine::optim::{clip_grad_norm, AdamW};

/// torch.optim.AdamW's single-tensor update, in f64.
#[allow(clippy::too_many_arguments)]
fn adamw_ref(
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    t: i32,
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
) {
    let bc1 = 1.0 - b1.powi(t);
    let bc2 = 1.0 - b2.powi(t);
    for i in 0..p.len() {
        p[i] *= 1.0 - lr * wd;
        m[i] += (1.0 - b1) * (g[i] - m[i]);
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        let denom = v[i].sqrt() / bc2.sqrt() + eps;
        p[i] -= lr / bc1 * m[i] / denom;
    }
}

fn adamw_three_steps(n: usize) {
    let mut rng = Rng::new(n as u64);
    let p0 = rng.vec(n, -1.0, 1.0);
    let c = rng.vec(n, -1.0, 1.0);
    let frozen = param(&[1.0, 2.0], &[2]); // no gradient: skipped
    let p = param(&p0, &[n]);
    let tc = t(&c, &[n]);
    let mut opt = AdamW::new(0.05);
    opt.weight_decay = 0.1;
    let (mut rp, mut rm, mut rv) = (f64s(&p0), vec![0.0; n], vec![0.0; n]);
    for step in 1..=3 {
        p.zero_grad();
        // loss = sum(c * p^2): grad = 2 c p, which changes with p.
        p.square().unwrap().mul(&tc).unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(&[p.clone(), frozen.clone()]).unwrap();
        let g: Vec<f64> = rp.iter().zip(&c).map(|(x, cc)| 2.0 * *cc as f64 * x).collect();
        adamw_ref(&mut rp, &g, &mut rm, &mut rv, step, 0.05, 0.9, 0.999, 1e-8, 0.1);
        assert_close(&format!("AdamW n={n} step {step} params"), &p.to_vec().unwrap(), &rp, 1e-6, 1e-5);
        let st = opt.state(&p).unwrap();
        assert_eq!(st.step, step as u64);
        assert_close(&format!("AdamW n={n} step {step} exp_avg"), &st.exp_avg.to_vec().unwrap(), &rm, 1e-7, 1e-5);
        assert_close(&format!("AdamW n={n} step {step} exp_avg_sq"), &st.exp_avg_sq.to_vec().unwrap(), &rv, 1e-9, 1e-5);
    }
    assert!(opt.state(&frozen).is_none());
    assert_eq!(frozen.to_vec().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn adamw_matches_torch_formula_over_three_steps() {
    adamw_three_steps(1);
    adamw_three_steps(1000);
}

#[test]
fn adamw_rejects_a_tensor_that_is_not_a_parameter() {
    let x = t(&[1.0], &[1]);
    let e = AdamW::new(1e-3).step(&[x]).unwrap_err().to_string();
    assert!(e.contains("not a parameter"), "{e}");
}

#[test]
fn clip_grad_norm_scales_to_max_norm_and_reports_the_norm() {
    let mut rng = Rng::new(61);
    let (ca, cb) = (rng.vec(300, -1.0, 1.0), rng.vec(7, -1.0, 1.0));
    let norm: f64 = ca.iter().chain(&cb).map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    for max_norm in [0.5f32, 1000.0] {
        let (a, b) = (param(&rng.vec(300, -1.0, 1.0), &[300]), param(&rng.vec(7, -1.0, 1.0), &[7]));
        let la = a.mul(&t(&ca, &[300])).unwrap().sum_all().unwrap();
        let lb = b.mul(&t(&cb, &[7])).unwrap().sum_all().unwrap();
        la.add(&lb).unwrap().backward().unwrap();
        let got = clip_grad_norm(&[a.clone(), b.clone()], max_norm).unwrap().item().unwrap() as f64;
        assert!((got - norm).abs() < 1e-5 * norm, "norm {got} vs {norm}");
        let coef = (max_norm as f64 / (norm + 1e-6)).min(1.0);
        let want: Vec<f64> = ca.iter().map(|&x| x as f64 * coef).collect();
        assert_close(&format!("clipped a (max {max_norm})"), &a.grad().unwrap().to_vec().unwrap(), &want, 1e-7, 1e-5);
        let want: Vec<f64> = cb.iter().map(|&x| x as f64 * coef).collect();
        assert_close(&format!("clipped b (max {max_norm})"), &b.grad().unwrap().to_vec().unwrap(), &want, 1e-7, 1e-5);
    }
}

#[test]
fn clip_grad_norm_scales_shared_gradient_storage_once() {
    // d(sum(a + b)) hands one gradient tensor to both a and b.
    let (a, b) = (param(&[1.0, 2.0], &[2]), param(&[3.0, 4.0], &[2]));
    a.add(&b).unwrap().sum_all().unwrap().backward().unwrap();
    let norm = clip_grad_norm(&[a.clone(), b.clone()], 1.0).unwrap().item().unwrap();
    // The norm counts both parameters' gradients, and each ends up scaled exactly once.
    assert!(norm > 0.0);
    let ga = a.grad().unwrap().to_vec().unwrap();
    let gb = b.grad().unwrap().to_vec().unwrap();
    assert_close("a", &ga, &[0.5, 0.5], 1e-6, 1e-5);
    assert_close("b", &gb, &[0.5, 0.5], 1e-6, 1e-5);
}
