#!/usr/bin/env bash
# gpu-pack.sh [PACK]: packs what scripts/gpu-recipe.sh needs on a GPU machine
# that has no ../shared, no Go toolchain and no network, small enough to
# travel with the working tree (the device tool carries at most 64 MiB in
# all, the repository included). PACK defaults to .gpudata/pack (ignored):
#
#   PACK/pssr-hdr113.xz   scripts/build-gpu.sh's patched binary, stripped
#   PACK/vid/*.mp4        every training shot (never a dataset.ValShots one)
#                         as near-lossless H.264 (CRF 12, 4:4:4) at its
#                         ground-truth resolution: DAVIS shrunk by 2 (area,
#                         426x240, as the trainer shrinks its JPEGs), the
#                         sam2 clips shrunk by 2, BasketballPass as it is
#   PACK/photos/*.jpg     the first PHOTOS (70) Urban100 half-size photos,
#                         JPEG quality ~90 (train with --photo-downscale 1)
#   PACK/lq1080/*.jpg     16 baseball frames at 480x270: input of the x4 to
#                         1080p speed benchmark
#   PACK/val/baseball     4 crops (640x368, PNG) of the held-out baseball
#                         clip, frames 17-20: the trainer's validation
#
# On the GPU machine: xz -dc PACK/pssr-hdr113.xz > bin/pssr, then
# PACK=PACK scripts/gpu-recipe.sh (it decodes the videos with
# scripts/unpack-videos.py). SHARED (default ../shared) is the source.
set -euo pipefail
cd "$(dirname "$0")/.."
PACK="${1:-.gpudata/pack}"
SHARED="${SHARED:-../shared}"
PHOTOS="${PHOTOS:-70}"
command -v ffmpeg >/dev/null || { echo "gpu-pack: needs ffmpeg" >&2; exit 1; }
mkdir -p "$PACK/vid" "$PACK/photos" "$PACK/lq1080"

enc() { # enc OUT FFMPEG-INPUT-ARGS...: near-lossless H.264, written whole or not at all
  local out="$1"; shift
  [ -s "$out" ] && return 0
  ffmpeg -nostdin -loglevel error -y "$@" -an -c:v libx264 -preset slow -crf 12 -pix_fmt yuv444p "$out.part.mp4"
  mv "$out.part.mp4" "$out"
}
for d in "$SHARED"/data/davis2016-480p/*/; do
  n="$(basename "$d")"
  case "$n" in blackswan|car-roundabout) continue ;; esac # dataset.ValShots
  enc "$PACK/vid/davis-$n.mp4" -framerate 24 -pattern_type glob -i "$d*.jpg" -vf scale=427:240:flags=area,crop=426:240:0:0 &
done
wait
enc "$PACK/vid/basketballpass.mp4" -framerate 30 -i "$SHARED/data/basketballpass-416x240/f%03d.png"
for f in "$SHARED"/data/sam2-clips/*.mp4; do
  enc "$PACK/vid/sam2-$(basename "$f")" -i "$f" -vf "scale=trunc(iw/4)*2:trunc(ih/4)*2:flags=area" &
done
wait
for f in $(ls "$SHARED"/data/urban100-half/img_*.png | head -n "$PHOTOS"); do
  o="$PACK/photos/$(basename "${f%.png}").jpg"
  [ -s "$o" ] || ffmpeg -nostdin -loglevel error -y -i "$f" -q:v 3 "$o"
done
for i in $(seq -w 1 16); do
  o="$PACK/lq1080/$i.jpg"
  [ -s "$o" ] || ffmpeg -nostdin -loglevel error -y -i "$SHARED/data/baseball-1280x720/$i.png" -vf scale=480:270:flags=bicubic -q:v 2 "$o"
done
mkdir -p "$PACK/val/baseball"
for i in 17 18 19 20; do
  o="$PACK/val/baseball/$i.png"
  [ -s "$o" ] || ffmpeg -nostdin -loglevel error -y -i "$SHARED/data/baseball-1280x720/$i.png" -vf crop=640:368:320:176 "$o"
done
if [ ! -s "$PACK/pssr-hdr113.xz" ]; then
  GO_BUILD_FLAGS='-trimpath -ldflags=-s' scripts/build-gpu.sh "$PACK/bin/pssr"
  xz -T0 -9 -c "$PACK/bin/pssr-hdr113" > "$PACK/pssr-hdr113.xz.part" && mv "$PACK/pssr-hdr113.xz.part" "$PACK/pssr-hdr113.xz"
  rm -rf "$PACK/bin"
fi
du -sh "$PACK"/*
