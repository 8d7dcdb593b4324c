#!/usr/bin/env bash
# Runs the engine on a Linux machine with a GPU but no Rust toolchain and no network.
#
#   tools/gpu/run.sh BIN_DIR OUT_DIR [DEBS_DIR]
#
# BIN_DIR: a release `engine` built elsewhere, plus optional test binaries named test-NAME
#          (from `cargo test --release --no-run`); either may be xz-compressed (NAME.xz).
#          tools/gpu/pack.sh makes one small enough to travel (the run tool carries 64 MiB).
# OUT_DIR: where the stages below write (info.txt, parity.txt, parity-coop.txt, bench*.txt/.json, tune.json,
#          torch-*.txt/.json, memory.txt/.json, profile.txt (the SD 1.5 step's GPU time per
#          kernel), gemm-vec4.*, conv-plain.*, conv-tiled.*, conv-vec4.*, gemm-pipe.*, conv-pipe.*,
#          gemm-coop.*, conv-coop.*, gemm-coop-pipe.*, conv-coop-pipe.*, gemm-coop-skew0.*,
#          gemm-coop-depth2.*, conv-coop-depth2.*, gemm-coop-wg128.*, conv-coop-wg128.*, gemm-nopairs.*,
#          gemm-coop-nopairs.*, bench-loopbound.*,
#          step-vec4.txt, step-tiled.txt, step-pipe.txt, step-coop.txt, step-tuned.txt (kernels
#          forced for a first measurement),
#          tests.txt) and stages.txt, each
#          stage's exit status and seconds.
# DEBS_DIR: Vulkan loader .debs (libvulkan1 ...) to unpack when the machine has no loader.
# Back here, `python3 tools/gpu/summary.py OUT_DIR` reads the JSON files into issue 17's targets,
# the forced variants against the defaults, and the steps side by side.
#
# Device time is short (minutes), so the stages run most valuable first, each cut at its own
# cap and all of them at ENGINE_GPU_BUDGET_S (default 480 s) from the start: what did not fit
# is written in stages.txt as skipped. ENGINE_GPU_STAGES (names separated by commas or spaces,
# e.g. "info,parity,memory,step-coop") runs only those stages, for a second call that measures
# what the first did not reach. The parity cases are read from tests/fixtures/reference/
# next to this script's repository (the run tool carries the working tree), or $ENGINE_CASES.
# PyTorch on the same GPU (tools/bench_torch.py, tools/gpu/torch_sd15_step.py) runs where
# python3 has torch with CUDA; the step needs diffusers (site.tar.xz below).
set -u
BIN=$(cd "$1" && pwd)
OUT=$2
DEBS=${3:-}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
START=$(date +%s)
REACHED=""
BUDGET=${ENGINE_GPU_BUDGET_S:-480}

