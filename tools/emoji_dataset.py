#!/usr/bin/env python3
"""Builds the captioned emoji dataset for the pretrained tiny model (issue 16) from npm packages.

    python tools/emoji_dataset.py --out target/emoji [--cache target/emoji-cache]

Data: `emoji-datasource-google@16.0.0` (Noto Emoji images, Apache-2.0) and
`emoji-datasource-twitter@16.0.0` (Twemoji images, CC-BY 4.0), fetched by name and version with
`npm pack` (checked against the sha1 the registry published) unless the tarballs are already in
the cache. The packages' own code and metadata (emoji.json) are MIT (Cal Henderson); the image
licences are stated in their README, and ATTRIBUTION.md (written beside the data) carries them.

Each package holds 3,786 64x64 PNGs (1,911 emoji + 1,875 skin-tone variants listed under
`skin_variations`); emoji.json is the same in both. The 5 bare skin-tone swatches (category
Component) are dropped. PNG modes are mixed (RGBA, LA, P with tRNS) and the colour under
transparent pixels is arbitrary, so every image is converted to RGBA and composited on white.

Output (deterministic: the same bytes on every run):
  OUT/emoji64.npz        images uint8 [N, 64, 64, 3], in the order of captions.json
  OUT/captions.json      [{"caption", "name", "style", "image", "category", "skin"}...]
  OUT/ATTRIBUTION.md     the images' sources and licences
Captions: "an emoji of a dog face, google style"; skin variants add ", medium skin tone".
"""
import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile

import numpy as np
from PIL import Image

VERSION = "16.0.0"
STYLES = {
    # style: (package, sha1 of the registry's tarball)
    "google": ("emoji-datasource-google", "a80ac3e8106cbd4d8648ce758aa099e8827b6157"),
    "twitter": ("emoji-datasource-twitter", "e2bd39a8acb77e158106f8249dd7b4cd93fa1b14"),
}
TONES = {"1F3FB": "light", "1F3FC": "medium-light", "1F3FD": "medium", "1F3FE": "medium-dark", "1F3FF": "dark"}

ATTRIBUTION = """# Training images of the emoji dataset

- Noto Emoji (Google), Apache License 2.0: https://github.com/googlefonts/noto-emoji
  (images as shipped in the npm package emoji-datasource-google@16.0.0).
- Twemoji (Twitter, Inc. and other contributors), CC-BY 4.0: https://github.com/jdecked/twemoji
  (graphics licence LICENSE-GRAPHICS; images as shipped in emoji-datasource-twitter@16.0.0).
- Names and categories: emoji-datasource 16.0.0 (emoji.json), MIT, Copyright (c) 2013 Cal Henderson,
  https://github.com/iamcal/emoji-data.

A model trained on these images carries the CC-BY 4.0 attribution of Twemoji and the Apache-2.0
notice of Noto Emoji.
"""


def fetch(package, sha1, cache):
    """The package's tarball in `cache`, fetched with `npm pack` when absent; checked by sha1."""
    path = os.path.join(cache, f"{package}-{VERSION}.tgz")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        subprocess.run(["npm", "pack", f"{package}@{VERSION}", "--pack-destination", cache], check=True,
                       stdout=subprocess.DEVNULL)
    digest = hashlib.sha1(open(path, "rb").read()).hexdigest()
    if digest != sha1:
        raise SystemExit(f"{path}: sha1 {digest}, expected {sha1} (a different tarball?)")
    return path


def caption_name(name):
    """A Unicode or legacy name as words: 'CAT FACE WITH WRY SMILE' -> 'cat face with wry smile'."""
    words = re.sub(r"[:,()*]", " ", name.lower()).replace("\u2019", "'")
    return " ".join(words.split())


def skin_words(key):
    tones = [TONES[k] for k in key.split("-") if k in TONES]
    if len(tones) == 1:
        return f"{tones[0]} skin tone"
    return " and ".join(tones) + " skin tones"


def entries(emoji):
    """(image file, name, category, skin or None) for every image, base emoji then variants."""
    out = []
    for e in sorted(emoji, key=lambda e: e["sort_order"]):
        if e["category"] == "Component":
            continue
        out.append((e["image"], e["name"], e["category"], None))
        for key, v in sorted(e.get("skin_variations", {}).items()):
            out.append((v["image"], e["name"], e["category"], skin_words(key)))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "target", "emoji"))
    ap.add_argument("--cache", default=os.path.join(here, "..", "target", "emoji-cache"))
    args = ap.parse_args()
    images, captions = [], []
    for style, (package, sha1) in STYLES.items():
        with tarfile.open(fetch(package, sha1, args.cache)) as tar:
            emoji = json.load(tar.extractfile("package/emoji.json"))
            for image, name, category, skin in entries(emoji):
                data = tar.extractfile(f"package/img/{style}/64/{image}").read()
                im = Image.open(io.BytesIO(data)).convert("RGBA")
                if im.size != (64, 64):
                    raise SystemExit(f"{package}: {image} is {im.size}, not 64x64")
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                images.append(np.asarray(Image.alpha_composite(white, im).convert("RGB")))
                text = f"an emoji of a {caption_name(name)}" + (f", {skin}" if skin else "") + f", {style} style"
                captions.append({"caption": text, "name": name, "style": style, "image": image,
                                 "category": category, "skin": skin})
    os.makedirs(args.out, exist_ok=True)
    arr = np.stack(images)
    np.savez(os.path.join(args.out, "emoji64.npz"), images=arr)
    with open(os.path.join(args.out, "captions.json"), "w") as f:
        json.dump(captions, f, indent=0, ensure_ascii=False)
    with open(os.path.join(args.out, "ATTRIBUTION.md"), "w") as f:
        f.write(ATTRIBUTION)
    dogs = sorted({c["name"] for c in captions if re.search(r"\bDOG\b", c["name"].upper())})
    print(f"{len(captions)} images ({arr.nbytes / 1e6:.0f} MB) -> {args.out}; dog emoji: {dogs}")


if __name__ == "__main__":
    main()
