#!/usr/bin/env python3
"""The rows of `engine bench` measured with PyTorch on the same machine (CPU here, CUDA where
there is one), written in the same JSON (kernel, shape, seconds, gflops/gbps, peak_fraction), so
that BENCHMARKS.md can put engine and PyTorch side by side from one sitting.

    python tools/bench_torch.py [--device cpu|cuda] [--json torch.json] [suite ...]

Suites: gemm conv norm attention adamw e2e (default: all). Timing: one warm-up, then the median
of several runs (torch.cuda.synchronize around each on CUDA). peak_fraction is null: PyTorch has
no probe of its own; compare seconds.
"""
import argparse
import json
import os
import statistics
import time
import tomllib

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(fn, reps, dev):
    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()
    fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def row(kernel, shape, secs, flops=None, bytes_=None):
    return {"kernel": kernel, "shape": shape, "seconds": secs,
            "gflops": None if flops is None else flops / secs * 1e-9,
            "gbps": None if bytes_ is None else bytes_ / secs * 1e-9, "peak_fraction": None, "timer": "wall"}


def gemm(dev):
    rows = []
    g = torch.Generator().manual_seed(0)
    def mk(*s):
        return (torch.rand(*s, generator=g) - 0.5).to(dev)
    for n in [256, 512, 1024, 2048]:
        a, b = mk(n, n), mk(n, n)
        s = timed(lambda: a @ b, 5, dev)
        rows.append(row("gemm", f"[1,{n},{n}]x[1,{n},{n}]", s, 2.0 * n ** 3))
    # engine bench's GPU rows (issue 17's targets): f32 4096³, and f16 products (cuBLAS's tensor
    # cores, the kernel the f16 cooperative-matrix GEMM is set against) at 1024³ and 4096³.
    if dev == "cuda":
        a, b = mk(4096, 4096), mk(4096, 4096)
        rows.append(row("gemm", "[1,4096,4096]x[1,4096,4096]", timed(lambda: a @ b, 5, dev), 2.0 * 4096 ** 3))
        for n in [1024, 4096]:
            a, b = mk(n, n).half(), mk(n, n).half()
            s = timed(lambda: a @ b, 10, dev)
            rows.append(row("gemm_f16", f"[1,{n},{n}]x[1,{n},{n}]", s, 2.0 * n ** 3))
    for name, m, n, k in [("linear_attn_proj", 4096, 320, 320), ("linear_geglu_proj", 4096, 2560, 320),
                          ("linear_ff_out", 4096, 320, 1280), ("linear_cross_kv", 77, 320, 768)]:
        x, w = mk(m, k), mk(n, k)
        s = timed(lambda: F.linear(x, w), 5, dev)
        rows.append(row(name, f"[1,{m},{k}]x[1,{n},{k}]ᵀ", s, 2.0 * m * n * k))
    q, kk = mk(8, 1024, 40), mk(8, 1024, 40)
    s = timed(lambda: q @ kk.transpose(1, 2), 5, dev)
    rows.append(row("gemm_attn_scores", "[8,1024,40]x[8,1024,40]ᵀ", s, 2.0 * 8 * 1024 * 1024 * 40))
    p, v = mk(8, 1024, 1024), mk(8, 1024, 40)
    s = timed(lambda: p @ v, 5, dev)
    rows.append(row("gemm_attn_values", "[8,1024,1024]x[8,1024,40]", s, 2.0 * 8 * 1024 * 1024 * 40))
    return rows


def conv(dev):
    rows = []
    for c, h in [(320, 64), (640, 32), (1280, 16), (1280, 8)]:
        x = torch.rand(1, c, h, h, device=dev) - 0.5
        w = (torch.rand(c, c, 3, 3, device=dev) - 0.5) * 0.05
        dy = torch.rand(1, c, h, h, device=dev) - 0.5
        flops = 2.0 * c * c * 9 * h * h
        shape = f"[1,{c},{h},{h}] {c}->{c} 3x3"
        reps = 3 if flops > 4e9 else 5
        rows.append(row("conv2d_fwd", shape, timed(lambda: F.conv2d(x, w, padding=1), reps, dev), flops))
        s = timed(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, padding=1), reps, dev)
        rows.append(row("conv2d_bwd_input", shape, s, flops))
        s = timed(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, padding=1), reps, dev)
        rows.append(row("conv2d_bwd_weight", shape, s, flops))
    return rows


