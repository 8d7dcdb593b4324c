#!/usr/bin/env bash
# Builds what tools/gpu/run.sh carries to a GPU machine into DIR (default .gpu, which
# .git/info/exclude should ignore): engine.xz, test-NAME.xz for the kernel test binaries and
# site.tar.xz (diffusers for the PyTorch step, from a wheel in WHEEL_DIR, its pipelines left
# out). The device tool carries the working tree and at most 64 MiB in all; the tree is ~49 MB,
# so the binaries are built from a copy of HEAD whose embedded demo assets (the emoji model,
# the demo photos, the plot font: 14 MB that xz cannot shrink) are emptied. `builtin:emoji`,
# `engine train`'s default photos and plots do not work in that binary; nothing run.sh runs
# uses them. The copy is built at /tmp/gpubuild: pass ENGINE_BUILT_IN=/tmp/gpubuild to run.sh
# so that the test binaries find their fixtures.
#
#   tools/gpu/pack.sh [DIR]          (WHEEL_DIR: diffusers-*.whl and importlib_metadata-*.whl)
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$(mkdir -p "${1:-$REPO/.gpu}" && cd "${1:-$REPO/.gpu}" && pwd)
SRC=/tmp/gpubuild
rm -rf "$SRC" && mkdir -p "$SRC"
git -C "$REPO" archive HEAD | tar x -C "$SRC"
for f in "$SRC"/assets/emoji/*/*.safetensors "$SRC"/assets/fonts/*.ttf "$SRC"/assets/dog/*.jpg; do : >"$f"; done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$SRC" && cargo build --release --locked)
strip -o "$DIR/engine" "$CARGO_TARGET_DIR/release/engine" && xz -9 -f "$DIR/engine"
for t in kernels variants torch_fixtures; do
  exe=$(cd "$SRC" && cargo test --release --locked --no-run --test "$t" --message-format=json 2>/dev/null \
    | python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"): print(m["executable"])' | tail -n 1)
  strip -o "$DIR/test-$t" "$exe" && xz -9 -f "$DIR/test-$t"
done
if [ -n "${WHEEL_DIR:-}" ]; then
  site=$(mktemp -d)
  for w in "$WHEEL_DIR"/diffusers-*.whl "$WHEEL_DIR"/importlib_metadata-*.whl; do (cd "$site" && unzip -q -o "$w"); done
  find "$site/diffusers/pipelines" "$site/diffusers/modular_pipelines" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  rm -rf "$site"/*.dist-info
  tar cJf "$DIR/site.tar.xz" -C "$site" . && rm -rf "$site"
fi
ls -la "$DIR"
