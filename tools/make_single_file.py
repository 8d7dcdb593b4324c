#!/usr/bin/env python3
"""Writes tests/fixtures/single_file/: a tiny model with Stable Diffusion 1.x's exact topology
(four U-Net levels, three with cross-attention, two layers per block; a four-level VAE) at small
width, as a diffusers folder (model/) and as one original-layout checkpoint (sd1-tiny.safetensors,
CompVis key names), so that the engine can check that both load to the same weights.

The CompVis names come from inverting weights.toml's [single_file] map, and the result is checked
against diffusers' own converters (diffusers.loaders.single_file_utils): converting the written
checkpoint back with them must give every diffusers tensor exactly. That makes this script the
check of weights.toml as well.

    python tools/make_single_file.py [--out tests/fixtures/single_file]
"""
import argparse
import os
import shutil
import tomllib

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint,
                                                 convert_ldm_vae_checkpoint)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


def to_compvis(state, table):
    """diffusers names -> checkpoint names: the inverse of the engine's rule (longest module,
    then longest inner prefix)."""
    modules = {v: k for k, v in table.get("modules", {}).items()}
    inner = {v: k for k, v in table.get("inner", {}).items()}
    out = {}
    for name, t in state.items():
        key = name
        best = max((m for m in modules if name.startswith(m + ".")), key=len, default=None)
        if best is not None:
            rest = name[len(best) + 1:]
            ib = max((i for i in inner if rest.startswith(i + ".")), key=len, default=None)
            if ib is not None:
                rest = inner[ib] + rest[len(ib):]
            key = modules[best] + "." + rest
        out[table["prefix"] + key] = t
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fixtures", "single_file"))
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "..", "..", "shared", "tokenizer"))
    args = ap.parse_args()
    with open(os.path.join(HERE, "..", "weights.toml"), "rb") as f:
        maps = tomllib.load(f)["single_file"]

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 8, 16, 16), layers_per_block=2, sample_size=8, cross_attention_dim=16,
        attention_head_dim=2, norm_num_groups=4)  # SD 1.x's block types are the defaults
    vae = AutoencoderKL(
        block_out_channels=[4, 4, 8, 8], layers_per_block=2, norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4)
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2,
                                                num_hidden_layers=1, vocab_size=1000))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    pipe.save_pretrained(os.path.join(args.out, "model"), safe_serialization=True)
    for name in ["vocab.json", "merges.txt"]:
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.out, "model", "tokenizer", name))

    parts = {
        "unet": {k: v.contiguous() for k, v in unet.state_dict().items()},
        "vae": {k: v.contiguous() for k, v in vae.state_dict().items()},
        "text_encoder": {k: v.contiguous() for k, v in text_encoder.state_dict().items()
                         if not k.endswith("position_ids")},
    }
    ckpt = {}
    for part, state in parts.items():
        table = maps[part]
        if part == "text_encoder":
            # Its modules map the legacy layout (no `text_model.`) forward; SD 1.5 files use the modern one.
            table = {"prefix": table["prefix"]}
        converted = to_compvis(state, table)
        if part == "vae":
            # The original VAE stores its mid-block attention projections as 1x1 convolutions.
            for k, v in converted.items():
                if ".mid.attn_1." in k and k.endswith("weight") and v.dim() == 2:
                    converted[k] = v[:, :, None, None].contiguous()
        ckpt.update(converted)

    # Check against diffusers' converters: CompVis -> diffusers must give every tensor back.
    back = {
        "unet": convert_ldm_unet_checkpoint(ckpt, dict(unet.config)),
        "vae": convert_ldm_vae_checkpoint(ckpt, dict(vae.config)),
        "text_encoder": convert_ldm_clip_checkpoint(ckpt),
    }
    for part, state in parts.items():
        got = back[part]
        missing = [k for k in state if k not in got]
        assert not missing, f"{part}: diffusers' converter does not produce {missing[:5]}"
        for k, v in state.items():
            assert torch.equal(got[k].reshape(v.shape), v), f"{part}: {k} differs after the round trip"
    save_file(ckpt, os.path.join(args.out, "sd1-tiny.safetensors"), metadata={"format": "pt"})
    print(f"{len(ckpt)} tensors; weights.toml agrees with diffusers' converters -> {args.out}")


if __name__ == "__main__":
    main()