def norm(dev):
    rows = []
    for c, h in [(320, 64), (640, 32), (1280, 16)]:
        x = torch.rand(1, c, h, h, device=dev)
        g, b = torch.ones(c, device=dev), torch.zeros(c, device=dev)
        s = timed(lambda: F.group_norm(x, 32, g, b, 1e-5), 5, dev)
        rows.append(row("group_norm", f"[1,{c},{h},{h}] 32 groups", s, bytes_=3.0 * 4 * x.numel()))
    return rows


def attention(dev):
    rows = []
    for nq, nk, kind in [(1024, 1024, "self"), (4096, 4096, "self"), (4096, 77, "cross")]:
        b, d = 8, 40
        q, k, v = (torch.rand(b, n, d, device=dev) - 0.5 for n in (nq, nk, nk))
        flops = 4.0 * b * nq * nk * d
        shape = f"[{b},{nq},{d}] x [{b},{nk},{d}] {kind}"
        reps = 2 if flops > 1e10 else 3
        fwd = timed(lambda: F.scaled_dot_product_attention(q, k, v), reps, dev)
        rows.append(row("attention_fwd", shape, fwd, flops))
        dout = torch.rand(b, nq, d, device=dev)
        def both():
            qi, ki, vi = (t.detach().requires_grad_() for t in (q, k, v))
            F.scaled_dot_product_attention(qi, ki, vi).backward(dout)
        rows.append(row("attention_bwd", shape, max(timed(both, reps, dev) - fwd, 1e-9), 2 * flops))
    return rows


def adamw(dev):
    n = 100_000_000
    p = torch.nn.Parameter(torch.zeros(n, device=dev))
    p.grad = torch.ones(n, device=dev)
    opt = torch.optim.AdamW([p], lr=1e-4)
    s = timed(opt.step, 3, dev)
    return [row("adamw", f"{n} params", s, bytes_=28.0 * n)]


def e2e(dev):
    from diffusers import UNet2DConditionModel
    with open(os.path.join(HERE, "..", "weights.toml"), "rb") as f:
        models = tomllib.load(f)["models"]
    tiny = dict(models["tiny"]["unet"])
    mid = dict(models["sd15"]["unet"], block_out_channels=[160, 320, 640, 640])
    rows = []
    for name, cfg, lat in [("tiny", tiny, 8), ("mid", mid, 32)]:
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**cfg).to(dev)
        n = sum(p.numel() for p in unet.parameters())
        x = torch.randn(2, 4, lat, lat, device=dev)
        noise = torch.randn(2, 4, lat, lat, device=dev)
        ctx = torch.randn(2, 77, cfg["cross_attention_dim"], device=dev)
        t = torch.tensor([100.0, 700.0], device=dev)
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-6)
        reps = 2 if name == "mid" else 5

        def step():
            pred = unet(x, t, ctx).sample
            loss = F.mse_loss(pred[:1], noise[:1]) + F.mse_loss(pred[1:], noise[1:])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
        shape = f"U-Net {n / 1e6:.1f} M params, batch 2 x 4x{lat}x{lat}"
        rows.append(row(f"train_step_{name}", shape, timed(step, reps, dev)))

        def sample():
            with torch.no_grad():
                x1 = x[:1]
                e = unet(torch.cat([x1, x1]), t[:1].expand(2), ctx).sample
                eu, ec = e.chunk(2)
                return x1 * 0.99 + (eu + 7.5 * (ec - eu)) * 0.01
        rows.append(row(f"sample_step_{name}", shape.replace("batch 2", "guided, batch 2"), timed(sample, reps, dev)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json")
    ap.add_argument("suites", nargs="*")
    a = ap.parse_args()
    # f32 means f32: cuDNN would round convolutions' inputs to TF32 by default.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    suites = {"gemm": gemm, "conv": conv, "norm": norm, "attention": attention, "adamw": adamw, "e2e": e2e}
    rows = []
    print(f"torch {torch.__version__} on {a.device} ({torch.get_num_threads()} threads)")
    for name, fn in suites.items():
        if a.suites and name not in a.suites:
            continue
        for r in fn(a.device):
            rate = f"{r['gflops']:.2f} GFLOP/s" if r["gflops"] else (f"{r['gbps']:.2f} GB/s" if r["gbps"] else "")
            print(f"{r['kernel']:<18} {r['shape']:<42} {r['seconds'] * 1e3:10.3f} ms  {rate}", flush=True)
            rows.append(r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