for f in "$BIN"/*.xz; do
  [ -e "$f" ] || continue
  if command -v xz >/dev/null; then xz -dkf "$f"; else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "${f%.xz}"
  fi
  chmod +x "${f%.xz}"
done
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
export ENGINE_CACHE_DIR=${ENGINE_CACHE_DIR:-/tmp/engine-pipeline-cache}
export ENGINE_TUNE_CACHE="$OUT/tune.json"
# Test binaries find their fixtures under the path they were built in.
if [ -n "${ENGINE_BUILT_IN:-}" ] && [ ! -e "$ENGINE_BUILT_IN" ]; then
  mkdir -p "$(dirname "$ENGINE_BUILT_IN")" && ln -s "$REPO" "$ENGINE_BUILT_IN"
fi
# Python packages the machine lacks (diffusers, for the PyTorch step): BIN_DIR/site.tar.xz, a
# site-packages folder (diffusers' wheel unpacked, its pipelines left out to fit the transfer).
if [ -f "$BIN/site.tar.xz" ]; then
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$BIN/site.tar.xz" /tmp/site \
    && export PYTHONPATH=/tmp/site
fi

# stage NAME CAP_SECONDS LOG CMD...: CMD's output into $OUT/LOG (appended), cut at CAP or at
# what is left of the budget; its status and time into stages.txt.
stage() {
  local name=$1 cap=$2 log=$3
  shift 3
  REACHED="$REACHED,$name"
  if [ -n "${ENGINE_GPU_STAGES:-}" ] && ! [[ ",${ENGINE_GPU_STAGES// /,}," == *",$name,"* ]]; then
    echo "== $name: not chosen (ENGINE_GPU_STAGES)" >>"$OUT/stages.txt"
    return
  fi
  local left=$((BUDGET - ($(date +%s) - START)))
  if ((left < 15)); then
    echo "== $name: skipped, budget spent" | tee -a "$OUT/stages.txt"
    return
  fi
  ((cap > left)) && cap=$left
  local t0
  t0=$(date +%s)
  echo "== $name (cap $cap s)" >>"$OUT/$log"
  timeout -k 5 "$cap" "$@" >>"$OUT/$log" 2>&1
  local rc=$?
  echo "== $name: rc $rc, $(($(date +%s) - t0)) s of cap $cap" | tee -a "$OUT/stages.txt"
  tail -n 25 "$OUT/$log"
}

E=$BIN/engine
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
  | tee "$OUT/nvidia-smi.txt"
stage info 40 info.txt "$E" info
CASES=${ENGINE_CASES:-$REPO/tests/fixtures/reference}
[ -d "$CASES" ] && stage parity 90 parity.txt "$E" parity "$CASES"/*/
# The fp16 step with every product on the matrix units (forced): within the parity bounds on
# the GPU's own matrices too (on Mesa 26's lavapipe: median 2.6e-3, worst 9.6e-3 of 1.0e-2).
[ -d "$CASES/sd-shaped-fp16" ] && ENGINE_GEMM_VARIANT=coop ENGINE_CONV_VARIANT=coop stage parity-coop 30 \
  parity-coop.txt "$E" parity "$CASES/sd-shaped-fp16/"
# The step first (2026-12-05; it ran after 10 kernel-suite stages, caps 690 s, and PyTorch's):
# whether the fp16 step on the matrix units beats the plain one, and the step against
# PyTorch's, are the run's two main questions. The kernel suites follow.
# One DreamBooth step of SD 1.5's real configuration at 512 px (the third of three: AdamW
# has its moments, the pool its buffers and bind groups): f32; bf16; bf16 + checkpointing;
# fp16 + checkpointing + 8-bit AdamW (whose Linear products took the f16 cooperative-matrix
# GEMM until 2026-12-04 evening; now the plain kernels unless tuned, and `step-coop` below
# forces it).
stage memory 180 memory.txt "$E" bench memory --resolution 512 --settings 0,11,12,16 --json "$OUT/memory.json"
# fp16 with every product on the matrix units: forward, both gradients, attention (2026-12-05),
# beside memory's fp16 row (the plain kernels): whether the coop entries should become a default.
ENGINE_GEMM_VARIANT=coop ENGINE_CONV_VARIANT=coop ENGINE_PROFILE=1 stage step-coop 60 step-coop.txt "$E" \
  bench memory --resolution 512 --settings 16 --json "$OUT/step-coop.json"
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  stage torch-bench 60 torch-bench.txt python3 "$REPO/tools/bench_torch.py" --device cuda \
    --json "$OUT/torch-bench.json" gemm conv norm attention
  stage torch-step 120 torch-step.txt python3 "$REPO/tools/gpu/torch_sd15_step.py" --resolution 512 \
    --json "$OUT/torch-step.json" f32 bf16 bf16-ckpt
fi
# The issue's kernel targets: GEMM 4096³ (f32 and f16), conv2d at SD shapes, attention, norms,
# with the kernels each adapter gets by default; then the coop entries, then the tiled ones.
stage bench 150 bench.txt "$E" bench gemm conv attention norm reduce --json "$OUT/bench.json"
# The cooperative-matrix entries (2026-12-05: GEMM's rewritten from the tiled entries, conv2d's
# new; the first GEMM ran at 5 TFLOP/s on the H200): GEMM's gemm_f16 rows, conv's _f16x rows,
# attention's _fp16 rows (its products under fp16 autocast, 2026-12-05 late).
ENGINE_GEMM_VARIANT=coop stage gemm-coop 60 gemm-coop.txt "$E" bench gemm attention --json "$OUT/gemm-coop.json"
ENGINE_CONV_VARIANT=coop stage conv-coop 60 conv-coop.txt "$E" bench conv --json "$OUT/conv-coop.json"
# The same entries software-pipelined (two copies of the tiles; 25 KiB of workgroup memory).
ENGINE_GEMM_VARIANT="coop pipelined" stage gemm-coop-pipe 60 gemm-coop-pipe.txt "$E" bench gemm attention \
  --json "$OUT/gemm-coop-pipe.json"
