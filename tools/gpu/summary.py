#!/usr/bin/env python3
"""Reads what tools/gpu/run.sh wrote and prints, as markdown, what a GPU run is for: issue 17's
targets (met or not, with the numbers), each forced variant against the defaults row by row
(what should become a default), the memory-bound kernels against the copy probe, and the SD 1.5
steps side by side. Runs on the machine the
results come back to; needs only Python's standard library.

    python3 tools/gpu/summary.py OUT_DIR [--tensor-peak-tflops 989]

--tensor-peak-tflops: the GPU's dense f16 tensor peak (989 for an H100 or H200 SXM; the
issue's target for the cooperative-matrix GEMM is 40% of it).
"""
import argparse
import json
import os
import re
import sys

GEMM_BIG = "[1,4096,4096]x[1,4096,4096]"
# Forced-variant files, each compared with the default file (`bench.json`) unless BASELINES
# names another: the coop layouts and staging against the coop entries' own default layout.
VARIANT_FILES = [
    ("gemm-vec4", "GEMM 8x8 tiled vec4"),
    ("gemm-pipe", "GEMM 8x8 tiled vec4 pipelined"),
    ("gemm-coop", "GEMM coop (and attention's products)"),
    ("gemm-coop-pipe", "GEMM coop pipelined"),
    ("gemm-coop-skew0", "GEMM coop, tile rows unskewed"),
    ("gemm-coop-depth2", "GEMM coop, two depths per k step"),
    ("gemm-coop-wg128", "GEMM coop, 128 invocations (4 x 4 blocks per subgroup)"),
    ("gemm-nopairs", "GEMM defaults, half operands staged element by element"),
    ("gemm-coop-nopairs", "GEMM coop, half operands staged element by element"),
    ("bench-loopbound", "defaults with naga's loop bounding kept (before 2026-12-05)"),
    ("conv-plain", "conv plain (the GPU default before 2026-12-05, night)"),
    ("conv-tiled", "conv 8x8 tiled"),
    ("conv-vec4", "conv 8x8 tiled vec4"),
    ("conv-pipe", "conv 8x8 tiled vec4 pipelined"),
    ("conv-coop", "conv coop"),
    ("conv-coop-pipe", "conv coop pipelined"),
    ("conv-coop-depth2", "conv coop, two depths per k step"),
    ("conv-coop-wg128", "conv coop, 128 invocations (4 x 4 blocks per subgroup)"),
    ("bench-tuned", "tuned (bench --tune)"),
]
BASELINES = {
    "gemm-coop-skew0": "gemm-coop",
    "gemm-coop-depth2": "gemm-coop",
    "gemm-coop-nopairs": "gemm-coop",
    "conv-coop-depth2": "conv-coop",
    "gemm-coop-wg128": "gemm-coop",
    "conv-coop-wg128": "conv-coop",
}
# Step files (`bench memory`): the file, what it forced, and the row of memory.json it stands beside.
STEP_FILES = [
    ("step-coop", "fp16 + ckpt + 8-bit, GEMM and conv forced to coop", "fp16 + checkpointing + 8-bit AdamW"),
    ("step-tuned", "fp16 + ckpt + 8-bit, after --tune", "fp16 + checkpointing + 8-bit AdamW"),
    ("profile", "bf16, defaults (profiled)", "bf16"),
    ("step-vec4", "bf16, GEMM 8x8 tiled vec4", "bf16"),
    ("step-tiled", "bf16, GEMM and conv 8x8 tiled vec4", "bf16"),
    ("step-pipe", "bf16, GEMM and conv tiled vec4 pipelined", "bf16"),
]


def load(out, name):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"(could not read {path}: {e})", file=sys.stderr)
        return None


def by_key(rows):
    return {(r["kernel"], r["shape"]): r for r in rows or []}


def fmt_s(s):
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def tflops(r):
    return f"{r['gflops'] / 1e3:.1f} TFLOP/s" if r and r.get("gflops") else "-"


def probe(rows, kernel):
    for r in rows or []:
        if r["kernel"] == kernel:
            return r
    return None


# Rows faster than twice the tensor peak are timing artefacts (the 2026-12-04 H200 run's tuned
# conv rows read 1 µs); set from --tensor-peak-tflops.
IMPLAUSIBLE_GFLOPS = 2 * 989e3


