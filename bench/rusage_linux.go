package bench

import (
	"syscall"
	"time"
)

// childUsage reads getrusage(RUSAGE_CHILDREN); Linux gives ru_maxrss in KiB.
func childUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return usage{}
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return usage{ok: true, maxRSS: int64(ru.Maxrss) << 10, cpu: cpu}
}
