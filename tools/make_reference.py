#!/usr/bin/env python3
"""Writes the reference cases that `engine parity` checks (format: shared/reference-format.md).

Each case is a diffusers-layout Stable Diffusion 1.x folder made with a fixed seed, plus
reference.safetensors holding inputs and what diffusers/transformers compute for them.
Models run in float64 so that the reference is the exact function, not one float32 rounding of
it; inputs are drawn in float32 so that both sides see the same numbers.

    python tools/make_reference.py [--out tests/fixtures/reference] [--tokenizer ../shared/tokenizer]

Cases:
  tiny       the components of diffusers' own pipeline tests (get_dummy_components in
             tests/pipelines/stable_diffusion/test_stable_diffusion.py), with CLIP's real tokenizer
             in place of hf-internal-testing/tiny-random-clip (which needs the network).
  sd-shaped  SD 1.x's shape at small width: three U-Net levels, two with cross-attention, two
             layers per block, per-block head counts and linear projections; a four-level VAE with
             two layers per block.
  sd-shaped-fp16  the sd-shaped model (the same files, byte for byte) with only the `train` section
             and a `mixed` section in float16 (a case holds one `mixed.dtype`; sd-shaped's is
             bfloat16). PyTorch's float16 step scales the loss as torch.amp.GradScaler would
             (2^16, then unscales the gradients), as train_dreambooth.py runs fp16.
The sd-shaped case also holds the `lora` and `mixed` sections (format 1.1; lora needs peft).
Regenerating gives byte-identical files (fixed seeds, CPU, deterministic algorithms).
"""
import argparse
import json
import os
import shutil
import struct

import torch
import torch.nn.functional as F
from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, EulerAncestralDiscreteScheduler,
                       StableDiffusionPipeline, UNet2DConditionModel)
from diffusers.schedulers import scheduling_ddpm, scheduling_euler_ancestral_discrete
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

PROMPTS = [
    "a photo of sks dog",
    "A  photo of   a DOG, in the snow!",
    "",
    "café au lait, 3.14 don't  stop",
    " ".join(["a very long prompt about a dog on a beach at sunset"] * 10),
]
# lr 1e-2 rather than DreamBooth's 5e-6: the delta is a difference of float32 weights, and one ulp of
# a weight near 1 (a norm weight) is 1.2e-7, which must stay well below the tolerance times lr.
ADAMW = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2)
MAX_GRAD_NORM = 1.0
PRIOR_LOSS_WEIGHT = 1.0


def components(case):
    torch.manual_seed(0)
    if case == "tiny":
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=2)
        torch.manual_seed(0)
        vae = AutoencoderKL(
            block_out_channels=[4, 8], norm_num_groups=2, in_channels=3, out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, sample_size=128)
        torch.manual_seed(0)
        clip = CLIPTextConfig(
            bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
            num_attention_heads=4, num_hidden_layers=5, pad_token_id=1, vocab_size=1000)
        sizes = dict(pixels=32, latent=16)
    elif case in ("sd-shaped", "sd-shaped-fp16"):
        unet = UNet2DConditionModel(
            block_out_channels=(16, 32, 32), layers_per_block=2, sample_size=8, in_channels=4, out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
            attention_head_dim=[2, 4, 4], norm_num_groups=8, use_linear_projection=True)
        torch.manual_seed(0)
        vae = AutoencoderKL(
            block_out_channels=[8, 16, 32, 32], layers_per_block=2, norm_num_groups=4, in_channels=3,
            out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
            latent_channels=4, sample_size=64)
        torch.manual_seed(0)
        clip = CLIPTextConfig(
            hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
            hidden_act="gelu")
        sizes = dict(pixels=32, latent=8)
    else:
        raise SystemExit(f"unknown case {case}")
    text_encoder = CLIPTextModel(clip)
    # tiny: the test suite's scheduler; sd-shaped: SD 1.5's settings (steps_offset 1).
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=0 if case == "tiny" else 1)
    return unet, vae, text_encoder, scheduler, sizes


