#!/usr/bin/env bash
# Runs the engine on a Linux machine with a GPU but no Rust toolchain and no network.
#
#   tools/gpu/run.sh BIN_DIR OUT_DIR [DEBS_DIR]
#
# BIN_DIR: a release `engine` built elsewhere, plus optional test binaries named test-NAME
#          (from `cargo test --release --no-run`).
# OUT_DIR: where info.txt, parity.txt, parity.json, bench.txt, bench.json (default kernel
#          choices), bench-tuned.txt/.json (after the autotuner chose per shape class; its
#          choices and timings in tune.json), profile.txt (GPU time per kernel of the end-to-end
#          suite), memory.txt/.json (one SD 1.5 training step at 512 px per precision) and
#          tests.txt are written.
# The parity cases are read from tests/fixtures/reference/ next to this script's repository
# (the run tool carries the working tree), or from $ENGINE_CASES.
# DEBS_DIR: Vulkan loader .debs (libvulkan1 ...) to unpack when the machine has no loader.
set -u
BIN=$(cd "$1" && pwd)
OUT=$2
DEBS=${3:-}
mkdir -p "$OUT"

if ! ldconfig -p | grep -q 'libvulkan.so.1' && [ -n "$DEBS" ]; then
  for f in "$DEBS"/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# NVIDIA containers often ship the ICD outside the loader's search path.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
  done
fi
for egl in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json; do
  [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
done
export ENGINE_CACHE_DIR=${ENGINE_CACHE_DIR:-$OUT/pipeline-cache}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia-smi.txt"
"$BIN/engine" info 2>&1 | tee "$OUT/info.txt"
rc=0
CASES=${ENGINE_CASES:-$(cd "$(dirname "$0")/../.." && pwd)/tests/fixtures/reference}
if [ -d "$CASES" ]; then
  "$BIN/engine" parity "$CASES"/*/ -q 2>&1 | tee "$OUT/parity.txt" || rc=1
  "$BIN/engine" parity "$CASES"/*/ --json > "$OUT/parity.json" 2>/dev/null || true
fi
"$BIN/engine" bench --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
ENGINE_TUNE_CACHE="$OUT/tune.json" "$BIN/engine" bench --tune gemm conv attention e2e --json "$OUT/bench-tuned.json" 2>&1 \
  | tee "$OUT/bench-tuned.txt"
ENGINE_TUNE_CACHE="$OUT/tune.json" ENGINE_PROFILE=1 "$BIN/engine" bench e2e 2>&1 | tee "$OUT/profile.txt"
# One DreamBooth step of SD 1.5's real configuration at 512 px in each precision (f32; bf16;
# bf16 + checkpointing + 8-bit AdamW + fused backward; fp16 + checkpointing + 8-bit AdamW, whose
# Linear products take the f16 cooperative-matrix GEMM where the GPU has one): the step's time
# and the pool's peak.
ENGINE_TUNE_CACHE="$OUT/tune.json" "$BIN/engine" bench memory --resolution 512 --settings 0,11,14,16 \
  --json "$OUT/memory.json" 2>&1 | tee "$OUT/memory.txt"
for t in "$BIN"/test-*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")" | tee -a "$OUT/tests.txt"
  "$t" --test-threads=4 2>&1 | tail -n 30 | tee -a "$OUT/tests.txt" || rc=1
done
exit $rc