ENGINE_CONV_VARIANT="coop pipelined" stage conv-coop-pipe 60 conv-coop-pipe.txt "$E" bench conv \
  --json "$OUT/conv-coop-pipe.json"
# The coop entries' tile layouts beside gemm-coop's default (2026-12-05, unmeasured on a GPU):
# rows unskewed as before that day (ENGINE_COOP_SKEW=0: does the 16-byte skew pay?), and two
# matrix depths per k step (ENGINE_COOP_DEPTH=2: half the barriers and staging rounds).
ENGINE_GEMM_VARIANT=coop ENGINE_COOP_SKEW=0 stage gemm-coop-skew0 60 gemm-coop-skew0.txt "$E" bench gemm \
  --json "$OUT/gemm-coop-skew0.json"
ENGINE_GEMM_VARIANT=coop ENGINE_COOP_DEPTH=2 stage gemm-coop-depth2 60 gemm-coop-depth2.txt "$E" bench gemm \
  --json "$OUT/gemm-coop-depth2.json"
ENGINE_CONV_VARIANT=coop ENGINE_COOP_DEPTH=2 stage conv-coop-depth2 60 conv-coop-depth2.txt "$E" bench conv \
  --json "$OUT/conv-coop-depth2.json"
# 128 invocations sharing the same 128 x 128 tile (ENGINE_COOP_INVOCATIONS=128): 4 x 4 blocks per
# subgroup, 8 matrix loads from workgroup memory per 16 products where 256 invocations make 6 per 8.
ENGINE_GEMM_VARIANT=coop ENGINE_COOP_INVOCATIONS=128 stage gemm-coop-wg128 60 gemm-coop-wg128.txt "$E" bench gemm \
  --json "$OUT/gemm-coop-wg128.json"
ENGINE_CONV_VARIANT=coop ENGINE_COOP_INVOCATIONS=128 stage conv-coop-wg128 60 conv-coop-wg128.txt "$E" bench conv \
  --json "$OUT/conv-coop-wg128.json"
# Half operands staged element by element, as before 2026-12-05 (ENGINE_STAGE_PAIRS=0), beside
# two elements per load (the default since): the default kernels (the tiled GEMM takes the
# gemm_f16 and _bf16w/_f16w rows), and the coop entries beside gemm-coop.
ENGINE_STAGE_PAIRS=0 stage gemm-nopairs 60 gemm-nopairs.txt "$E" bench gemm --json "$OUT/gemm-nopairs.json"
ENGINE_GEMM_VARIANT=coop ENGINE_STAGE_PAIRS=0 stage gemm-coop-nopairs 60 gemm-coop-nopairs.txt "$E" bench gemm \
  --json "$OUT/gemm-coop-nopairs.json"
# naga's loop bounding kept in the trusted modules (ENGINE_LOOP_BOUNDING=1), as on every adapter
# before 2026-12-05 and on CPU adapters still, beside the GPUs' default since (off): the suites
# of the bench stage but attention.
ENGINE_LOOP_BOUNDING=1 stage bench-loopbound 90 bench-loopbound.txt "$E" bench gemm conv norm reduce \
  --json "$OUT/bench-loopbound.json"