def write_model(path, unet, vae, text_encoder, scheduler, tokenizer_dir, half):
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    if half:
        pipe.to(torch.float16)
    pipe.save_pretrained(path, safe_serialization=True)
    # Keep the tokenizer files as SD 1.5 ships them (vocab.json + merges.txt), byte for byte.
    for name in ["vocab.json", "merges.txt"]:
        shutil.copyfile(os.path.join(tokenizer_dir, name), os.path.join(path, "tokenizer", name))
    # transformers 5 also writes tokenizer.json (3.6 MB); the engine reads vocab.json + merges.txt
    # where both are present, and tests/models.rs covers a folder with tokenizer.json alone.
    fast = os.path.join(path, "tokenizer", "tokenizer.json")
    if os.path.exists(fast):
        os.remove(fast)
    return tokenizer


def make_case(case, out, tokenizer_dir):
    unet, vae, text_encoder, scheduler, sizes = components(case)
    meta = {}
    root = os.path.join(out, case)
    if os.path.exists(root):
        shutil.rmtree(root)
    half = case == "tiny"
    tokenizer = write_model(os.path.join(root, "model"), unet, vae, text_encoder, scheduler, tokenizer_dir, half)
    # After a float16 save the modules hold the float16-rounded weights: exactly what the engine loads.
    unet, vae, text_encoder = unet.double().eval(), vae.double().eval(), text_encoder.double().eval()
    meta["weights_dtype"] = "float16" if half else "float32"
    g = torch.Generator().manual_seed(1234)
    t = {}
    meta |= {"format": "engine-reference/1", "case": case, "generator": "tools/make_reference.py",
            "torch": torch.__version__}

    # tokenizer
    ids = tokenizer(PROMPTS, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    t["tokenizer.input_ids"] = ids.to(torch.int64)
    meta["tokenizer.prompts"] = json.dumps(PROMPTS)

    # clip: ids inside the (small) vocabulary of the test text encoder
    vocab = text_encoder.config.vocab_size
    clip_ids = torch.randint(0, vocab, (2, 77), generator=g)
    with torch.no_grad():
        t["clip.input_ids"] = clip_ids
        # transformers builds its causal mask in the default dtype; float64 needs float64 there.
        torch.set_default_dtype(torch.float64)
        t["clip.last_hidden_state"] = text_encoder(clip_ids).last_hidden_state.float()
        torch.set_default_dtype(torch.float32)

    px, lat = sizes["pixels"], sizes["latent"]
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    with torch.no_grad():
        x = torch.rand(1, 3, px, px, generator=g) * 2 - 1
        dist = vae.encode(x.double()).latent_dist
        t["vae.encode.sample"] = x
        t["vae.encode.mean"] = dist.mean.float()
        t["vae.encode.logvar"] = dist.logvar.float()
        z = torch.randn(1, 4, px // f, px // f, generator=g)
        t["vae.decode.latents"] = z
        t["vae.decode.sample"] = vae.decode(z.double()).sample.float()

    cross = unet.config.cross_attention_dim
    with torch.no_grad():
        s = torch.randn(2, 4, lat, lat, generator=g)
        ts = torch.tensor([10, 999], dtype=torch.int64)
        ehs = torch.randn(2, 77, cross, generator=g)
        t["unet.sample"], t["unet.timestep"], t["unet.encoder_hidden_states"] = s, ts, ehs
        t["unet.out"] = unet(s.double(), ts, ehs.double()).sample.float()

    # Schedulers are built from the saved scheduler_config.json: exactly what the engine reads.
    scheduler = DDIMScheduler.from_pretrained(os.path.join(root, "model", "scheduler"))

    # scheduler: the schedule and q(x_t | x_0)
    sched = DDIMScheduler.from_config(scheduler.config)
    x0 = torch.randn(2, 4, lat, lat, generator=g)
    nz = torch.randn(2, 4, lat, lat, generator=g)
    ts = torch.tensor([0, 617], dtype=torch.int64)
    t["scheduler.alphas_cumprod"] = sched.alphas_cumprod.float()
    t["scheduler.add_noise.x0"], t["scheduler.add_noise.noise"], t["scheduler.add_noise.timesteps"] = x0, nz, ts
    t["scheduler.add_noise.out"] = sched.add_noise(x0, nz, ts)

    # ddim: the spaced timesteps and one deterministic step (eta 0)
    steps = 10
    sched.set_timesteps(steps)
    t["ddim.timesteps"] = sched.timesteps.to(torch.int64)
    mo = torch.randn(1, 4, lat, lat, generator=g)
    smp = torch.randn(1, 4, lat, lat, generator=g)
    step_t = sched.timesteps[3]
    t["ddim.step.model_output"], t["ddim.step.sample"] = mo, smp
    t["ddim.step.timestep"] = step_t.reshape(1).to(torch.int64)
    t["ddim.step.prev_sample"] = sched.step(mo.double(), step_t, smp.double(), eta=0.0).prev_sample.float()
    meta["ddim.num_inference_steps"], meta["ddim.eta"] = str(steps), "0"

    # Samplers beyond the format's DDIM (engine-specific sections): one step each, with the
    # noise that diffusers would draw injected, so that stochastic steps compare exactly.
    def with_noise(module, noise, fn):
        old = module.randn_tensor
        module.randn_tensor = lambda *a, **k: noise.double()
        try:
            return fn()
        finally:
            module.randn_tensor = old

    mo = torch.randn(1, 4, lat, lat, generator=g)
    smp = torch.randn(1, 4, lat, lat, generator=g)
    nz = torch.randn(1, 4, lat, lat, generator=g)
    t["sampler.model_output"], t["sampler.sample"], t["sampler.noise"] = mo, smp, nz
    meta["sampler.num_inference_steps"], meta["sampler.index"], meta["sampler.eta"] = "10", "3", "0.5"
    sched = DDIMScheduler.from_config(scheduler.config)
    sched.set_timesteps(10)
    t["sampler.ddim_eta.prev_sample"] = sched.step(mo.double(), sched.timesteps[3], smp.double(), eta=0.5,
                                                   variance_noise=nz.double()).prev_sample.float()
    ddpm = DDPMScheduler.from_config(scheduler.config)
    ddpm.set_timesteps(10)
    t["sampler.ddpm.timesteps"] = ddpm.timesteps.to(torch.int64)
    t["sampler.ddpm.prev_sample"] = with_noise(scheduling_ddpm, nz, lambda: ddpm.step(
        mo.double(), ddpm.timesteps[3], smp.double()).prev_sample).float()
    eul = EulerAncestralDiscreteScheduler.from_config(scheduler.config)
    eul.set_timesteps(10)
    t["sampler.euler_a.timesteps"] = eul.timesteps.to(torch.int64)
    t["sampler.euler_a.init_noise_sigma"] = torch.tensor([float(eul.init_noise_sigma)])
    eul._step_index = 3
    t["sampler.euler_a.scaled_input"] = eul.scale_model_input(smp.double(), eul.timesteps[3]).float()
    eul._step_index = 3
    t["sampler.euler_a.prev_sample"] = with_noise(scheduling_euler_ancestral_discrete, nz, lambda: eul.step(
        mo.double(), eul.timesteps[3], smp.double()).prev_sample).float()

    # pipeline: the DDIM loop with classifier-free guidance, as StableDiffusionPipeline runs it
    # ([uncond, cond] in one batch, eps = eps_u + g (eps_c - eps_u)), in float64
    steps, guidance = 4, 7.5
    sched = DDIMScheduler.from_config(scheduler.config)
    sched.set_timesteps(steps)
    latents = torch.randn(1, 4, lat, lat, generator=g)
    cond = torch.randn(1, 77, cross, generator=g)
    uncond = torch.randn(1, 77, cross, generator=g)
    t["pipeline.latents"], t["pipeline.cond"], t["pipeline.uncond"] = latents, cond, uncond
    x = latents.double() * sched.init_noise_sigma
    with torch.no_grad():
        for step_t in sched.timesteps:
            inp = sched.scale_model_input(torch.cat([x, x]), step_t)
            eps = unet(inp, step_t, torch.cat([uncond, cond]).double()).sample
            eu, ec = eps.chunk(2)
            x = sched.step(eu + guidance * (ec - eu), step_t, x).prev_sample
    t["pipeline.latents_out"] = x.float()
    meta["pipeline.num_inference_steps"], meta["pipeline.guidance_scale"] = str(steps), str(guidance)

    if case == "tiny":
        finish(root, case, t, meta, unet)
        return
    # train (sd-shaped only: a gradient and a delta per parameter make it the largest section):
    # one DreamBooth step with prior preservation, B = 1 instance + 1 class
    latents = torch.randn(2, 4, lat, lat, generator=g)
    noise = torch.randn(2, 4, lat, lat, generator=g)
    steps = torch.randint(0, scheduler.config.num_train_timesteps, (2,), generator=g)
    ehs = torch.randn(2, 77, cross, generator=g)
    noisy = scheduler.add_noise(latents, noise, steps)  # float32, as train_dreambooth.py does
    t["train.latents"], t["train.noise"], t["train.timesteps"] = latents, noise, steps
    t["train.encoder_hidden_states"] = ehs
    pred = unet(noisy.double(), steps, ehs.double()).sample
    target = noise.double()
    loss_instance = F.mse_loss(pred[:1], target[:1])
    loss_prior = F.mse_loss(pred[1:], target[1:])
    loss = loss_instance + PRIOR_LOSS_WEIGHT * loss_prior
    loss.backward()
    t["train.loss_instance"] = loss_instance.detach().float().reshape(1)
    t["train.loss_prior"] = loss_prior.detach().float().reshape(1)
    t["train.loss"] = loss.detach().float().reshape(1)
    for n, p in unet.named_parameters():
        t[f"train.grad.{n}"] = p.grad.float()
    # The optimizer step runs in float32 on the float32 weights (as a float32 training run does,
    # and as the engine does), from the float64 gradients rounded to float32; otherwise the delta
    # would carry the weights' float32 rounding (~6e-8 at 0.5, 6e-5 of lr) as a difference.
    params32 = [torch.nn.Parameter(p.detach().float()) for _, p in unet.named_parameters()]
    for p32, (_, p) in zip(params32, unet.named_parameters()):
        p32.grad = p.grad.float()
    before = [p.detach().clone() for p in params32]
    torch.nn.utils.clip_grad_norm_(params32, MAX_GRAD_NORM)
    opt = torch.optim.AdamW(params32, lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]), eps=ADAMW["eps"],
                            weight_decay=ADAMW["weight_decay"], foreach=False)
    opt.step()
    for (n, _), p32, b in zip(unet.named_parameters(), params32, before):
        t[f"train.delta.{n}"] = p32.detach() - b
    meta["train.prior_loss_weight"] = str(PRIOR_LOSS_WEIGHT)
    meta["train.max_grad_norm"] = str(MAX_GRAD_NORM)
    for k, v in ADAMW.items():
        meta[f"adamw.{k}"] = str(v)

    if case == "sd-shaped-fp16":
        # Every draw above is sd-shaped's, so the train inputs and references are its own; keep
        # only them (the other sections are sd-shaped's to check).
        t = {k: v for k, v in t.items() if k.startswith("train.")}
        meta = {k: v for k, v in meta.items() if not k.split(".")[0] in ("tokenizer", "ddim", "pipeline", "sampler")}
        mixed_section(unet, t, meta, noisy, steps, ehs, noise, torch.float16)
        finish(root, case, t, meta, unet)
        return
    lora_section(unet, t, meta, lat, cross)
    mixed_section(unet, t, meta, noisy, steps, ehs, noise, torch.bfloat16)
    finish(root, case, t, meta, unet)


