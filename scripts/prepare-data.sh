#!/usr/bin/env bash
# Prepares the training material of pssr under DEST (default .gpudata):
#   DEST/data/basketballpass-416x240   real frames (split in time by the trainer:
#                                      f001-f070 train, f071-f100 validation)
#   DEST/photos/...                    Debian photographs (scripts/fetch-photos.sh)
# SHARED is the project's shared/ folder (default ../shared next to the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-.gpudata}"
SHARED="${SHARED:-../shared}"
mkdir -p "$DEST/data"
if [ ! -d "$DEST/data/basketballpass-416x240" ]; then
  cp -r "$SHARED/data/basketballpass-416x240" "$DEST/data/"
  chmod -R u+w "$DEST/data/basketballpass-416x240"
fi
scripts/fetch-photos.sh "$DEST/photos"
echo "prepared $DEST: $(find "$DEST/data" -name '*.png' | wc -l) frames, $(find "$DEST/photos" -name '*.jpg' -o -name '*.png' | wc -l) photos"