# Kernels not yet measured on a GPU (tuner-only until they are), forced beside the defaults:
# the vec4 tiled GEMM (2026-12-04, evening), the GEMM suite and then the bf16 step below.
ENGINE_GEMM_VARIANT="8x8 tiled vec4" stage gemm-vec4 60 gemm-vec4.txt "$E" bench gemm --json "$OUT/gemm-vec4.json"
# conv2d's plain kernel, the GPUs' forward and input-gradient default until 2026-12-05 (now the
# 8-row subgroup entry, which the H200's tuned run chose): the conv suite.
ENGINE_CONV_VARIANT=plain stage conv-plain 60 conv-plain.txt "$E" bench conv --json "$OUT/conv-plain.json"
# The tiled implicit-GEMM conv2d (2026-12-04, night), scalar and vec4: the conv suite.
ENGINE_CONV_VARIANT="8x8 tiled" stage conv-tiled 60 conv-tiled.txt "$E" bench conv --json "$OUT/conv-tiled.json"
ENGINE_CONV_VARIANT="8x8 tiled vec4" stage conv-vec4 60 conv-vec4.txt "$E" bench conv --json "$OUT/conv-vec4.json"
# The vec4 tiles software-pipelined (2026-12-04, late): GEMM's suite and conv's.
ENGINE_GEMM_VARIANT="8x8 tiled vec4 pipelined" stage gemm-pipe 60 gemm-pipe.txt "$E" bench gemm \
  --json "$OUT/gemm-pipe.json"
ENGINE_CONV_VARIANT="8x8 tiled vec4 pipelined" stage conv-pipe 60 conv-pipe.txt "$E" bench conv \
  --json "$OUT/conv-pipe.json"
# Where the bf16 step's GPU time goes, kernel by kernel and dispatch class by class (grid and bytes
# bound: which shapes make the H200's 12% in reductions, and their GB/s against the copy probe;
# each GEMM and convolution shape's TFLOP/s against the FMA probe; 2026-12-05), with the default
# choices, before tuning.
ENGINE_PROFILE=1 stage profile 60 profile.txt "$E" bench memory --resolution 512 --settings 11 \
  --json "$OUT/profile.json"
ENGINE_GEMM_VARIANT="8x8 tiled vec4" ENGINE_PROFILE=1 stage step-vec4 60 step-vec4.txt "$E" bench memory \
  --resolution 512 --settings 11 --json "$OUT/step-vec4.json"
# The same with conv2d's forward and input gradient on the tiled vec4 conv as well.
ENGINE_GEMM_VARIANT="8x8 tiled vec4" ENGINE_CONV_VARIANT="8x8 tiled vec4" ENGINE_PROFILE=1 stage step-tiled 60 \
  step-tiled.txt "$E" bench memory --resolution 512 --settings 11 --json "$OUT/step-tiled.json"
ENGINE_GEMM_VARIANT="8x8 tiled vec4 pipelined" ENGINE_CONV_VARIANT="8x8 tiled vec4 pipelined" ENGINE_PROFILE=1 \
  stage step-pipe 60 step-pipe.txt "$E" bench memory --resolution 512 --settings 11 \
  --json "$OUT/step-pipe.json"
for t in "$BIN"/test-*; do
  case $t in *.xz) continue ;; esac
  [ -x "$t" ] || continue
  stage "$(basename "$t")" 90 tests.txt "$t" --test-threads=4
done
stage bench-tuned 150 bench-tuned.txt "$E" bench --tune gemm conv attention --json "$OUT/bench-tuned.json"
# The fp16 step as a user gets it after tuning: its first step times plain against coop (and the
# split counts) for every shape class it meets, gradients and attention included; the next
# two run the choices (the third is reported). Beside step-coop (all forced) and memory's fp16
# row (defaults). Its "memory first step" row's peak, beside memory's, is what tuning inside a
# training step adds to the card's memory (summary.py's "First steps").
ENGINE_PROFILE=1 stage step-tuned 120 step-tuned.txt "$E" bench --tune memory --resolution 512 --settings 16 \
  --json "$OUT/step-tuned.json"
stage bench-rest 90 bench-rest.txt "$E" bench copy adamw e2e --json "$OUT/bench-rest.json"
# A name in ENGINE_GPU_STAGES that no stage above has (a misspelling, or PyTorch's stages where
# python3 has no CUDA torch) ran nothing: say so, and fail.
for want in ${ENGINE_GPU_STAGES//,/ }; do
  if [[ "$REACHED," != *",$want,"* ]]; then
    echo "== $want: ENGINE_GPU_STAGES names it, but this run has no such stage" | tee -a "$OUT/stages.txt"
    echo "== $want: rc 2" >>"$OUT/stages.txt"
  fi
done
grep -q "rc [^0]" "$OUT/stages.txt" && exit 1
exit 0