# Mixed precision (format 1.1): the train section's step under torch.autocast on float32 master
# weights, as accelerate's --mixed-precision runs it: the loss and every U-Net gradient. Draws no
# random numbers (the other sections are unchanged). float16 scales the loss by GradScaler's
# initial 2^16 before backward and divides the gradients by it after, as an fp16 run does (without
# it, small activation gradients flush to zero in float16); the scale is a power of two, so the
# division is exact.
def mixed_section(unet, t, meta, noisy, steps, ehs, noise, dtype):
    import copy

    munet = copy.deepcopy(unet).float()
    munet.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=dtype):
        pred = munet(noisy, steps, ehs).sample
    # train_dreambooth.py: the loss in float32 (model_pred.float())
    pred, target = pred.float(), noise.float()
    loss = F.mse_loss(pred[:1], target[:1]) + PRIOR_LOSS_WEIGHT * F.mse_loss(pred[1:], target[1:])
    scale = 2.0**16 if dtype == torch.float16 else 1.0
    (loss * scale).backward()
    t["mixed.loss"] = loss.detach().float().reshape(1)
    for n, p in munet.named_parameters():
        grad = p.grad.float() / scale
        assert torch.isfinite(grad).all(), f"{n}: the float16 step overflowed at scale {scale}"
        t[f"mixed.grad.{n}"] = grad
    meta["mixed.dtype"] = {torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]


