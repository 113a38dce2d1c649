#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that `pssr --runtime ort|auto`
# loads: libonnxruntime.so.1 of ONNX Runtime 1.24.3 (the C API version the
# Go binding github.com/yalue/onnxruntime_go v1.27.0 was written for), taken
# from the npm package onnxruntime-node@1.24.3, which ships the official
# Linux build under bin/napi-v*/linux/<arch>/.
#
# No arguments. Safe to run twice: an existing library with the right
# checksum is kept. Installs to /usr/local/lib/pssr when run as root and to
# $HOME/.local/lib/pssr otherwise (both are searched by pssr; see
# ort.DefaultLibraryPaths), or to $PSSR_ORT_PREFIX when set. The package's
# package.json and README.md, and a LICENSE file with the MIT licence that
# package.json names, are kept next to the library.
#
# Needs npm (node) and tar; on Debian, run as root, npm is installed with apt
# when missing.
set -euo pipefail

VERSION=1.24.3
PKG="onnxruntime-node@${VERSION}"

if [ -n "${PSSR_ORT_PREFIX:-}" ]; then
	DEST="$PSSR_ORT_PREFIX"
elif [ "$(id -u)" -eq 0 ]; then
	DEST=/usr/local/lib/pssr
else
	DEST="${HOME:?HOME is not set}/.local/lib/pssr"
fi

case "$(uname -m)" in
x86_64 | amd64) ARCH=x64 ;;
aarch64 | arm64) ARCH=arm64 ;;
*)
	echo "install-onnxruntime: unsupported machine $(uname -m) (want x86_64 or aarch64)" >&2
	exit 1
	;;
esac
if [ "$(uname -s)" != Linux ]; then
	echo "install-onnxruntime: only Linux is supported (found $(uname -s))" >&2
	exit 1
fi

stamp="$DEST/onnxruntime-node-${VERSION}.sha256"
if [ -f "$DEST/libonnxruntime.so.1" ] && [ -f "$stamp" ] &&
	(cd "$DEST" && sha256sum --status -c "$stamp"); then
	echo "install-onnxruntime: ONNX Runtime ${VERSION} already in $DEST"
	exit 0
fi

if ! command -v npm >/dev/null; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
	else
		echo "install-onnxruntime: npm is missing (install node and npm, e.g. apt-get install npm)" >&2
		exit 1
	fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PKG" >/dev/null)
tarball="$(ls "$work"/onnxruntime-node-*.tgz)"
tar -xzf "$tarball" -C "$work" package/package.json package/README.md
lib="$(tar -tzf "$tarball" | grep -E "^package/bin/napi-v[0-9]+/linux/${ARCH}/libonnxruntime\.so\.1$" | head -n 1)"
if [ -z "$lib" ]; then
	echo "install-onnxruntime: $PKG has no linux/${ARCH} libonnxruntime.so.1" >&2
	exit 1
fi
tar -xzf "$tarball" -C "$work" "$lib"

mkdir -p "$DEST"
# Write through temporary names and rename, so a process that has the old
# library mapped keeps a valid file and an interrupted run leaves no half file.
install -m 0644 "$work/$lib" "$DEST/.libonnxruntime.so.1.tmp"
mv -f "$DEST/.libonnxruntime.so.1.tmp" "$DEST/libonnxruntime.so.1"
install -m 0644 "$work/package/package.json" "$DEST/onnxruntime-node.package.json"
install -m 0644 "$work/package/README.md" "$DEST/onnxruntime-node.README.md"
cat >"$DEST/LICENSE.onnxruntime" <<'EOF'
libonnxruntime.so.1 is ONNX Runtime 1.24.3 as shipped in the npm package
onnxruntime-node@1.24.3, whose package.json gives its licence as "MIT"
(see onnxruntime-node.package.json and onnxruntime-node.README.md here, and
https://github.com/microsoft/onnxruntime/blob/main/LICENSE).

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
EOF
(cd "$DEST" && sha256sum libonnxruntime.so.1 >"$stamp")
echo "install-onnxruntime: installed ONNX Runtime ${VERSION} (linux/${ARCH}) to $DEST/libonnxruntime.so.1"
