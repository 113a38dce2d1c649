package main

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
)

// deviceOpsHelp is the help text of --device-ops (upscale, bench).
const deviceOpsHelp = `where the resize, padding, frequency update and crop run: "device" (inside the compiled graphs; fast on a GPU), "host" (on the CPU), or "auto" (device on XLA, host on the pure-Go backend)`

// parseDeviceOps resolves --device-ops for a backend.
func parseDeviceOps(v string, be compute.Backend) (bool, error) {
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

// tileHelp is the help text of --tile (upscale, bench).
const tileHelp = "spatial tile side in output pixels (0: whole frames; default 768, or 2048 with the device path)"