# LoRA (format 1.1): peft's adapters on kohya's module set (attention projections, feed-forward,
# proj_in/proj_out), alpha != r so that the scale is checked. A and B are drawn at random (B is
# zero at peft's initialisation, which would leave A without a gradient).
LORA = dict(rank=4, alpha=8.0)
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out"]


def lora_section(unet, t, meta, lat, cross):
    import copy

    from peft import LoraConfig
    from peft.tuners.lora import LoraLayer

    g = torch.Generator().manual_seed(4321)  # a stream of its own: the sections above are unchanged
    lunet = copy.deepcopy(unet)
    lunet.zero_grad(set_to_none=True)
    lunet.requires_grad_(False)
    lunet.add_adapter(LoraConfig(r=LORA["rank"], lora_alpha=LORA["alpha"], target_modules=LORA_TARGETS,
                                 init_lora_weights=True))
    for name, mod in lunet.named_modules():
        if isinstance(mod, LoraLayer):
            a, b = mod.lora_A["default"].weight, mod.lora_B["default"].weight
            a32 = (torch.rand(a.shape, generator=g) * 2 - 1) / a.shape[1] ** 0.5
            b32 = (torch.rand(b.shape, generator=g) * 2 - 1) * 0.1
            t[f"lora.A.{name}"], t[f"lora.B.{name}"] = a32, b32
            a.data, b.data = a32.double(), b32.double()
            a.requires_grad_(True)
            b.requires_grad_(True)
    sample = torch.randn(2, 4, lat, lat, generator=g)
    steps = torch.tensor([10, 700], dtype=torch.int64)
    ehs = torch.randn(2, 77, cross, generator=g)
    noise = torch.randn(2, 4, lat, lat, generator=g)
    t["lora.sample"], t["lora.timestep"], t["lora.encoder_hidden_states"], t["lora.noise"] = sample, steps, ehs, noise
    out = lunet(sample.double(), steps, ehs.double()).sample
    loss = F.mse_loss(out, noise.double())
    loss.backward()
    t["lora.out"] = out.detach().float()
    t["lora.loss"] = loss.detach().float().reshape(1)
    for name, mod in lunet.named_modules():
        if isinstance(mod, LoraLayer):
            t[f"lora.grad.A.{name}"] = mod.lora_A["default"].weight.grad.float()
            t[f"lora.grad.B.{name}"] = mod.lora_B["default"].weight.grad.float()
    meta["lora.rank"] = str(LORA["rank"])
    meta["lora.alpha"] = str(LORA["alpha"])


def save_sorted(path, tensors, meta):
    """safetensors with a deterministic header (the library orders __metadata__ by hash)."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header = {"__metadata__": dict(sorted(meta.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        v = tensors[name]
        data = v.numpy().tobytes()
        header[name] = {"dtype": dtypes[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def finish(root, case, t, meta, unet):
    t = {k: v.contiguous() for k, v in t.items()}
    save_sorted(os.path.join(root, "reference.safetensors"), t, meta)
    nparams = sum(p.numel() for p in unet.parameters())
    size = os.path.getsize(os.path.join(root, "reference.safetensors"))
    print(f"{case}: U-Net {nparams} parameters, reference {size / 1e6:.1f} MB -> {root}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "reference"))
    ap.add_argument("--tokenizer", default=os.path.join(here, "..", "..", "shared", "tokenizer"))
    ap.add_argument("cases", nargs="*", default=["tiny", "sd-shaped", "sd-shaped-fp16"])
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for case in args.cases:
        make_case(case, args.out, args.tokenizer)


if __name__ == "__main__":
    main()
