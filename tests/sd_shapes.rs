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