def plausible(r):
    return r is not None and not (r.get("gflops") and r["gflops"] > IMPLAUSIBLE_GFLOPS)


def best(candidates):
    """The fastest of (label, row) pairs whose row exists and is plausible."""
    have = [(label, r) for label, r in candidates if plausible(r)]
    return min(have, key=lambda x: x[1]["seconds"]) if have else (None, None)


def steps(rows, prefix="memory: "):
    """`bench memory` rows by setting: 'memory: bf16' -> ('bf16', row); the fwd+bwd and host rows
    left out (prefix "memory host busy: " picks the host rows instead)."""
    out = {}
    for r in rows or []:
        if r["kernel"].startswith(prefix):
            out[r["kernel"][len(prefix):]] = r
    return out


def host_busy(rows, setting):
    """The host's own work in the step, with how many of its dispatches reused a bind group
    (the row's shape says so since 2026-12-05, evening)."""
    r = steps(rows, "memory host busy: ").get(setting)
    if not r:
        return "-"
    m = re.search(r"(\d+) dispatches, (\d+) bind groups reused", r.get("shape", ""))
    return fmt_s(r["seconds"]) + (f" ({m.group(2)} of {m.group(1)} groups reused)" if m else "")


def targets(out, peak_tflops):
    bench = load(out, "bench")
    files = {name: by_key(load(out, name)) for name, _ in VARIANT_FILES}
    torch = by_key(load(out, "torch-bench"))
    print("## Issue 17's targets\n")
    print("| target | measured | met |")
    print("|---|---|---|")
    fma = probe(bench, "fma_probe")
    copy = probe(bench, "copy_probe")
    if fma:
        print(f"| (FMA probe) | {tflops(fma)} | |")
    if copy and copy.get("gbps"):
        print(f"| (copy probe) | {copy['gbps']:.0f} GB/s | |")
    b = by_key(bench)

    def candidates(kernel, shape, names):
        c = [("default", b.get((kernel, shape)))]
        c += [(label, files[name].get((kernel, shape))) for name, label in VARIANT_FILES if name in names]
        return c

    label, g32 = best(candidates("gemm", GEMM_BIG, ["gemm-vec4", "gemm-pipe", "bench-tuned"]))
    if g32 and fma:
        frac = g32["gflops"] / fma["gflops"]
        t = torch.get(("gemm", GEMM_BIG))
        extra = f"; PyTorch {tflops(t)}" if t else ""
        print(f"| f32 GEMM 4096³ ≥ 60% of the FMA probe | {tflops(g32)} ({label}), {frac:.0%}{extra} | "
              f"{'yes' if frac >= 0.6 else 'no'} |")
    label, g16 = best(candidates("gemm_f16", GEMM_BIG, ["gemm-coop", "gemm-coop-pipe", "gemm-coop-skew0", "gemm-coop-depth2", "gemm-coop-nopairs",
                   "bench-tuned"]))
    if g16:
        frac = g16["gflops"] / (peak_tflops * 1e3)
        t = torch.get(("gemm_f16", GEMM_BIG))
        extra = f"; PyTorch {tflops(t)}" if t else ""
        print(f"| f16 GEMM 4096³ ≥ 40% of {peak_tflops:g} TFLOP/s | {tflops(g16)} ({label}), {frac:.1%}{extra} | "
              f"{'yes' if frac >= 0.4 else 'no'} |")
    if g32:
        conv_names = ["conv-tiled", "conv-vec4", "conv-pipe", "conv-coop", "conv-coop-pipe", "conv-coop-depth2",
                      "bench-tuned"]
        for r in bench or []:
            if not r["kernel"].startswith("conv2d_") or not r.get("gflops"):
                continue
            label, c = best(candidates(r["kernel"], r["shape"], conv_names))
            ratio = g32["gflops"] / c["gflops"]
            print(f"| {r['kernel']} `{r['shape']}` within 1.5x of GEMM's rate | {tflops(c)} ({label}), "
                  f"{ratio:.2f}x below | {'yes' if ratio <= 1.5 else 'no'} |")
    eng = steps(load(out, "memory"))
    tor = {r["kernel"].removeprefix("torch step: "): r for r in load(out, "torch-step") or []}
    for setting, tname in [("bf16", "bf16"), ("f32", "f32"), ("bf16 + checkpointing", "bf16-ckpt")]:
        e, t = eng.get(setting), tor.get(tname)
        if e and t:
            ratio = e["seconds"] / t["seconds"]
            met = ("yes" if ratio <= 1.5 else "no") if setting == "bf16" else "(not a target)"
            print(f"| SD 1.5 step at 512, {setting}, within 1.5x of PyTorch | {fmt_s(e['seconds'])} against "
                  f"{fmt_s(t['seconds'])}, {ratio:.1f}x | {met} |")
        elif e:
            print(f"| SD 1.5 step at 512, {setting} | {fmt_s(e['seconds'])} (no PyTorch step) | |")
    print()


