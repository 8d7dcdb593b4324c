#!/usr/bin/env python3
"""Loads what the engine writes with the Python libraries people use, and writes what they compute
on fixed inputs, so that the Rust tests can compare it with the engine's own outputs.

    python tools/check_diffusers_load.py folder OUTPUT_DIR RESULT.safetensors
        StableDiffusionPipeline.from_pretrained(OUTPUT_DIR): U-Net output and text-encoder output.
    python tools/check_diffusers_load.py single-file MODEL.safetensors CONFIG_DIR RESULT.safetensors
        StableDiffusionPipeline.from_single_file(MODEL, config=CONFIG_DIR), no network: U-Net, VAE
        decoder and text-encoder outputs.
    python tools/check_diffusers_load.py lora MODEL_DIR LORA.safetensors RESULT.safetensors
        StableDiffusionPipeline.from_pretrained(MODEL_DIR), then load_lora_weights(LORA) (either
        layout the engine writes): U-Net and text-encoder outputs with the adapters, and how many
        modules of each network received one (metadata `unet_adapted`, `text_encoder_adapted`).
    python tools/check_diffusers_load.py text-encoder OUTPUT_DIR RESULT.safetensors
        transformers' CLIPTextModel.from_pretrained(OUTPUT_DIR/text_encoder) alone, so that any
        transformers version (4.4x, 5.x) can check the text encoder's layout without diffusers.

Every load must be clean: a missing or unexpected weight is an error here, not a warning (a text
encoder in the wrong layout loads "successfully" with random weights otherwise).
Versions checked: tools/requirements.txt (torch 2.15, diffusers 0.42, transformers 5.23); the
text-encoder mode also with transformers 4.46.3.
"""
import os
import sys

import torch
from safetensors.torch import save_file

PROMPT = "a photo of sks dog"


def encode(text_encoder, tokenizer):
    ids = tokenizer([PROMPT], padding="max_length", max_length=77, return_tensors="pt").input_ids
    # Test models may have a smaller vocabulary than CLIP's tokenizer; both sides read these ids.
    ids = ids % text_encoder.config.vocab_size
    with torch.no_grad():
        return ids, text_encoder(ids).last_hidden_state


def unet_io(unet, ehs, g):
    c = unet.config
    size = c.sample_size
    sample = torch.randn(2, c.in_channels, size, size, generator=g)
    timestep = torch.tensor([10.0, 700.0])
    ctx = torch.cat([ehs, torch.randn(1, 77, c.cross_attention_dim, generator=g)])
    with torch.no_grad():
        out = unet(sample, timestep, ctx).sample
    return {"sample": sample, "timestep": timestep, "encoder_hidden_states": ctx.contiguous(), "out": out.contiguous()}


def clean_text_encoder(path):
    from transformers import CLIPTextModel
    model, info = CLIPTextModel.from_pretrained(path, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        raise SystemExit(f"{path}: transformers did not load the text encoder cleanly: {bad}")
    return model.float().eval()


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    g = torch.Generator().manual_seed(0)
    if mode == "folder" and len(argv) == 4:
        from diffusers import StableDiffusionPipeline
        out, result = argv[2], argv[3]
        # The text encoder is checked on its own first: the pipeline would only warn.
        clean_text_encoder(os.path.join(out, "text_encoder"))
        pipe = StableDiffusionPipeline.from_pretrained(out, safety_checker=None, requires_safety_checker=False)
        ids, ehs = encode(pipe.text_encoder.float().eval(), pipe.tokenizer)
        t = unet_io(pipe.unet.float().eval(), ehs, g)
        t |= {"input_ids": ids, "last_hidden_state": ehs.contiguous()}
    elif mode == "single-file" and len(argv) == 5:
        from diffusers import StableDiffusionPipeline
        path, config, result = argv[2], argv[3], argv[4]
        pipe = StableDiffusionPipeline.from_single_file(
            path, config=config, local_files_only=True, safety_checker=None, requires_safety_checker=False)
        ids, ehs = encode(pipe.text_encoder.float().eval(), pipe.tokenizer)
        t = unet_io(pipe.unet.float().eval(), ehs, g)
        vae = pipe.vae.float().eval()
        size = vae.config.sample_size // 2 ** (len(vae.config.block_out_channels) - 1)
        latents = torch.randn(1, vae.config.latent_channels, size, size, generator=g)
        with torch.no_grad():
            decoded = vae.decode(latents).sample
        t |= {"input_ids": ids, "last_hidden_state": ehs.contiguous(), "vae.latents": latents,
              "vae.decoded": decoded.contiguous()}
    elif mode == "lora" and len(argv) == 5:
        from diffusers import StableDiffusionPipeline
        from peft.tuners.lora import LoraLayer
        model, lora, result = argv[2], argv[3], argv[4]
        pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
        pipe.load_lora_weights(os.path.dirname(os.path.abspath(lora)), weight_name=os.path.basename(lora))
        count = lambda m: sum(isinstance(x, LoraLayer) for x in m.modules())
        adapted = {"unet_adapted": str(count(pipe.unet)), "text_encoder_adapted": str(count(pipe.text_encoder))}
        ids, ehs = encode(pipe.text_encoder.float().eval(), pipe.tokenizer)
        t = unet_io(pipe.unet.float().eval(), ehs, g)
        t |= {"input_ids": ids, "last_hidden_state": ehs.contiguous()}
    elif mode == "text-encoder" and len(argv) == 4:
        from transformers import CLIPTokenizer
        out, result = argv[2], argv[3]
        te = clean_text_encoder(os.path.join(out, "text_encoder"))
        ids, ehs = encode(te, CLIPTokenizer.from_pretrained(os.path.join(out, "tokenizer")))
        t = {"input_ids": ids, "last_hidden_state": ehs.contiguous()}
    else:
        raise SystemExit(__doc__)
    import transformers
    meta = {"torch": torch.__version__, "transformers": transformers.__version__}
    if mode == "lora":
        import peft
        meta |= adapted | {"peft": peft.__version__}
    try:
        import diffusers
        meta["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    save_file(t, result, metadata=meta)


if __name__ == "__main__":
    main(sys.argv)
