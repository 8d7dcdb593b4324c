#!/usr/bin/env python3
"""Trains SD 1.x's architecture at builtin:tiny's size on the emoji dataset (issue 16).

    python tools/emoji_dataset.py --out target/emoji
    python tools/train_emoji_model.py --data target/emoji --out target/emoji-model \\
        [--vae-steps N] [--unet-steps N] [--threads 2]

The shipped `builtin:emoji` (assets/emoji/, see its README.md) is
`--vae-steps 800 --unet-steps 12000 --batch 32 --threads 2 --install assets/emoji`: 11 + about
50 minutes on this 2-core machine (torch 2.15 CPU, 2026-12-03) with nothing else running. Under
contention torch's threads spin (a build beside it made U-Net steps 4x slower): pause it
(kill -STOP / -CONT) or use --threads 1 if something must run beside it. Parameters: VAE 0.98 M,
U-Net 1.49 M, text encoder 3.27 M (3.16 M of it the token embedding).

Stages, each with fixed seeds (torch CPU, deterministic algorithms):
  1. VAE (weights.toml's [models.tiny.vae]: factor 8, 64 px -> 8x8x4 latents): L2 reconstruction
     + 1e-6 KL, AdamW.
  2. The latent scaling factor: 1 / std of the dataset's latent means (SD's recipe; 0.18215 for
     SD's own VAE).
  3. U-Net ([models.tiny.unet]) and CLIP text encoder ([models.tiny.text_encoder], CLIP's real
     vocabulary and tokenizer) trained together on epsilon-prediction MSE (DDPM scaled_linear,
     1000 steps), 10% of captions dropped to "" so classifier-free guidance has an unconditional
     model, AdamW with cosine decay.
The result is saved as a diffusers folder in float16 with the dataset's ATTRIBUTION.md.
"""
import argparse
import hashlib
import json
import os
import shutil
import time
import tomllib

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer


def tiny_configs(root):
    with open(os.path.join(root, "weights.toml"), "rb") as f:
        tiny = tomllib.load(f)["models"]["tiny"]
    return tiny["unet"], tiny["vae"], tiny["text_encoder"], tiny["scheduler"]


def train_vae(vae, images, steps, batch, lr, gen, log):
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    vae.train()
    for step in range(steps):
        idx = torch.randint(0, len(images), (batch,), generator=gen)
        x = images[idx]
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
        rec = vae.decode(z).sample
        loss = F.mse_loss(rec, x) + 1e-6 * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"vae step {step + 1}/{steps} loss {loss.item():.5f}")
    vae.eval()


@torch.no_grad()
def latent_means(vae, images, batch=256):
    return torch.cat([vae.encode(images[i:i + batch]).latent_dist.mean for i in range(0, len(images), batch)])


def train_unet(unet, text_encoder, latents, ids, empty_ids, steps, batch, lr, gen, log):
    noise_sched = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                beta_schedule="scaled_linear")
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    unet.train()
    text_encoder.train()
    for step in range(steps):
        idx = torch.randint(0, len(latents), (batch,), generator=gen)
        x0 = latents[idx]
        tok = ids[idx].clone()
        drop = torch.rand(batch, generator=gen) < 0.1
        tok[drop] = empty_ids
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (batch,), generator=gen)
        noisy = noise_sched.add_noise(x0, noise, t)
        ehs = text_encoder(tok)[0]
        pred = unet(noisy, t, ehs).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"unet step {step + 1}/{steps} loss {loss.item():.5f}")
    unet.eval()
    text_encoder.eval()


