#!/usr/bin/env python3
"""Loads an `engine train` output folder with diffusers' StableDiffusionPipeline and writes the
U-Net's output on fixed inputs, so that tests/train.rs can compare it with the engine's.

    python tools/check_diffusers_load.py OUTPUT_DIR RESULT.safetensors
"""
import sys

import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file

out, result = sys.argv[1], sys.argv[2]
pipe = StableDiffusionPipeline.from_pretrained(out, safety_checker=None, requires_safety_checker=False)
unet = pipe.unet.float().eval()
# The text encoder and tokenizer load too (a pipeline that cannot encode a prompt is no use).
ids = pipe.tokenizer(["a photo of sks dog"], padding="max_length", max_length=77, return_tensors="pt").input_ids
with torch.no_grad():
    ehs = pipe.text_encoder(ids).last_hidden_state
    g = torch.Generator().manual_seed(0)
    c = unet.config
    size = c.sample_size
    sample = torch.randn(2, c.in_channels, size, size, generator=g)
    timestep = torch.tensor([10.0, 700.0])
    ctx = torch.cat([ehs, torch.randn(1, 77, c.cross_attention_dim, generator=g)])
    outp = unet(sample, timestep, ctx).sample
save_file({"sample": sample, "timestep": timestep, "encoder_hidden_states": ctx.contiguous(), "out": outp.contiguous()}, result)
