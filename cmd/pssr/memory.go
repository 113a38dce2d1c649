package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// maxMemoryHelp is the help text of --max-memory.
const maxMemoryHelp = "memory budget of the host path, e.g. 8G or 512M; the window, then the tile, shrink to fit it unless set with --window-t / --tile (0: no budget; default: half the machine's memory)"

// parseBytes reads a byte count with an optional K, M, G or T suffix
// (binary, an optional trailing B or iB): "8G", "512MiB", "1.5g", "0".
func parseBytes(flag, s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<62 || v != v {
		return 0, fmt.Errorf("%s %q: want a size such as 8G or 512M, or 0", flag, s)
	}
	return int64(v * float64(mult)), nil
}

// defaultMemoryBudget is half of the machine's memory (MemTotal of
// /proc/meminfo), or 0 (no budget) where that cannot be read.
func defaultMemoryBudget() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fs := strings.Fields(v)
			if len(fs) == 2 && fs[1] == "kB" {
				if kb, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
					return kb << 10 / 2
				}
			}
		}
	}
	return 0
}
