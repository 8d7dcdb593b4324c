//! The kernels against PyTorch itself: fixtures written by tools/make_kernel_fixtures.py
//! (torch 2.5.1, CPU, float32) and committed under tests/fixtures/kernels/. No Python needed.

mod common;
use common::*;
use engine::ops::attention::attention;
use engine::optim::{clip_grad_norm, AdamW};
use std::collections::HashMap;

struct Fixture {
    tensors: HashMap<String, (Vec<f32>, Vec<usize>)>,
    meta: HashMap<String, String>,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let path = format!("{}/tests/fixtures/kernels/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(k, v)| (k, (bytemuck::pod_collect_to_vec::<u8, f32>(v.data()), v.shape().to_vec())))
            .collect();
        Fixture { tensors, meta: header.metadata().clone().unwrap_or_default() }
    }
    fn data(&self, k: &str) -> &[f32] {
        &self.tensors[k].0
    }
    fn shape(&self, k: &str) -> &[usize] {
        &self.tensors[k].1
    }
    fn param(&self, k: &str) -> engine::Tensor {
        param(self.data(k), self.shape(k))
    }
    fn t(&self, k: &str) -> engine::Tensor {
        t(self.data(k), self.shape(k))
    }
    fn want(&self, k: &str) -> Vec<f64> {
        f64s(self.data(k))
    }
    fn meta<T: std::str::FromStr>(&self, k: &str) -> T {
        self.meta[k].parse().unwrap_or_else(|_| panic!("metadata {k}"))
    }
}

fn check(name: &str, got: &engine::Tensor, f: &Fixture, k: &str, tol: f64) {
    assert_eq!(got.shape(), f.shape(k), "{name} {k} shape");
    assert_close(&format!("{name}: {k} vs torch"), &got.to_vec().unwrap(), &f.want(k), tol, tol);
}

#[test]
fn conv2d_matches_torch() {
    for name in ["conv2d_s1p1", "conv2d_s2p1"] {
        let f = Fixture::load(name);
        let (x, w, b) = (f.param("x"), f.param("w"), f.param("b"));
        let y = x.conv2d(&w, Some(&b), f.meta("stride"), f.meta("padding")).unwrap();
        check(name, &y, &f, "y", 1e-5);
        y.backward_with(&f.t("dy")).unwrap();
        check(name, &x.grad().unwrap(), &f, "dx", 1e-4);
        check(name, &w.grad().unwrap(), &f, "dw", 1e-4);
        check(name, &b.grad().unwrap(), &f, "db", 1e-4);
    }
}

#[test]
fn group_norm_matches_torch() {
    let f = Fixture::load("group_norm");
    let (x, g, b) = (f.param("x"), f.param("gamma"), f.param("beta"));
    let y = x.group_norm(f.meta("groups"), &g, &b, f.meta("eps")).unwrap();
    check("group_norm", &y, &f, "y", 1e-5);
    y.backward_with(&f.t("dy")).unwrap();
    check("group_norm", &x.grad().unwrap(), &f, "dx", 1e-4);
    check("group_norm", &g.grad().unwrap(), &f, "dgamma", 1e-4);
    check("group_norm", &b.grad().unwrap(), &f, "dbeta", 1e-4);
}

#[test]
fn attention_with_and_without_causal_mask_matches_torch() {
    for name in ["attention", "attention_causal"] {
        let f = Fixture::load(name);
        let (q, k, v) = (f.param("q"), f.param("k"), f.param("v"));
        let causal = f.meta::<u32>("causal") == 1;
        let o = attention(&q, &k, &v, causal, f.meta("scale")).unwrap();
        check(name, &o, &f, "o", 1e-5);
        o.backward_with(&f.t("do")).unwrap();
        check(name, &q.grad().unwrap(), &f, "dq", 1e-4);
        check(name, &k.grad().unwrap(), &f, "dk", 1e-4);
        check(name, &v.grad().unwrap(), &f, "dv", 1e-4);
    }
}

#[test]
fn adamw_three_steps_match_torch() {
    let f = Fixture::load("adamw");
    let p = f.param("p0");
    let mut opt = AdamW::new(f.meta("lr"));
    opt.beta1 = f.meta("beta1");
    opt.beta2 = f.meta("beta2");
    opt.eps = f.meta("eps");
    opt.weight_decay = f.meta("weight_decay");
    // The loss sum(p * g) has gradient g.
    for step in 1..=3 {
        p.zero_grad();
        p.mul(&f.t(&format!("g{step}"))).unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(std::slice::from_ref(&p)).unwrap();
        check("adamw", &p, &f, &format!("p{step}"), 1e-6);
    }
    let Some(engine::optim::AdamState { moments: engine::optim::Moments::F32 { exp_avg, exp_avg_sq }, .. }) =
        opt.state(&p)
    else {
        panic!("AdamW keeps f32 moments")
    };
    check("adamw", exp_avg, &f, "exp_avg", 1e-6);
    check("adamw", exp_avg_sq, &f, "exp_avg_sq", 1e-6);
}

#[test]
fn clip_grad_norm_matches_torch() {
    let f = Fixture::load("clip_grad_norm");
    let a = param(&[0.0; 30], &[30]);
    let b = param(&[0.0; 20], &[4, 5]);
    a.mul(&f.t("ga"))
        .unwrap()
        .sum_all()
        .unwrap()
        .add(&b.mul(&f.t("gb")).unwrap().sum_all().unwrap())
        .unwrap()
        .backward()
        .unwrap();
    let norm = clip_grad_norm(&[a.clone(), b.clone()], f.meta("max_norm")).unwrap();
    check("clip", &norm, &f, "norm", 1e-6);
    check("clip", &a.grad().unwrap(), &f, "clipped_a", 1e-6);
    check("clip", &b.grad().unwrap(), &f, "clipped_b", 1e-6);
}
