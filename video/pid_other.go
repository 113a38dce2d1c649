//go:build !unix

package video

// processAlive cannot tell on this system; it reports true, so a temporary
// output is never taken for stale and removed while its writer runs.
func processAlive(pid int) bool { return true }