def variants(out):
    print("## Forced variants against the defaults (`bench.json`, or the file named)\n")
    print("Baseline time / variant time per row: above 1 the variant is faster. Rows within 5% are counted only.\n")
    for name, label in VARIANT_FILES:
        rows = load(out, name)
        if rows is None:
            print(f"- {label} (`{name}.json`): not run")
            continue
        base_name = BASELINES.get(name, "bench")
        b = by_key(load(out, base_name))
        if not b:
            print(f"- {label} (`{name}.json`): its baseline `{base_name}.json` did not run")
            continue
        label = label if base_name == "bench" else f"{label}, against `{base_name}.json`"
        faster, slower, same, lines = 0, 0, 0, []
        for r in rows:
            d = b.get((r["kernel"], r["shape"]))
            if not d or r["kernel"].endswith("_probe") or not r["seconds"]:
                continue
            if not plausible(r) or not plausible(d):
                lines.append(f"  - {r['kernel']} `{r['shape']}`: left out, a rate above twice the tensor peak")
                continue
            ratio = d["seconds"] / r["seconds"]
            if ratio > 1.05:
                faster += 1
            elif ratio < 1 / 1.05:
                slower += 1
            else:
                same += 1
                continue
            lines.append(f"  - {r['kernel']} `{r['shape']}`: {fmt_s(d['seconds'])} -> {fmt_s(r['seconds'])} "
                         f"({ratio:.2f}x)")
        print(f"- {label} (`{name}.json`): {faster} rows faster, {slower} slower, {same} within 5%")
        print("\n".join(lines))
    print()


def step_table(out):
    memory = load(out, "memory")
    base = steps(memory)
    print("## SD 1.5 steps at 512 px (`bench memory`, the third of three steps)\n")
    print("| run | step | host busy | peak | beside | its step | ratio |")
    print("|---|---|---|---|---|---|---|")
    for setting, r in base.items():
        print(f"| memory: {setting} | {fmt_s(r['seconds'])} | {host_busy(memory, setting)} | "
              f"{r.get('peak_gib') or 0:.2f} GiB | | | |")
    for name, what, beside in STEP_FILES:
        loaded = load(out, name)
        for setting, r in steps(loaded).items():
            b = base.get(beside)
            cols = [f"{name}: {what}", fmt_s(r["seconds"]), host_busy(loaded, setting),
                    f"{r.get('peak_gib') or 0:.2f} GiB"]
            if b:
                cols += [f"memory: {beside}", fmt_s(b["seconds"]), f"{b['seconds'] / r['seconds']:.2f}x"]
            else:
                cols += ["", "", ""]
            print("| " + " | ".join(cols) + " |")
    print("\nratio: the default step's time / this run's (above 1: this run is faster). host busy: the step's time")
    print("less the host's time in submissions and waits for the GPU; near the step's time, the GPU waited for the host.\n")
    # The first of the three steps (since 2026-12-05, late): pipelines compile or load, and
    # under step-tuned's --tune each class's candidates (split counts: more copies of C) are
    # timed while the step's tensors live. Its peak beside the defaults' first step is what
    # ENGINE_TUNE=1 on a training run adds to the card's memory.
    tuned_rows = load(out, "step-tuned")
    first = steps(memory, "memory first step: ")
    tuned = steps(tuned_rows, "memory first step: ")
    if first or tuned:
        print("First steps (compiles, and under --tune the tuning):\n")
        print("| run | setting | first step | peak | third step's peak |")
        print("|---|---|---|---|---|")
        for name, rows, third in (("memory", first, base), ("step-tuned", tuned, steps(tuned_rows))):
            for setting, r in rows.items():
                t = third.get(setting)
                print(f"| {name} | {setting} | {fmt_s(r['seconds'])} | {r.get('peak_gib') or 0:.3f} GiB | "
                      f"{(t.get('peak_gib') or 0) if t else 0:.3f} GiB |")
        print()


