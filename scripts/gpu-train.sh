#!/usr/bin/env bash
# gpu-train.sh: the GPU run behind the shipped model. It trains the three
# stages of pssr-tiny one after another, each within a wall-time budget (the
# trainer fits its step count to the budget so the learning-rate schedule
# completes), then benchmarks upscaling x4 to 720p and 1080p.
#
#   BIN      pssr binary (default bin/pssr)
#   DATA     training material (default .gpudata/gpu): data/ (frame folders),
#            photos/ (photographs already downscaled by 2), bench/lq720 and
#            bench/lq1080 (low-quality frames for the speed benchmark)
#   OUT      results folder (default runs/gpu)
#   BACKEND  backend spec (default: the CUDA plugin found by scripts/gpu-env.sh;
#            "go" runs the same script on the CPU for a dry run)
#   AE_TIME, BASE_TIME, DRAFT_TIME   budgets (default 100s, 130s, 110s; the shipped
#            model used 50s, 115s, 60s); CROP crop side (default 192: the
#            basketball frames are 240 high)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-bin/pssr}"
DATA="${DATA:-.gpudata/gpu}"
OUT="${OUT:-runs/gpu}"
mkdir -p "$OUT"
if [ -z "${BACKEND:-}" ]; then
  . scripts/gpu-env.sh || { echo "no CUDA PJRT plugin found" >&2; exit 1; }
  BACKEND="xla:$PSSR_PJRT_PLUGIN"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
nproc > "$OUT/nproc.txt"
common=(--data "$DATA/data" --photos "$DATA/photos" --photo-downscale 1 --backend "$BACKEND"
        --crop "${CROP:-192}" --log-every 25 --checkpoint-every 1000000)
stage() { # stage NAME ARGS...: runs one training stage, logging to OUT/NAME.log
  local name="$1"; shift
  echo "== train $name $(date -u +%T)"
  "$BIN" train "$name" "${common[@]}" --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 4 "$OUT/$name.log"
  return $rc
}
stage autoencoder --steps 20000 --batch 16 --lr 1e-3 --val-every 100000 --max-time "${AE_TIME:-100s}" || exit 1
stage base  --init "$OUT/autoencoder/model.safetensors" --steps 20000 --batch 8 --frames 4 --lr 4e-4 \
            --val-every 100000 --max-time "${BASE_TIME:-130s}" || exit 1
stage draft --init "$OUT/base/model.safetensors" --steps 20000 --batch 8 --frames 4 --lr 3e-4 \
            --val-every 100000 --max-time "${DRAFT_TIME:-110s}" || exit 1
cp "$OUT/draft/model.safetensors" "$OUT/pssr-tiny-x4.safetensors"
for res in 720 1080; do
  echo "== bench x4 to ${res}p $(date -u +%T)"
  "$BIN" bench "$DATA/bench/lq$res" --degrade=false --scale 4 --frames "${BENCH_FRAMES:-16}" --warmup "${BENCH_FRAMES:-16}" \
    --modes bicubic,base,pssr,base-4step --model "$OUT/pssr-tiny-x4.safetensors" --backend "$BACKEND" \
    --tile 0 --json "$OUT/bench$res.json" > "$OUT/bench$res.txt" 2>&1
  tail -n 12 "$OUT/bench$res.txt"
done
echo "== done $(date -u +%T)"
