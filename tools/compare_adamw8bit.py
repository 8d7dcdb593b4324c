#!/usr/bin/env python3
"""How far 100 steps of 8-bit AdamW land from f32 AdamW, with bitsandbytes' own AdamW8bit beside
the engine's (`--use-8bit-adam`), on the sd-shaped case's U-Net.

Writes, under --out:
  batch.safetensors        the fixed batch (instance + class latent, noise, timesteps, text states)
  torch_adamw.safetensors  the U-Net after 100 steps of torch.optim.AdamW (f32 moments)
  bnb_adamw8bit.safetensors  the same after bitsandbytes.optim.AdamW8bit
  losses.json              both runs' losses, and the versions used

Then the engine runs the same 100 steps both ways on the same batch and prints the table:

    python tools/compare_adamw8bit.py --out target/adamw8bit
    ENGINE_ADAMW8BIT_CASE=target/adamw8bit cargo test --release --test optim -- --ignored adamw8bit_against

`--maps` prints bitsandbytes' two dynamic quantisation maps as the hex words of
tests/fixtures/optim/bnb_dynamic_maps.txt.

Everything runs on the CPU in float32 (bitsandbytes >= 0.45 runs its 8-bit optimizers there).
"""
import argparse
import json
import os
import struct

import bitsandbytes as bnb
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "tests", "fixtures", "reference", "sd-shaped", "model", "unet")
STEPS = 100
LR = 1e-4
WEIGHT_DECAY = 1e-2


def hex_words(values):
    return [f"{struct.unpack('<I', struct.pack('<f', v))[0]:08x}" for v in values]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="target/adamw8bit")
    ap.add_argument("--maps", action="store_true")
    args = ap.parse_args()
    if args.maps:
        words = hex_words(bnb.functional.create_dynamic_map(signed=True).tolist()
                          + bnb.functional.create_dynamic_map(signed=False).tolist())
        for i in range(0, len(words), 8):
            print(" ".join(words[i:i + 8]))
        return
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    base = UNet2DConditionModel.from_pretrained(MODEL, torch_dtype=torch.float32)
    c = base.config
    lat = 2 ** (len(c.block_out_channels) - 1) * 2
    g = torch.Generator().manual_seed(1)
    batch = {
        "latents": torch.randn(2, c.in_channels, lat, lat, generator=g),
        "noise": torch.randn(2, c.in_channels, lat, lat, generator=g),
        "timesteps": torch.tensor([100.0, 700.0]),
        "encoder_hidden_states": torch.randn(2, 7, c.cross_attention_dim, generator=g),
    }
    save_file(batch, os.path.join(args.out, "batch.safetensors"))
    losses = {"steps": STEPS, "lr": LR, "weight_decay": WEIGHT_DECAY, "torch": torch.__version__,
              "bitsandbytes": bnb.__version__}
    for name, make in [
        ("torch_adamw", lambda p: torch.optim.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY)),
        ("bnb_adamw8bit", lambda p: bnb.optim.AdamW8bit(p, lr=LR, weight_decay=WEIGHT_DECAY)),
    ]:
        unet = UNet2DConditionModel.from_pretrained(MODEL, torch_dtype=torch.float32)
        unet.train()
        opt = make(list(unet.parameters()))
        run = []
        for _ in range(STEPS):
            opt.zero_grad(set_to_none=True)
            pred = unet(batch["latents"], batch["timesteps"], batch["encoder_hidden_states"]).sample
            loss = F.mse_loss(pred, batch["noise"])
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[name] = run
        save_file({k: v.detach().contiguous() for k, v in unet.state_dict().items()},
                  os.path.join(args.out, f"{name}.safetensors"))
        print(f"{name}: loss {run[0]:.6f} -> {run[-1]:.6f}")
    with open(os.path.join(args.out, "losses.json"), "w") as f:
        json.dump(losses, f)


if __name__ == "__main__":
    main()
