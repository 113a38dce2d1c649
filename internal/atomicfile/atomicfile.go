// Package atomicfile writes files so that a reader sees either the old
// content or the complete new one, never a partial file.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
)

// Write creates or replaces path with what write writes. The content goes
// through a buffer into a temporary file in the same folder, named
// "."+base+".tmp-*" (hidden, so folder scans pass it over), which is made
// mode 0644, synced and renamed over path. When write or any step fails,
// the temporary file is removed, path is left as it was, and the error is
// returned as is (a missing folder gives an error matching
// fs.ErrNotExist).
func Write(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriter(f)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
