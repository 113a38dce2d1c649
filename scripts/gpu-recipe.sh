#!/usr/bin/env bash
# gpu-recipe.sh: the training recipe of issue 9 in one prepared run, for a
# GPU lent for about 15 minutes (or the CPU with BACKEND=go). It continues
# from the committed weights:
#   0. with BENCH_LQ, the speed benchmark of INIT on those low-quality
#      frames (x4, all PS-SR modes, one window, whole frames);
#   1. data: scripts/prepare-data.sh on the machine's own CPUs (whole-shot
#      split; held-out shots never train), or, with PACK, the packed
#      material that scripts/gpu-pack.sh made here (the GPU machine has no
#      ../shared): PACK/vid/*.mp4 decoded by scripts/unpack-videos.py,
#      PACK/photos as they are;
#   2. base + decoder: the one-step entry and the conditional flow
#      (--flow-share), LPIPS, rotary frame positions, clips of FRAMES frames;
#   3. draft: unrolled on the base's trajectory with LPIPS and a patch
#      discriminator (hinge + feature matching);
#   4. the ablation on the held-out shots (scripts/ablation.sh), when present.
# Every stage resumes from its checkpoint when the script is run again with
# the same OUT, and is skipped when it has finished.
#
#   BIN      pssr binary (default bin/pssr, built with scripts/build-gpu.sh)
#   INIT     model to continue from (default models/pssr-tiny-x4.safetensors)
#   DATA     prepared material (default .gpudata)
#   OUT      run folder (default runs/recipe)
#   BACKEND  backend spec (default: the CUDA plugin that scripts/gpu-env.sh finds)
#   BASE_TIME, DRAFT_TIME  wall-time budgets (default 300s, 240s)
#   FRAMES (8), BATCH (4), CROP (192)  clip sizes; FLOW (0.5) flow share;
#   LPIPS_BASE (0.2), LPIPS_DRAFT (1), LATENT_DRAFT (0.2), ADV (0.05)  loss weights
#   ROPE (1)  rotary frame positions in the base's temporal attention (0: off)
#   DRAFT_ARGS  extra flags of the draft stage (e.g. --keep-draft)
#   PACK, BENCH_LQ, BENCH_FRAMES (16), BENCH_TIME (120 s)  see 0. and 1.
#   VAL_EVERY, CKPT_EVERY (200)  steps between validations, checkpoints
#   VAL      validation frames (default PACK/val/baseball when packed, else
#            the held-out frames of the split)
#   RESULTS  when set, receives the small results (logs, loss logs, gzipped
#            models, ablation) after each stage, so a cut run returns what
#            it finished
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-bin/pssr}"
INIT="${INIT:-models/pssr-tiny-x4.safetensors}"
DATA="${DATA:-.gpudata}"
OUT="${OUT:-runs/recipe}"
mkdir -p "$OUT"
if [ -z "${BACKEND:-}" ]; then
  . scripts/gpu-env.sh || { echo "gpu-recipe: no CUDA PJRT plugin found (BACKEND=go runs on the CPU)" >&2; exit 1; }
  BACKEND="xla:$PSSR_PJRT_PLUGIN"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
echo "cpus: $(nproc)" | tee "$OUT/machine.txt"

# publish: RESULTS gets few files (a device machine returns only a handful):
# small.tar.gz (logs, loss and validation logs, benchmarks, ablation) and
# each stage's model, gzipped.
publish() {
  [ -n "${RESULTS:-}" ] || return 0
  mkdir -p "$RESULTS"
  local d n small="$OUT/small"
  mkdir -p "$small"
  cp "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.json "$small"/ 2>/dev/null
  for d in "$OUT"/base "$OUT"/draft; do
    [ -d "$d" ] || continue
    n="$(basename "$d")"
    for f in loss.jsonl val.jsonl; do [ -f "$d/$f" ] && cp "$d/$f" "$small/$n-$f"; done
    if [ -f "$d/model.safetensors" ] && [ "$d/model.safetensors" -nt "$RESULTS/$n.safetensors.gz" ]; then
      gzip -1 -c "$d/model.safetensors" > "$RESULTS/$n.safetensors.gz.part" && mv "$RESULTS/$n.safetensors.gz.part" "$RESULTS/$n.safetensors.gz"
    fi
  done
  [ -d "$OUT/ablation" ] && cp -r "$OUT/ablation" "$small/"
  tar -C "$OUT" -czf "$RESULTS/small.tar.gz.part" small && mv "$RESULTS/small.tar.gz.part" "$RESULTS/small.tar.gz"
  return 0
}

