#!/usr/bin/env bash
# build-gpu.sh OUT [PKG]: builds the Go package PKG (default ./cmd/pssr) of
# this repository twice:
#
#   OUT          a normal build
#   OUT-hdr113   the same program with go-xla's PJRT C API header (0.83 in
#                go-xla v0.1, 0.104 in v0.4) patched so PJRT_ExecuteOptions
#                and PJRT_Executable_GetCompiledMemoryStats_Args have the
#                trailing fields of PJRT C API 0.113, then 64 reserved zero
#                bytes. Newer CUDA plugins (jax 0.10+) check that a struct is
#                at least as large as theirs and reject smaller ones
#                ("Unexpected PJRT_ExecuteOptions size"); go-xla zero-fills
#                its argument structs, so the extra fields read as defaults,
#                and plugins that know fewer fields ignore the rest.
#
# The patched build happens in a temporary copy of the working tree (tracked
# and untracked, not ignored, files) with `go mod vendor`; the repository
# itself is never modified and no vendor/ directory is left behind.
# Both binaries dlopen the PJRT plugin at run time and link only libc, so
# build them where the Go module proxy is reachable and carry them to the GPU
# machine. Extra `go build` flags can be passed in GO_BUILD_FLAGS
# (e.g. GO_BUILD_FLAGS='-trimpath -ldflags=-s').
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT [PKG]   (PKG defaults to ./cmd/pssr)" >&2
  exit 2
fi
out="$1"
pkg="${2:-./cmd/pssr}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
repo="$(cd "$(dirname "$0")/.." && pwd -P)"
read -r -a flags <<<"${GO_BUILD_FLAGS:-}"
export GOWORK=off GOFLAGS=
# The SIMD kernels of the pure-Go backend (used when XLA is not) need this.
export GOEXPERIMENT=simd

mkdir -p "$(dirname "$out")"
echo "build-gpu: $pkg -> $out" >&2
(cd "$repo" && go build "${flags[@]}" -o "$out" "$pkg")

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pssr-build-gpu.XXXXXX")"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
src="$tmp/src"
mkdir -p "$src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Files as a build sees them: tracked and untracked-but-not-ignored ones
  # that exist (a tracked file may have been deleted), without any vendor/.
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do
      case "$f" in vendor/*) continue ;; esac
      [ -f "$f" ] && printf '%s\0' "$f"
    done | tar --null -T - -cf -) | tar -C "$src" -xf -
else
  (cd "$repo" && tar --exclude=./.git --exclude=./vendor -cf - .) | tar -C "$src" -xf -
fi

# -e: keep going past packages of the module that do not load (work in
# progress elsewhere in the tree); the build of $pkg below still checks its own.
(cd "$src" && go mod vendor -e)

hdr="$src/vendor/github.com/gomlx/go-xla/pjrt/pjrt_c_api.h"
if [ ! -f "$hdr" ]; then
  echo "build-gpu: $pkg does not use go-xla ($hdr not vendored); nothing to patch" >&2
  exit 1
fi
chmod u+w "$hdr"
set +e
python3 - "$hdr" <<'PY'
import re, sys

path = sys.argv[1]
text = open(path).read()

def extend(text, struct, last, new_fields):
    """Appends new_fields after the last field of struct and points its
    PJRT_DEFINE_STRUCT_TRAITS at the new last field."""
    pat = re.compile(
        r"(struct " + struct + r" \{.*?\n  [^\n]*\b" + last + r";[^\n]*\n)(\};\n"
        r"PJRT_DEFINE_STRUCT_TRAITS\(" + struct + r",\s*)" + last + r"\);", re.S)
    m = pat.search(text)
    if not m:
        sys.stderr.write("build-gpu: struct %s does not end in %s in %s\n" % (struct, last, path))
        sys.exit(3)
    added = "".join("  %s;\n" % f for f in new_fields)
    new_last = new_fields[-1].split()[-1].lstrip("*").split("[")[0]
    return text[:m.start()] + m.group(1) + added + m.group(2) + new_last + ");" + text[m.end():]

# The fields each struct gains up to PJRT 0.113, after the last field it may
# end in (0.83: go-xla v0.1; 0.104: go-xla v0.4), then a reserve for plugins
# newer still (a larger struct passes their size check).
exec_fields = [
    ("incarnation_ids", "void* multi_slice_config"),
    ("multi_slice_config", "bool use_major_to_minor_data_layout_for_callbacks"),
    (None, "void* hlo_output_callbacks"),
    (None, "size_t num_hlo_output_callbacks"),
]
stats_fields = [
    ("peak_memory_in_bytes", "int64_t total_size_in_bytes"),
    (None, "int64_t total_allocation_bytes"),
    (None, "int64_t indefinite_allocations"),
    ("peak_unpadded_heap_bytes", "int64_t peak_unpadded_heap_bytes"),
]
def patch(text, struct, fields):
    for i, (last, _) in enumerate(fields):
        if last is None:
            continue
        if re.search(r"PJRT_DEFINE_STRUCT_TRAITS\(" + struct + r",\s*" + last + r"\);", text):
            rest = [f for _, f in fields[i:]]
            if rest and rest[0].split()[-1] == last:
                rest = rest[1:]
            return extend(text, struct, last, rest + ["char pssr_reserved[64]"])
    sys.stderr.write("build-gpu: struct %s ends in no known field in %s\n" % (struct, path))
    sys.exit(3)
text = patch(text, "PJRT_ExecuteOptions", exec_fields)
text = patch(text, "PJRT_Executable_GetCompiledMemoryStats_Args", stats_fields)
open(path, "w").write(text)
PY
rc=$?
set -e
if [ "$rc" -eq 3 ]; then
  echo "build-gpu: this go-xla's PJRT header has another layout; built only $out (no -hdr113 variant)" >&2
  exit 0
elif [ "$rc" -ne 0 ]; then
  exit "$rc"
fi

echo "build-gpu: $pkg -> $out-hdr113 (PJRT header patched to 0.113 struct sizes)" >&2
(cd "$src" && go build -mod=vendor "${flags[@]}" -o "$out-hdr113" "$pkg")
echo "build-gpu: built $out and $out-hdr113" >&2
