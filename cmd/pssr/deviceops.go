package main

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/backends"
)

// deviceOpsHelp is the help text of --device-ops (upscale, bench).
const deviceOpsHelp = `where the resize, padding, frequency update and crop run: "device" (inside the compiled graphs; fast on a GPU), "host" (on the CPU), or "auto" (device on XLA, host on the pure-Go backend)`

// parseDeviceOps resolves --device-ops for a backend.
func parseDeviceOps(v string, be backends.Backend) (bool, error) {
	switch v {
	case "device":
		return true, nil
	case "host":
		return false, nil
	case "auto", "":
		return strings.HasPrefix(be.Name(), "xla"), nil
	}
	return false, fmt.Errorf("--device-ops %q: want auto, device or host", v)
}
