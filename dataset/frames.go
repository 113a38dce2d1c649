package dataset

import (
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // JPEG decoding for imageSize
	_ "image/png"  // PNG decoding for imageSize
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoFrames means a folder holds no PNG or JPEG images.
var ErrNoFrames = errors.New("no PNG/JPEG frames")

// isImageFile reports whether name has a PNG or JPEG extension.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// LoadFrames returns the paths of the PNG and JPEG files directly inside
// dir (extensions matched case-insensitively, hidden files skipped), in
// natural order: digit runs compare by value, so "f2.png" comes before
// "f10.png". It fails with an error wrapping ErrNoFrames when there are
// none.
func LoadFrames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load frames: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && isImageFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("load frames from %s: %w", dir, ErrNoFrames)
	}
	sortNatural(names)
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	return paths, nil
}

// sortNatural sorts names in natural order, breaking ties ("f2", "f02")
// by plain byte order so the result is total and deterministic.
func sortNatural(names []string) {
	slices.SortFunc(names, func(a, b string) int {
		if c := naturalCompare(a, b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// naturalCompare compares a and b treating each maximal run of ASCII
// digits as one number.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na := strings.TrimLeft(a[:da], "0")
			nb := strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) - len(nb)
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

// digitPrefix returns the length of the run of digits s starts with.
func digitPrefix(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// imageSize reads the size of a PNG or JPEG file from its header.
func imageSize(path string) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("decode %s: %w", path, err)
	}
	return cfg.Width, cfg.Height, nil
}
