// Package searchdirs lists the folders in which pssr looks for its bundled
// files (models, LPIPS weights) when no path is given.
package searchdirs

import (
	"os"
	"path/filepath"
)

// Dirs returns, in order, the executable's folder and its parent, then the
// current directory and each of its parents up to the root (so that `go
// run` and `go test` inside a source checkout find the checkout's files).
func Dirs() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		dirs = append(dirs, d, filepath.Dir(d))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return dirs
}
