#!/usr/bin/env bash
# gpu-finetune.sh: the second GPU run behind the shipped model. It first
# benchmarks upscaling x4 to 1080p with the device path (resize, frequency
# update and crop inside the graphs); then it continues training from a
# model: the base network and the decoder together (the decoder's fine stage
# grown to FINE_BLOCKS blocks), then the draft, once per value of DETAIL (the
# weight of the detail loss); last, the 720p benchmark and pssr at 1080p
# again, with the first trained draft model (its decoder is deeper).
#
#   BIN        pssr binary (default bin/pssr)
#   INIT       model to continue from (default models/pssr-tiny-x4.safetensors)
#   DATA       training material (default .gpudata/gpu, as in gpu-train.sh)
#   OUT        results folder (default runs/gpu3)
#   BACKEND    backend spec (default: the CUDA plugin found by scripts/gpu-env.sh;
#              "go" runs the same script on the CPU for a dry run)
#   BASE_TIME, DRAFT_TIME   training budgets (default 140s, 60s per draft)
#   FINE_BLOCKS  decoder fine-stage blocks (default 3); DETAIL  draft detail
#              weights (default "0.5 2"); CROP (default 192), BATCH (8) and
#              FRAMES (4) size the clips; SKIP_BENCH=1 skips the speed benchmark,
#              HOST_BENCH=1 adds pssr at 1080p with the host path
#   TRAIN=0    skips training: only the benchmarks, with INIT (e.g. to measure
#              the shipped model on another card)
#   RESULTS    when set, a folder that receives copies of the small results
#              (logs, bench JSON, loss logs, gzipped models) as each part ends,
#              so a run cut short still returns what it finished
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-bin/pssr}"
INIT="${INIT:-models/pssr-tiny-x4.safetensors}"
DATA="${DATA:-.gpudata/gpu}"
OUT="${OUT:-runs/gpu3}"
mkdir -p "$OUT"
if [ -z "${BACKEND:-}" ]; then
  . scripts/gpu-env.sh || { echo "no CUDA PJRT plugin found" >&2; exit 1; }
  BACKEND="xla:$PSSR_PJRT_PLUGIN"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
nproc > "$OUT/nproc.txt"
FR="${BENCH_FRAMES:-16}"
publish() { # publish [all]: copy the small results to $RESULTS (models: the drafts', or all)
  [ -n "${RESULTS:-}" ] || return 0
  mkdir -p "$RESULTS"
  cp "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.json "$RESULTS"/ 2>/dev/null
  local d
  for d in "$OUT"/*/; do
    d="${d%/}"
    [ -f "$d/loss.jsonl" ] && cp "$d/loss.jsonl" "$RESULTS/$(basename "$d")-loss.jsonl"
    [ -f "$d/val.jsonl" ] && cp "$d/val.jsonl" "$RESULTS/$(basename "$d")-val.jsonl"
    case "$(basename "$d")" in draft-*) ;; *) [ "${1:-}" = all ] || continue ;; esac
    if [ -f "$d/model.safetensors" ] && [ ! -f "$RESULTS/$(basename "$d").safetensors.gz" ]; then
      gzip -c "$d/model.safetensors" > "$RESULTS/$(basename "$d").safetensors.gz"
    fi
  done
  return 0
}
bench() { # bench RES DEVICE_OPS MODES [MODEL [TAG]]
  local tag="bench$1-$2${5:-}"
  echo "== bench x4 to ${1}p, $2 ops, ${4:-$INIT} $(date -u +%T)"
  "$BIN" bench "$DATA/bench/lq$1" --degrade=false --scale 4 --frames "$FR" --warmup "$FR" \
    --modes "$3" --model "${4:-$INIT}" --backend "$BACKEND" --tile 0 --device-ops "$2" \
    --json "$OUT/$tag.json" > "$OUT/$tag.txt" 2>&1
  grep -E '^(bicubic|base|pssr|base-4step) ' "$OUT/$tag.txt"
  publish
}
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  bench 1080 device bicubic,base,pssr,base-4step
  [ "${HOST_BENCH:-0}" = 1 ] && bench 1080 host pssr
fi
common=(--data "$DATA/data" --photos "$DATA/photos" --photo-downscale 1 --backend "$BACKEND"
        --crop "${CROP:-192}" --log-every 25 --checkpoint-every 1000000 --val-every 100000)
stage() { # stage NAME OUTDIR ARGS...: one training stage, logging to OUT/OUTDIR.log
  local name="$1" dir="$2"; shift 2
  echo "== train $name -> $dir $(date -u +%T)"
  "$BIN" train "$name" "${common[@]}" --out "$OUT/$dir" "$@" > "$OUT/$dir.log" 2>&1
  local rc=$?
  grep -E 'validation|done|error|fewer' "$OUT/$dir.log" | tail -n 3
  publish
  return $rc
}
if [ "${TRAIN:-1}" = 0 ]; then
  [ "${SKIP_BENCH:-0}" != 1 ] && bench 720 device base,pssr,base-4step
  echo "== done $(date -u +%T)"
  exit 0
fi
stage base base --init "$INIT" --fine-blocks "${FINE_BLOCKS:-3}" --trainable base,ae/dec \
      --video-weight 0.5 --steps 20000 --batch "${BATCH:-8}" --frames "${FRAMES:-4}" --lr 2e-4 --max-time "${BASE_TIME:-140s}" || { publish all; exit 1; }
for d in ${DETAIL:-0.5 2}; do
  stage draft "draft-d$d" --init "$OUT/base/model.safetensors" --detail-weight "$d" --video-weight 0.5 \
        --steps 20000 --batch "${BATCH:-8}" --frames "${FRAMES:-4}" --lr 3e-4 --max-time "${DRAFT_TIME:-60s}" || { publish all; exit 1; }
done
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  last=$(ls -d "$OUT"/draft-d*/model.safetensors 2>/dev/null | head -n 1)
  bench 720 device base,pssr,base-4step "${last:-$INIT}"
  [ -n "$last" ] && bench 1080 device pssr "$last" -new
fi
echo "== done $(date -u +%T)"
