#!/usr/bin/env python3
"""Writes PyTorch reference fixtures for the engine's kernels (tests/fixtures/kernels/).

Each fixture is a small safetensors file with the inputs, the outputs and the gradients of one
op, computed by PyTorch itself on the CPU in float32 (the engine's precision). `cargo test`
(tests/torch_fixtures.rs) checks the engine against them without needing Python.

    python3 -m venv venv && venv/bin/pip install -r tools/requirements.txt
    venv/bin/python tools/make_kernel_fixtures.py

Deterministic: fixed seeds, CPU only; rerunning rewrites identical files.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "kernels")


def save_file(tensors, path, metadata):
    """The safetensors format with sorted keys, so that a rerun writes identical bytes
    (safetensors' own writer orders the metadata by hash)."""
    header, blobs, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def save(name, tensors, **meta):
    os.makedirs(OUT, exist_ok=True)
    tensors = {k: v.detach().contiguous().to(torch.float32) for k, v in tensors.items()}
    meta = {k: str(v) for k, v in meta.items()}
    meta["torch"] = torch.__version__.split("+")[0]
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), meta)
    print("wrote", name, {k: list(v.shape) for k, v in tensors.items()})


def rand(g, *shape, scale=1.0):
    return (torch.rand(*shape, generator=g, dtype=torch.float32) * 2 - 1) * scale


def conv2d(g, name, xs, ws, stride, padding):
    x = rand(g, *xs).requires_grad_()
    w = rand(g, *ws, scale=0.5).requires_grad_()
    b = rand(g, ws[0]).requires_grad_()
    y = F.conv2d(x, w, b, stride=stride, padding=padding)
    dy = rand(g, *y.shape)
    y.backward(dy)
    save(name, dict(x=x, w=w, b=b, y=y, dy=dy, dx=x.grad, dw=w.grad, db=b.grad), stride=stride, padding=padding)


def group_norm(g):
    x = rand(g, 2, 8, 5, 5, scale=2.0).requires_grad_()
    gamma = (1 + rand(g, 8, scale=0.5)).requires_grad_()
    beta = rand(g, 8, scale=0.5).requires_grad_()
    y = F.group_norm(x, 4, gamma, beta, eps=1e-6)
    dy = rand(g, *y.shape)
    y.backward(dy)
    save("group_norm", dict(x=x, gamma=gamma, beta=beta, y=y, dy=dy, dx=x.grad, dgamma=gamma.grad, dbeta=beta.grad),
         groups=4, eps=1e-6)


def attention(g, name, b, nq, nk, d, causal):
    q = rand(g, b, nq, d).requires_grad_()
    k = rand(g, b, nk, d).requires_grad_()
    v = rand(g, b, nk, d).requires_grad_()
    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # scale 1/sqrt(d)
    do = rand(g, *o.shape)
    o.backward(do)
    save(name, dict(q=q, k=k, v=v, o=o, do=do, dq=q.grad, dk=k.grad, dv=v.grad), causal=int(causal),
         scale=1 / math.sqrt(d))


def adamw(g):
    p = rand(g, 50).requires_grad_()
    p0 = p.detach().clone()
    opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)
    out = dict(p0=p0)
    for step in (1, 2, 3):
        grad = rand(g, 50)
        out[f"g{step}"] = grad
        p.grad = grad.clone()
        opt.step()
        out[f"p{step}"] = p.detach().clone()
    st = opt.state[p]
    out["exp_avg"] = st["exp_avg"]
    out["exp_avg_sq"] = st["exp_avg_sq"]
    save("adamw", out, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2)


def clip(g):
    a = torch.zeros(30, requires_grad=True)
    b = torch.zeros(4, 5, requires_grad=True)
    a.grad, b.grad = rand(g, 30), rand(g, 4, 5)
    ga, gb = a.grad.clone(), b.grad.clone()
    norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    save("clip_grad_norm", dict(ga=ga, gb=gb, clipped_a=a.grad, clipped_b=b.grad, norm=norm.reshape(1)), max_norm=1.0)


def main():
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(20261127)
    conv2d(g, "conv2d_s1p1", (2, 3, 6, 5), (4, 3, 3, 3), 1, 1)
    conv2d(g, "conv2d_s2p1", (1, 5, 7, 7), (3, 5, 3, 3), 2, 1)
    group_norm(g)
    attention(g, "attention", 2, 37, 21, 8, False)
    attention(g, "attention_causal", 3, 13, 13, 8, True)
    adamw(g)
    clip(g)


if __name__ == "__main__":
    main()
