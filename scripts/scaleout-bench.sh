#!/bin/sh
# Scale-out benchmark: throughput of pssr serve --nats embedded with 1 and 2
# pssr worker processes, each held to one core, on a 100-frame clip, next
# to a one-core pssr upscale. Writes docs/results/scaleout.json.
set -eu
cd "$(dirname "$0")/.."
out="${1:-$PWD/docs/results/scaleout.json}"
GOEXPERIMENT=simd PSSR_SCALEOUT_BENCH="$out" go test -count=1 -run '^TestScaleOutBench$' -v ./cmd/pssr/
echo "wrote $out"
