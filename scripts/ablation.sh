#!/usr/bin/env bash
# ablation.sh MODEL OUTDIR
#
# The ablation of the model card on the held-out shots: runs `pssr bench` on
# every validation shot in VAL (default DEST/val, DEST default .gpudata; made
# by scripts/prepare-data.sh) with the modes MODES (default
# bicubic,decoder,base,base-4step,pssr-nofuse,pssr) for each degradation
# preset of PRESETS (default "bicubic realesrgan"), x4:
#   bicubic     bench degrades the ground truth itself (bicubic, 8-bit);
#   realesrgan  `pssr degrade --preset realesrgan --seed SEED` makes the
#               low-quality frames, benched against the ground truth (--gt).
# It keeps OUTDIR/PRESET/SHOT.json (and .txt, the table) per shot, then
# aggregates them (go run ./scripts/benchagg) into OUTDIR/ablation.json and
# OUTDIR/ablation.md, frame-weighted over the shots, and writes the command
# to OUTDIR/command.txt.
#
# Environment: FRAMES=N caps the frames per shot (default 1000: all);
# CROP=WxH centre-crops each ground-truth frame to at most W x H (default:
# none); the ground truth is always cropped to a multiple of 4. BENCH_FLAGS
# (default none) are extra flags for every bench run (e.g. "--fc 0.3"). BACKEND
# (default go), WARMUP (bench --warmup, default 2), SEED (default 0), PSSR (a
# pssr binary; default: built from this checkout).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 MODEL OUTDIR" >&2
  exit 2
fi
model=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
out=$2
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
DEST="${DEST:-.gpudata}"
VAL="${VAL:-$DEST/val}"
FRAMES="${FRAMES:-1000}"
CROP="${CROP:-}"
PRESETS="${PRESETS:-bicubic realesrgan}"
MODES="${MODES:-bicubic,decoder,base,base-4step,pssr-nofuse,pssr}"
BACKEND="${BACKEND:-go}"
WARMUP="${WARMUP:-2}"
SEED="${SEED:-0}"
BENCH_FLAGS="${BENCH_FLAGS:-}"
SCALE=4
export GOEXPERIMENT="${GOEXPERIMENT:-simd}"

work=$(mktemp -d "${TMPDIR:-/tmp}/ablation.XXXXXX")
trap 'rm -rf "$work"' EXIT
pssr="${PSSR:-}"
if [ -z "$pssr" ]; then
  go build -o "$work/pssr" ./cmd/pssr
  pssr=$work/pssr
fi

cw=100000 ch=100000
if [ -n "$CROP" ]; then
  cw=${CROP%x*} ch=${CROP#*x}
fi
shots=$(find -L "$VAL" -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name '*.part' -exec test -e '{}/.complete' ';' -print | sort)
if [ -z "$shots" ]; then
  echo "ablation: no validation shots in $VAL (run scripts/prepare-data.sh first)" >&2
  exit 1
fi
{
  echo "FRAMES=$FRAMES CROP=$CROP PRESETS=\"$PRESETS\" MODES=$MODES BENCH_FLAGS=\"$BENCH_FLAGS\" BACKEND=$BACKEND WARMUP=$WARMUP SEED=$SEED VAL=$VAL \\"
  echo "  scripts/ablation.sh $1 $2"
  echo "# $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(date -u +%Y-%m-%dT%H:%MZ)"
} >"$out/command.txt"

for shot in $shots; do
  name=$(basename "$shot")
  gt=$work/gt/$name
  mkdir -p "$gt"
  first=$(ls "$shot" | grep -E '\.png$' | sort | head -n 1)
  ffmpeg -nostdin -loglevel error -start_number "${first%.png}" -i "$shot/%05d.png" -frames:v "$FRAMES" \
    -vf "crop=trunc(min(iw\,$cw)/$SCALE)*$SCALE:trunc(min(ih\,$ch)/$SCALE)*$SCALE" "$gt/%05d.png"
  n=$(ls "$gt" | wc -l)
  for preset in $PRESETS; do
    mkdir -p "$out/$preset"
    echo "ablation: $name ($n frames), preset $preset" >&2
    if [ "$preset" = bicubic ]; then
      in=$gt
      gtflag=()
    else
      in=$work/lq-$preset/$name
      rm -rf "$in"
      mkdir -p "$(dirname "$in")"
      "$pssr" degrade "$gt" "$in" --preset "$preset" --scale "$SCALE" --seed "$SEED" --codec png -q
      gtflag=(--gt "$gt")
    fi
    "$pssr" bench "$in" "${gtflag[@]}" --scale "$SCALE" --frames "$n" --modes "$MODES" --model "$model" \
      --backend "$BACKEND" --warmup "$WARMUP" $BENCH_FLAGS --json "$out/$preset/$name.json" -q >"$out/$preset/$name.txt"
  done
done
go run ./scripts/benchagg "$out"
cat "$out/ablation.md"