def memory_bound(out):
    """The rows with a byte count (norms, sums, copies, AdamW) against the copy probe: how far
    each memory-bound kernel is from the GPU's bandwidth, default choices and tuned."""
    rows = []
    for name in ("bench", "bench-rest", "bench-tuned"):
        loaded = load(out, name) or []
        copy = probe(loaded, "copy_probe")
        for r in loaded:
            if r.get("gbps") and r["kernel"] not in ("copy_probe", "fma_probe"):
                rows.append((name, r, copy))
    if not rows:
        return
    print("## Memory-bound kernels against the copy probe\n")
    print("| file | kernel | shape | time | GB/s | of the copy probe |")
    print("|---|---|---|---|---|---|")
    for name, r, copy in rows:
        frac = f"{100 * r['gbps'] / copy['gbps']:.0f}%" if copy and copy.get("gbps") else "-"
        print(f"| {name} | {r['kernel']} | `{r['shape']}` | {fmt_s(r['seconds'])} | {r['gbps']:.0f} | {frac} |")
    print()


def profile_products(out, name="profile", shown=15):
    """The products of the profiled step (`ENGINE_PROFILE=1`'s dispatch classes that declare
    FLOPs: GEMM, conv2d, fused attention) that took the most time, with their rate against the
    FMA probe: which shapes hold the step back."""
    path = os.path.join(out, name + ".txt")
    if not os.path.exists(path):
        return
    rows, in_classes = [], False
    with open(path) as f:
        for line in f:
            if line.startswith("GPU time by dispatch class"):
                in_classes = True
                continue
            if in_classes and line.startswith("GPU time by kernel"):
                in_classes = False
            fields = line.split()
            # kernel, workgroups, MiB bound, dispatches, seconds, us each, share, GB/s, GFLOP, TFLOP/s
            if not in_classes or len(fields) != 10 or fields[0] == "kernel" or fields[8] == "-":
                continue
            try:
                rows.append((fields[0], fields[1], float(fields[8]), int(fields[3]), float(fields[4]), fields[6],
                             float(fields[9])))
            except ValueError:
                continue
    if not rows:
        return
    fma = probe(load(out, "bench"), "fma_probe")
    print(f"## Products in the profiled step (`{name}.txt`), most time first\n")
    print("| kernel | workgroups | GFLOP each | dispatches | seconds | share | TFLOP/s | of the FMA probe |")
    print("|---|---|---|---|---|---|---|---|")
    for kernel, groups, gflop, n, secs, share, tf in sorted(rows, key=lambda r: -r[4])[:shown]:
        frac = f"{100 * tf * 1e3 / fma['gflops']:.0f}%" if fma and fma.get("gflops") else "-"
        print(f"| {kernel} | {groups} | {gflop:.2f} | {n} | {secs:.4f} | {share} | {tf:.2f} | {frac} |")
    print()


def stages(out):
    path = os.path.join(out, "stages.txt")
    if not os.path.exists(path):
        return
    print("## Stages\n")
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and "not chosen" not in line:
                print(f"- {line.removeprefix('== ')}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="the OUT_DIR tools/gpu/run.sh wrote")
    ap.add_argument("--tensor-peak-tflops", type=float, default=989.0)
    a = ap.parse_args()
    global IMPLAUSIBLE_GFLOPS
    IMPLAUSIBLE_GFLOPS = 2 * a.tensor_peak_tflops * 1e3
    if not os.path.isdir(a.out):
        sys.exit(f"summary: {a.out} is not a folder")
    stages(a.out)
    targets(a.out, a.tensor_peak_tflops)
    variants(a.out)
    memory_bound(a.out)
    step_table(a.out)
    profile_products(a.out)


if __name__ == "__main__":
    main()
