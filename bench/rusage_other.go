//go:build !linux

package bench

// childUsage is not implemented outside Linux (ru_maxrss has other units).
func childUsage() usage { return usage{} }
