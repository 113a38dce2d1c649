package ort

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/pssr/pssr/netrun"
)

// The --runtime values.
const (
	RuntimeAuto = "auto"
	RuntimeGo   = "go"
	RuntimeORT  = "ort"
	// RuntimeORTInt8 is ONNX Runtime with the dense products in int8
	// (Options.Int8).
	RuntimeORTInt8 = "ort-int8"
)

// ErrRuntimeSpec is wrapped by Select's error for an unknown --runtime.
var ErrRuntimeSpec = errors.New("unknown runtime (want auto, go, ort or ort-int8)")

// Select resolves a --runtime value for the GoMLX backend be:
//
//   - "go": the networks run on be through GoMLX (the pure-Go backend, or
//     XLA when --backend says so);
//   - "ort": on ONNX Runtime's CPU provider; an error when the library is
//     missing or does not load;
//   - "ort-int8": the same with the dense products in int8 (Options.Int8
//     set; it overrides opt's);
//   - "auto" (or ""): ONNX Runtime when be is GoMLX's pure-Go backend and
//     the library is found (FindLibrary) and loads, since on the CPU it is
//     the faster runtime for every network (`pssr bench-runtimes`, recorded
//     in docs/benchmarks.md); otherwise be, with a note saying why. On an
//     XLA backend (a GPU) auto keeps XLA.
//
// The note is empty when nothing needs saying.
func Select(spec string, be compute.Backend, opt Options) (rt netrun.Runtime, note string, err error) {
	goRT := netrun.GoMLX{Backend: be}
	switch spec {
	case RuntimeGo:
		return goRT, "", nil
	case RuntimeORT, RuntimeORTInt8:
		opt.Int8 = spec == RuntimeORTInt8
		lib, err := FindLibrary()
		if err != nil {
			return nil, "", err
		}
		r, err := NewRuntime(lib, opt)
		if err != nil {
			return nil, "", err
		}
		return r, "", nil
	case RuntimeAuto, "":
		if be != nil && be.String() != "go" {
			return goRT, fmt.Sprintf("runtime auto: the %s backend runs the networks (ONNX Runtime is used only in place of the pure-Go backend)", be.String()), nil
		}
		lib, err := FindLibrary()
		if err != nil {
			return goRT, fmt.Sprintf("runtime auto: %v; running on the pure-Go runtime", err), nil
		}
		r, err := NewRuntime(lib, opt)
		if err != nil {
			return goRT, fmt.Sprintf("runtime auto: %v; running on the pure-Go runtime", err), nil
		}
		return r, "", nil
	}
	return nil, "", fmt.Errorf("--runtime %q: %w", spec, ErrRuntimeSpec)
}
