package main

import (
	"log/slog"

	"github.com/gomlx/compute"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/ort"
)

// runtimeHelp is the help of --runtime.
const runtimeHelp = `runtime of the networks: "go" (GoMLX on --backend), "ort" (ONNX Runtime on the CPU; install it with scripts/install-onnxruntime.sh), "ort-int8" (ONNX Runtime with int8 dense products) or "auto" (ort when the library is found and --backend is the pure-Go one, else go)`

// selectRuntime resolves --runtime and logs the choice (and why auto fell
// back, when it did).
func selectRuntime(log *slog.Logger, spec string, be compute.Backend) (netrun.Runtime, error) {
	rt, note, err := ort.Select(spec, be, ort.Options{})
	if err != nil {
		return nil, err
	}
	if note != "" {
		log.Warn(note)
	}
	attrs := []any{"runtime", rt.Name(), "requested", spec}
	if rt.Name() == ort.RuntimeORT || rt.Name() == ort.RuntimeORTInt8 {
		attrs = append(attrs, "onnxruntime", ort.Version())
	}
	log.Info("runtime", attrs...)
	return rt, nil
}
