#!/usr/bin/env bash
# prepare-data.sh [DEST]
#
# Prepares the material of pssr under DEST (default .gpudata) from the
# project's shared/ folder (SHARED, default ../shared next to the repo):
#   DEST/data/basketballpass-416x240  real frames, trains whole
#   DEST/data/baseball-1280x720       720p clip: a validation shot
#   DEST/data/davis2016-480p/SEQ      16 DAVIS sequences (JPEG, shrunk by 2 as
#                                     ground truth); blackswan and
#                                     car-roundabout are validation shots
#   DEST/data/sam2-clips/*.mp4        six real clips, train whole
#   DEST/photos/urban100-half         100 photographs (PNG)
#   DEST/photos/...                   Debian photographs (scripts/fetch-photos.sh)
#   DEST/val/SHOT/00001.png...        every validation shot (dataset.ValShots)
#                                     at ground-truth resolution, for pssr bench
#                                     and scripts/ablation.sh
# The split itself is dataset.MakeSplit's (whole shots; see its doc). Folders
# missing from SHARED are skipped with a note. With LINK=1 the shared
# folders are symlinked instead of copied. Safe to run again: what is
# already in place is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.gpudata}"
SHARED="${SHARED:-../shared}"
LINK="${LINK:-0}"
mkdir -p "$DEST/data" "$DEST/photos" "$DEST/val"
SHARED=$(cd "$SHARED" && pwd)

# place SRC DSTDIR puts a copy of (or a link to) the folder SRC into DSTDIR.
place() {
  local src=$1 dst=$2/$(basename "$1")
  if [ ! -d "$src" ]; then
    echo "prepare-data: no $src, skipped" >&2
    return 0
  fi
  if [ -e "$dst" ]; then
    return 0
  fi
  if [ "$LINK" = 1 ]; then
    ln -s "$src" "$dst"
  else
    rm -rf "$dst.part"
    cp -r "$src" "$dst.part"
    chmod -R u+w "$dst.part"
    mv "$dst.part" "$dst"
  fi
}

for d in basketballpass-416x240 baseball-1280x720 davis2016-480p sam2-clips; do
  place "$SHARED/data/$d" "$DEST/data"
done
place "$SHARED/data/urban100-half" "$DEST/photos"
scripts/fetch-photos.sh "$DEST/photos"
GOEXPERIMENT="${GOEXPERIMENT:-simd}" go run ./scripts/valshots "$DEST/data" "$DEST/val"
echo "prepared $DEST: $(find -L "$DEST/data" -name '*.png' -o -name '*.jpg' | wc -l) frames," \
  "$(find -L "$DEST/data" -name '*.mp4' | wc -l) videos," \
  "$(find -L "$DEST/photos" -name '*.jpg' -o -name '*.png' | wc -l) photos," \
  "validation shots: $(ls "$DEST/val" | tr '\n' ' ')"
