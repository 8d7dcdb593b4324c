//! Kernels at full Stable Diffusion 1.5 shapes, a sample of outputs checked against the CPU
//! reference (computing every output on the CPU would take minutes).

mod common;
use common::*;

#[test]
fn conv2d_320_to_320_3x3_on_64x64_latents() {
    let mut rng = Rng::new(59);
    let (ci, co, h, w) = (320usize, 320usize, 64usize, 64usize);
    let x = rng.vec(ci * h * w, -1.0, 1.0);
    let wt = rng.vec(co * ci * 9, -0.05, 0.05);
    let b = rng.vec(co, -1.0, 1.0);
    let t0 = std::time::Instant::now();
    let y = t(&x, &[1, ci, h, w]).conv2d(&t(&wt, &[co, ci, 3, 3]), Some(&t(&b, &[co])), 1, 1).unwrap();
    let got = y.to_vec().unwrap();
    eprintln!("conv2d [1,320,64,64] 3x3: {:.2} s (including compile)", t0.elapsed().as_secs_f64());
    assert_eq!(y.shape(), &[1, co, h, w]);
    for _ in 0..200 {
        let (o, oy, ox) = (rng.next_u64() as usize % co, rng.next_u64() as usize % h, rng.next_u64() as usize % w);
        let mut s = b[o] as f64;
        for c in 0..ci {
            for ky in 0..3 {
                for kx in 0..3 {
                    let (iy, ix) = (oy as isize + ky as isize - 1, ox as isize + kx as isize - 1);
                    if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize {
                        s += wt[((o * ci + c) * 3 + ky) * 3 + kx] as f64
                            * x[(c * h + iy as usize) * w + ix as usize] as f64;
                    }
                }
            }
        }
        let g = got[(o * h + oy) * w + ox] as f64;
        assert!((g - s).abs() < 1e-4 + 1e-5 * s.abs(), "y[{o},{oy},{ox}] = {g}, want {s}");
    }
}

#[test]
fn self_attention_4096_tokens_8_heads_of_40() {
    let mut rng = Rng::new(83);
    let (b, n, d) = (8usize, 4096usize, 40usize);
    let q = rng.vec(b * n * d, -1.0, 1.0);
    let k = rng.vec(b * n * d, -1.0, 1.0);
    let v = rng.vec(b * n * d, -1.0, 1.0);
    let scale = 1.0 / (d as f64).sqrt();
    let t0 = std::time::Instant::now();
    let o = engine::ops::attention::attention(
        &t(&q, &[b, n, d]),
        &t(&k, &[b, n, d]),
        &t(&v, &[b, n, d]),
        false,
        scale as f32,
    )
    .unwrap();
    let got = o.to_vec().unwrap();
    eprintln!("attention [8, 4096, 40]: {:.2} s (including compile)", t0.elapsed().as_secs_f64());
    for _ in 0..16 {
        let (bb, i) = (rng.next_u64() as usize % b, rng.next_u64() as usize % n);
        let qi = &q[(bb * n + i) * d..(bb * n + i + 1) * d];
        let s: Vec<f64> = (0..n)
            .map(|j| scale * (0..d).map(|x| qi[x] as f64 * k[(bb * n + j) * d + x] as f64).sum::<f64>())
            .collect();
        let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
        for x in 0..d {
            let want: f64 = (0..n).map(|j| (s[j] - m).exp() / z * v[(bb * n + j) * d + x] as f64).sum();
            let g = got[(bb * n + i) * d + x] as f64;
            assert!((g - want).abs() < 1e-5 + 1e-4 * want.abs(), "o[{bb},{i},{x}] = {g}, want {want}");
        }
    }
}
