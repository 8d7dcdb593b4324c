#!/usr/bin/env python3
"""PyTorch's (diffusers') time for the step `engine bench memory` times, on the same GPU.

    python tools/gpu/torch_sd15_step.py [--resolution 512] [--json torch-step.json] [setting ...]

The step: SD 1.5's U-Net (diffusers' UNet2DConditionModel with SD 1.5's config, random weights,
nothing downloaded), 1 instance + 1 class latent at resolution/8 with cached text states (a
frozen text encoder), MSE on each half summed, backward, gradient clipping at 1.0 and AdamW.
Settings, as diffusers' train_dreambooth.py runs them:

  f32        f32 everywhere, TF32 off (the engine's f32 kernels do not round to TF32)
  bf16       --mixed_precision bf16: autocast over f32 master weights, f32 gradients and AdamW
  bf16-ckpt  the same with --gradient_checkpointing

Attention is diffusers' default (torch's scaled_dot_product_attention: flash or memory-efficient
kernels). Two warm-up steps, then the median of `--reps` steps (torch.cuda.synchronize around
each); the peak is torch.cuda.max_memory_allocated over the timed steps. Rows are written in
`engine bench --json`'s format, so that BENCHMARKS.md can put both in one table.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel

# SD 1.5's unet/config.json, the fields that differ from UNet2DConditionModel's defaults.
SD15_UNET = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8)


def step_fn(unet, opt, x, t, ehs, noise, dtype):
    def step():
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            pred = unet(x, t, ehs).sample
        pred = pred.float()
        loss = F.mse_loss(pred[:1], noise[:1]) + F.mse_loss(pred[1:], noise[1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("settings", nargs="*", default=["f32", "bf16", "bf16-ckpt"])
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda"
    lat = args.resolution // 8
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, lat, lat, generator=g).to(dev)
    noise = torch.randn(2, 4, lat, lat, generator=g).to(dev)
    ehs = torch.randn(2, 77, 768, generator=g).to(dev)
    t = torch.tensor([100, 700], device=dev)
    rows = []
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    for name in args.settings:
        torch.manual_seed(1)
        unet = UNet2DConditionModel(**SD15_UNET).to(dev).train()
        if name.endswith("-ckpt"):
            unet.enable_gradient_checkpointing()
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-6)
        dtype = None if name.startswith("f32") else torch.bfloat16
        step = step_fn(unet, opt, x, t, ehs, noise, dtype)
        for _ in range(2):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        secs = statistics.median(times)
        peak = torch.cuda.max_memory_allocated() / 2**30
        n = sum(p.numel() for p in unet.parameters())
        print(f"torch step: {name:10} {secs * 1e3:9.1f} ms  (min {min(times) * 1e3:.1f})  peak {peak:6.2f} GiB", flush=True)
        rows.append({"kernel": f"torch step: {name}",
                     "shape": f"SD 1.5, {args.resolution} px, 1+1 images, {n / 1e6:.0f} M trained",
                     "seconds": secs, "gflops": None, "gbps": None, "peak_fraction": None,
                     "timer": "wall", "peak_gib": peak})
        del unet, opt, step
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
