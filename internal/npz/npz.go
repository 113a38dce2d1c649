// Package npz reads NumPy .npy arrays and .npz archives (a zip file of .npy
// members) holding little-endian float32 or float64 arrays in C order, the
// form in which the project receives third-party weights before converting
// them to safetensors.
package npz

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ErrFormat reports a member that is not a .npy array this package can read.
var ErrFormat = errors.New("npz: unsupported or malformed .npy data")

// Array is one array: its shape and its values in row-major order, converted
// to float32.
type Array struct {
	// Shape lists the dimensions; empty for a scalar.
	Shape []int
	// Data holds prod(Shape) values.
	Data []float32
}

// ReadFile reads every member of the .npz archive at path, keyed by member
// name without the ".npy" suffix.
func ReadFile(path string) (map[string]Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("npz: open %s: %w", path, err)
	}
	defer zr.Close()
	out := make(map[string]Array, len(zr.File))
	for _, f := range zr.File {
		name := strings.TrimSuffix(f.Name, ".npy")
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("npz: %s: member %s: %w", path, f.Name, err)
		}
		a, err := ReadNPY(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("npz: %s: member %s: %w", path, f.Name, err)
		}
		out[name] = a
	}
	return out, nil
}

// Names returns the keys of m in sorted order.
func Names(m map[string]Array) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

var (
	descrRe   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	fortranRe = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	shapeRe   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ReadNPY reads one .npy array (format versions 1 to 3) of dtype '<f4' or
// '<f8' in C order.
func ReadNPY(r io.Reader) (Array, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return Array{}, fmt.Errorf("npz: read: %w", err)
	}
	if len(raw) < 10 || !bytes.Equal(raw[:6], []byte("\x93NUMPY")) {
		return Array{}, fmt.Errorf("%w: no .npy magic", ErrFormat)
	}
	major := raw[6]
	var hlen, off int
	switch major {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(raw[8:10])), 10
	case 2, 3:
		if len(raw) < 12 {
			return Array{}, fmt.Errorf("%w: truncated header", ErrFormat)
		}
		hlen, off = int(binary.LittleEndian.Uint32(raw[8:12])), 12
	default:
		return Array{}, fmt.Errorf("%w: format version %d", ErrFormat, major)
	}
	if off+hlen > len(raw) {
		return Array{}, fmt.Errorf("%w: truncated header", ErrFormat)
	}
	header, body := string(raw[off:off+hlen]), raw[off+hlen:]

	m := descrRe.FindStringSubmatch(header)
	if m == nil {
		return Array{}, fmt.Errorf("%w: header without descr: %q", ErrFormat, header)
	}
	descr := m[1]
	if f := fortranRe.FindStringSubmatch(header); f == nil || f[1] != "False" {
		return Array{}, fmt.Errorf("%w: only C-order arrays are supported", ErrFormat)
	}
	s := shapeRe.FindStringSubmatch(header)
	if s == nil {
		return Array{}, fmt.Errorf("%w: header without shape: %q", ErrFormat, header)
	}
	shape := []int{}
	n := 1
	for _, part := range strings.Split(s[1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := strconv.Atoi(part)
		if err != nil || d < 0 {
			return Array{}, fmt.Errorf("%w: bad dimension %q", ErrFormat, part)
		}
		shape = append(shape, d)
		n *= d
	}

	var size int
	switch descr {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	default:
		return Array{}, fmt.Errorf("%w: dtype %q (want <f4 or <f8)", ErrFormat, descr)
	}
	if len(body) != n*size {
		return Array{}, fmt.Errorf("%w: %d data bytes for shape %v of %s", ErrFormat, len(body), shape, descr)
	}
	data := make([]float32, n)
	for i := range data {
		if size == 4 {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		} else {
			data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:])))
		}
	}
	return Array{Shape: shape, Data: data}, nil
}
