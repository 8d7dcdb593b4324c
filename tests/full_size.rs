//! The real Stable Diffusion 1.5 configuration (weights.toml [models.sd15]) with random weights:
//! a forward of each model at full size on whatever adapter is chosen, checking shapes and
//! finiteness. This proves that the binding limits, chunking and memory hold at SD's real sizes
//! (the VAE's 128-channel 512x512 activations are exactly one 128 MiB binding on lavapipe).
//!
//! Minutes on lavapipe, so ignored by default:
//!     cargo test --release --test full_size -- --ignored --nocapture --test-threads 1

mod common;

use std::time::Instant;

use engine::models::config::{ClipConfig, UNetConfig, VaeConfig};
use engine::models::single_file::builtin_config;
use engine::models::{AutoencoderKL, ClipTextModel, UNet2DConditionModel};
use engine::nn::{Loader, Source};
use engine::Tensor;

fn noise(n: usize, seed: u64) -> Vec<f32> {
    common::Rng::new(seed).vec(n, -1.0, 1.0)
}

fn report(what: &str, t0: Instant, params: usize) {
    let ctx = engine::gpu::context().unwrap();
    let s = ctx.pool.stats();
    eprintln!(
        "{what}: {:.1} s, {:.1} M parameters, GPU memory peak {:.2} GiB",
        t0.elapsed().as_secs_f64(),
        params as f64 / 1e6,
        s.peak_bytes as f64 / (1u64 << 30) as f64
    );
}

fn check(out: &Tensor, shape: &[usize]) {
    assert_eq!(out.shape(), shape);
    let v = out.to_vec().unwrap();
    assert!(v.iter().all(|x| x.is_finite()), "non-finite outputs");
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(max > 0.0, "all zeros");
}

fn reset() {
    let ctx = engine::gpu::context().unwrap();
    ctx.trim();
    ctx.pool.reset_peak();
}

#[test]
#[ignore = "SD 1.5 U-Net (860 M parameters) at 64x64 latents: about a minute on lavapipe with loading"]
fn sd15_unet_forward_at_64x64_latents() {
    let cfg: UNetConfig = builtin_config("sd15", "unet").unwrap();
    reset();
    let t0 = Instant::now();
    let vb = Loader::new(Source::Random { seed: 1 }, false);
    let unet = UNet2DConditionModel::new(&vb, &cfg).unwrap();
    let n: usize = vb.parameters().iter().map(|(_, p)| p.numel()).sum();
    assert!((859_000_000..861_000_000).contains(&n), "{n} parameters");
    report("unet load (random weights)", t0, n);
    let _g = engine::no_grad();
    let t0 = Instant::now();
    let x = Tensor::from_slice(&noise(4 * 64 * 64, 2), &[1, 4, 64, 64]).unwrap();
    let ctx = Tensor::from_slice(&noise(77 * 768, 3), &[1, 77, 768]).unwrap();
    let out = unet.forward(&x, &Tensor::from_slice(&[500.0], &[1]).unwrap(), &ctx).unwrap();
    check(&out, &[1, 4, 64, 64]);
    report("unet forward [1,4,64,64] x 77 tokens", t0, n);
}

#[test]
#[ignore = "SD 1.5 VAE at 512x512: about two minutes on lavapipe"]
fn sd15_vae_encode_and_decode_at_512x512() {
    let cfg: VaeConfig = builtin_config("sd15", "vae").unwrap();
    reset();
    let vb = Loader::new(Source::Random { seed: 4 }, false);
    let vae = AutoencoderKL::new(&vb, &cfg).unwrap();
    let n: usize = vb.parameters().iter().map(|(_, p)| p.numel()).sum();
    assert!((83_000_000..84_000_000).contains(&n), "{n} parameters");
    let _g = engine::no_grad();
    let t0 = Instant::now();
    let img = Tensor::from_slice(&noise(3 * 512 * 512, 5), &[1, 3, 512, 512]).unwrap();
    let dist = vae.encode(&img).unwrap();
    check(&dist.mean, &[1, 4, 64, 64]);
    assert!(dist.logvar.iter().all(|v| v.is_finite()));
    report("vae encode [1,3,512,512]", t0, n);
    reset();
    let t0 = Instant::now();
    let z = Tensor::from_slice(&noise(4 * 64 * 64, 6), &[1, 4, 64, 64]).unwrap();
    let out = vae.decode(&z).unwrap();
    check(&out, &[1, 3, 512, 512]);
    report("vae decode [1,4,64,64]", t0, n);
}

#[test]
#[ignore = "CLIP ViT-L/14 text tower (123 M parameters): loads 0.5 GB of random weights; seconds on lavapipe"]
fn sd15_clip_text_encoder_on_77_tokens() {
    let cfg: ClipConfig = builtin_config("sd15", "text_encoder").unwrap();
    reset();
    let vb = Loader::new(Source::Random { seed: 7 }, false);
    let clip = ClipTextModel::new(&vb, &cfg).unwrap();
    let n: usize = vb.parameters().iter().map(|(_, p)| p.numel()).sum();
    assert!((123_000_000..124_000_000).contains(&n), "{n} parameters");
    let _g = engine::no_grad();
    let t0 = Instant::now();
    let tok = engine::models::ClipTokenizer::shipped().unwrap();
    let ids = vec![tok.encode("a photo of sks dog").unwrap().ids, tok.encode("").unwrap().ids];
    let out = clip.forward(&ids).unwrap();
    check(&out, &[2, 77, 768]);
    report("clip forward [2,77]", t0, n);
}
