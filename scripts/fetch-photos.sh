#!/usr/bin/env bash
# fetch-photos.sh DEST
#
# Fetches the high-resolution photographs that Debian ships as wallpapers
# (see shared/data/README.md) and copies them, with their licence and
# metadata files, into DEST:
#
#   DEST/plasma-workspace-wallpapers/NAME.jpg            (11 photos, 2560x1600)
#   DEST/plasma-workspace-wallpapers/NAME.metadata.json  (author, licence)
#   DEST/lomiri-wallpapers-16.04/NAME.jpg                (14 photos)
#   DEST/lomiri-wallpapers-20.04/NAME.jpg                (1 photo)
#   DEST/mate-backgrounds/NAME.jpg                       (12 photos)
#   DEST/mate-backgrounds/mate-nature.xml                (authors)
#   DEST/PKG/copyright                                   (Debian copyright file)
#
# The packages are downloaded with `apt-get download` (after `apt-get update`
# when apt does not know them) and unpacked with `dpkg -x` in a temporary
# folder that is removed on exit. A package whose files are all in place
# (DEST/PKG/.complete records its version) is skipped, so running the script
# again is cheap. Needs no stdin; runs as root or as a user allowed to run
# apt-get download.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DEST" >&2
	exit 2
fi
dest=$1
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

export DEBIAN_FRONTEND=noninteractive
work=$(mktemp -d "${TMPDIR:-/tmp}/fetch-photos.XXXXXX")
trap 'rm -rf "$work"' EXIT

plasma_photos="BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut Path summer_1am"
lomiri16_photos="Bridge Dragonfly Picture_0B Picture_1A Wine aitzgorri free friends greentock life picosdeeuropa seeding sunset umang"
lomiri20_photos="Kleiber_by_Lukas_Baubkus"

updated=0
# version PKG prints the candidate version of PKG, running apt-get update
# once if apt does not know it.
version() {
	local v
	v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -z "$v" ] || [ "$v" = "(none)" ]; then
		if [ "$updated" -eq 0 ]; then
			apt-get update -qq </dev/null >&2
			updated=1
		fi
		v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
	fi
	if [ -z "$v" ] || [ "$v" = "(none)" ]; then
		echo "fetch-photos: package $1 is not available from apt" >&2
		return 1
	fi
	echo "$v"
}

# unpack PKG downloads PKG and extracts it under $work/PKG.
unpack() {
	local pkg=$1
	mkdir -p "$work/deb-$pkg" "$work/$pkg"
	(cd "$work/deb-$pkg" && apt-get download -q "$pkg" </dev/null >/dev/null 2>"$work/apt-$pkg.log") || {
		cat "$work/apt-$pkg.log" >&2
		echo "fetch-photos: apt-get download $pkg failed" >&2
		return 1
	}
	dpkg -x "$work/deb-$pkg"/*.deb "$work/$pkg"
}

# put SRC DSTFILE copies SRC to DSTFILE through a temporary name.
put() {
	if [ ! -f "$1" ]; then
		echo "fetch-photos: missing $1 in the package" >&2
		return 1
	fi
	cp "$1" "$2.part"
	mv -f "$2.part" "$2"
}

# fetch PKG COPYFN: unpacks PKG and calls COPYFN ROOT OUT unless done.
fetch() {
	local pkg=$1 copyfn=$2 v out
	v=$(version "$pkg")
	out="$dest/$pkg"
	if [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "$v" ]; then
		echo "fetch-photos: $pkg $v already in $out"
		return 0
	fi
	echo "fetch-photos: fetching $pkg $v"
	unpack "$pkg"
	mkdir -p "$out"
	rm -f "$out/.complete"
	put "$work/$pkg/usr/share/doc/$pkg/copyright" "$out/copyright"
	"$copyfn" "$work/$pkg" "$out"
	echo "$v" >"$out/.complete"
}

copy_plasma() {
	local n
	for n in $plasma_photos; do
		put "$1/usr/share/wallpapers/$n/contents/images/2560x1600.jpg" "$2/$n.jpg"
		put "$1/usr/share/wallpapers/$n/metadata.json" "$2/$n.metadata.json"
	done
}

copy_lomiri16() {
	local n f
	for n in $lomiri16_photos; do
		f=$(ls "$1/usr/share/backgrounds/${n}"_by_*.jpg 2>/dev/null | head -n 1)
		if [ -z "$f" ]; then
			echo "fetch-photos: no ${n}_by_*.jpg in lomiri-wallpapers-16.04" >&2
			return 1
		fi
		put "$f" "$2/$(basename "$f")"
	done
}

copy_lomiri20() {
	local n
	for n in $lomiri20_photos; do
		put "$1/usr/share/backgrounds/$n.jpg" "$2/$n.jpg"
	done
}

copy_mate() {
	local f count=0
	for f in "$1"/usr/share/backgrounds/mate/nature/*.jpg; do
		put "$f" "$2/$(basename "$f")"
		count=$((count + 1))
	done
	if [ "$count" -eq 0 ]; then
		echo "fetch-photos: no photos in mate-backgrounds" >&2
		return 1
	fi
	put "$1/usr/share/mate-background-properties/mate-nature.xml" "$2/mate-nature.xml"
}

fetch plasma-workspace-wallpapers copy_plasma
fetch lomiri-wallpapers-16.04 copy_lomiri16
fetch lomiri-wallpapers-20.04 copy_lomiri20
fetch mate-backgrounds copy_mate

n=$(find "$dest" -name '*.jpg' | wc -l)
size=$(du -sh "$dest" | cut -f1)
echo "fetch-photos: $n photographs in $dest ($size)"