# finished DIR: the stage in DIR saved its last planned step (read from the
# metadata in the safetensors header).
finished() {
  [ -f "$1/model.safetensors" ] || return 1
  local h s p
  h="$(head -c 1000000 "$1/model.safetensors" | tr -d '\0' | grep -ao '"trainer\.steps\?":"[0-9]*"')"
  s="$(printf '%s\n' "$h" | sed -n 's/"trainer.step":"\([0-9]*\)"/\1/p')"
  p="$(printf '%s\n' "$h" | sed -n 's/"trainer.steps":"\([0-9]*\)"/\1/p')"
  [ -n "$s" ] && [ "$s" = "$p" ]
}

if [ -n "${BENCH_LQ:-}" ]; then
  echo "== bench x4, $BENCH_LQ, $INIT $(date -u +%T)"
  timeout "${BENCH_TIME:-120}" "$BIN" bench "$BENCH_LQ" --degrade=false --scale 4 --frames "${BENCH_FRAMES:-16}" \
    --warmup "${BENCH_FRAMES:-16}" --modes bicubic,base,pssr,base-4step --model "$INIT" --backend "$BACKEND" \
    --tile 0 --json "$OUT/bench.json" > "$OUT/bench.txt" 2>&1
  echo "bench exit $?"
  grep -E '^(bicubic|base|pssr|base-4step) |frames/s|seconds per frame' "$OUT/bench.txt"
  publish
fi

echo "== data $(date -u +%T)"
if [ ! -d "$DATA/data" ] && [ -n "${PACK:-}" ]; then
  mkdir -p "$DATA"
  python3 scripts/unpack-videos.py "$PACK/vid" "$DATA/data.part" > "$OUT/data.log" 2>&1 &&
    mv "$DATA/data.part" "$DATA/data" && cp -r "$PACK/photos" "$DATA/photos" ||
    { cat "$OUT/data.log"; echo "gpu-recipe: unpacking $PACK failed" >&2; publish; exit 1; }
  tail -n 3 "$OUT/data.log"
fi
[ -d "$DATA/data" ] || scripts/prepare-data.sh "$DATA" > "$OUT/data.log" 2>&1 || { echo "gpu-recipe: prepare-data failed (see $OUT/data.log)" >&2; exit 1; }

val=()
[ -n "${VAL:-}" ] && val=(--val "$VAL")
[ -z "${VAL:-}" ] && [ -n "${PACK:-}" ] && [ -d "$PACK/val/baseball" ] && val=(--val "$PACK/val/baseball")
common=(--data "$DATA/data" --photos "$DATA/photos" --photo-downscale 1 --backend "$BACKEND" "${val[@]}"
        --crop "${CROP:-192}" --frames "${FRAMES:-8}" --batch "${BATCH:-4}" --video-weight 0.5
        --log-every 25 --checkpoint-every "${CKPT_EVERY:-200}" --val-every "${VAL_EVERY:-200}" --steps 100000)
stage() { # stage NAME ARGS...: train a stage into OUT/NAME, resuming a cut run
  local name="$1"; shift
  if finished "$OUT/$name"; then echo "== $name: done before"; return 0; fi
  local resume=()
  [ -f "$OUT/$name/checkpoint.safetensors" ] && resume=(--resume)
  echo "== train $name ${resume[*]} $(date -u +%T)"
  "$BIN" train "$name" "${common[@]}" --out "$OUT/$name" "${resume[@]}" "$@" >> "$OUT/$name.log" 2>&1
  local rc=$?
  grep -E 'validation|done|error|fewer' "$OUT/$name.log" | tail -n 3
  publish
  return $rc
}

rope=(--temporal-rope)
[ "${ROPE:-1}" = 0 ] && rope=()
read -r -a draft_args <<<"${DRAFT_ARGS:-}"
stage base --init "$INIT" --trainable base,ae/dec --flow-share "${FLOW:-0.5}" \
  --lpips-weight "${LPIPS_BASE:-0.2}" "${rope[@]}" --lr 2e-4 --max-time "${BASE_TIME:-300s}" || exit 1
stage draft --init "$OUT/base/model.safetensors" --lpips-weight "${LPIPS_DRAFT:-1}" --latent-weight "${LATENT_DRAFT:-0.2}" \
  --adv-weight "${ADV:-0.05}" --lr 3e-4 --max-time "${DRAFT_TIME:-240s}" "${draft_args[@]}" || exit 1

if [ -x scripts/ablation.sh ] && [ -d "$DATA/val" ]; then
  echo "== ablation $(date -u +%T)"
  PSSR="$BIN" BACKEND="$BACKEND" DEST="$DATA" scripts/ablation.sh "$OUT/draft/model.safetensors" "$OUT/ablation" > "$OUT/ablation.log" 2>&1
  tail -n 12 "$OUT/ablation.log"
fi
publish
echo "== done $(date -u +%T)"
