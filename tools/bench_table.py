#!/usr/bin/env python3
"""Joins `engine bench --json` and `tools/bench_torch.py --json` rows (same kernel and shape)
into the markdown table of BENCHMARKS.md.

    python tools/bench_table.py engine.json torch.json
"""
import json
import sys


def rate(r):
    if r.get("gflops"):
        return f"{r['gflops']:.2f} GFLOP/s"
    if r.get("gbps"):
        return f"{r['gbps']:.2f} GB/s"
    return ""


def ms(s):
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.2f} s"


def main():
    eng = json.load(open(sys.argv[1]))
    tor = {(r["kernel"], r["shape"]): r for r in json.load(open(sys.argv[2]))} if len(sys.argv) > 2 else {}
    print("| kernel | shape | engine | engine rate | % of probe | PyTorch | PyTorch rate | engine / PyTorch time |")
    print("|---|---|---|---|---|---|---|---|")
    for r in eng:
        t = tor.get((r["kernel"], r["shape"]))
        frac = f"{r['peak_fraction'] * 100:.1f}%" if r.get("peak_fraction") is not None else ""
        cols = [r["kernel"], f"`{r['shape']}`", ms(r["seconds"]), rate(r), frac]
        if t:
            cols += [ms(t["seconds"]), rate(t), f"{r['seconds'] / t['seconds']:.2f}x"]
        else:
            cols += ["", "", ""]
        print("| " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