@torch.no_grad()
def preview(pipe, path, log):
    """A grid to look at: rows are prompts, columns seeds (DDIM 25 steps, guidance 5, f32)."""
    from PIL import Image
    prompts = ["an emoji of a dog face, google style", "an emoji of a dog, twitter style",
               "an emoji of a red apple, google style", "an emoji of a cat face, twitter style",
               "an emoji of a red heart, google style"]
    rows = []
    for p in prompts:
        g = torch.Generator().manual_seed(0)
        out = pipe(p, num_images_per_prompt=4, num_inference_steps=25, guidance_scale=5.0, generator=g,
                   output_type="np", height=64, width=64).images
        rows.append(np.concatenate(list(out), axis=1))
    grid = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).round().astype(np.uint8)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)
    log(f"preview {path}: rows {prompts}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..")
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(root, "target", "emoji"))
    ap.add_argument("--out", default=os.path.join(root, "target", "emoji-model"))
    ap.add_argument("--tokenizer", default=os.path.join(root, "..", "shared", "tokenizer"))
    ap.add_argument("--vae-steps", type=int, default=4000)
    ap.add_argument("--unet-steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--install", default=None,
                    help="also copy the files the engine embeds into this folder (assets/emoji)")
    ap.add_argument("--vae-dir", default=None,
                    help="where stage 1 saves the trained VAE; if it already holds one (and --vae-steps "
                         "matches what it was trained with), stage 1 is skipped and it is loaded")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.1f} s] {msg}", flush=True)

    images = np.load(os.path.join(args.data, "emoji64.npz"))["images"]
    captions = [c["caption"] for c in json.load(open(os.path.join(args.data, "captions.json")))]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    ucfg, vcfg, ccfg, scfg = tiny_configs(root)
    tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer)
    ids = tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    empty = tokenizer([""], padding="max_length", max_length=77, return_tensors="pt").input_ids[0]
    log(f"{len(captions)} images, {len(set(captions))} captions")

    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    vae_dir = args.vae_dir or os.path.join(args.out + "-vae", f"steps{args.vae_steps}-batch{args.batch}")
    if os.path.exists(os.path.join(vae_dir, "config.json")):
        vae = AutoencoderKL.from_pretrained(vae_dir).float().eval()
        log(f"VAE loaded from {vae_dir} (stage 1 skipped)")
        # The generator's state after stage 1 depends on stage 1's draws: advance it the same way.
        for _ in range(args.vae_steps):
            torch.randint(0, len(x), (args.batch,), generator=gen)
            torch.randn((args.batch, vcfg["latent_channels"], 8, 8), generator=gen)
    else:
        vae = AutoencoderKL(in_channels=3, out_channels=3, **{k: v for k, v in vcfg.items() if k != "scaling_factor"})
        train_vae(vae, x, args.vae_steps, args.batch, 1e-3, gen, log)
        vae.save_pretrained(vae_dir, safe_serialization=True)
        log(f"VAE saved to {vae_dir}")
    means = latent_means(vae, x)
    scaling = float(1.0 / means.std())
    vae.register_to_config(scaling_factor=scaling)
    log(f"latent std {means.std().item():.4f}: scaling_factor {scaling:.5f}")

    torch.manual_seed(args.seed + 1)
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **ucfg)
    text_encoder = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in ccfg.items() if k != "architectures"}))
    train_unet(unet, text_encoder, means * scaling, ids, empty, args.unet_steps, args.batch, 1e-3, gen, log)

    scheduler = DDIMScheduler(**{k: v for k, v in scfg.items() if not k.startswith("_")})
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    # With --vae-dir nothing has been written beside --out yet: make its folder.
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    preview(pipe, os.path.join(args.out + "-preview.png"), log)
    pipe.to(torch.float16)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    pipe.save_pretrained(args.out, safe_serialization=True)
    # A VAE loaded through --vae-dir records where it came from; the shipped config does not.
    vae_config = os.path.join(args.out, "vae", "config.json")
    with open(vae_config) as f:
        cfg = json.load(f)
    if cfg.pop("_name_or_path", None) is not None:
        with open(vae_config, "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
    for name in ["vocab.json", "merges.txt"]:
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.out, "tokenizer", name))
    fast = os.path.join(args.out, "tokenizer", "tokenizer.json")
    if os.path.exists(fast):
        os.remove(fast)
    shutil.copyfile(os.path.join(args.data, "ATTRIBUTION.md"), os.path.join(args.out, "ATTRIBUTION.md"))
    log(f"saved {args.out}")
    for rel in SHIPPED:
        if rel.endswith(".safetensors"):
            with open(os.path.join(args.out, rel), "rb") as f:
                log(f"sha256 {hashlib.sha256(f.read()).hexdigest()}  {rel}")
    if args.install:
        install(args.out, args.install, log)


# What the engine embeds (src/models/emoji.rs): the tokenizer is the engine's own copy of
# CLIP's vocabulary, so it is not shipped twice.
SHIPPED = ["model_index.json", "ATTRIBUTION.md", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
           "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
           "text_encoder/model.safetensors", "scheduler/scheduler_config.json"]


def install(src, dst, log):
    """Copies the shipped files of the saved folder `src` over `dst` (assets/emoji)."""
    for rel in SHIPPED:
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(src, rel), os.path.join(dst, rel))
    log(f"installed {len(SHIPPED)} files into {dst}")


if __name__ == "__main__":
    main()
