// Package weights stores model parameters as safetensors files that also carry
// the model's configuration and free-form metadata (model name, training
// command, step, git commit, ...).
//
// A file written by Save is an ordinary safetensors file: an 8-byte
// little-endian header length, a JSON header and the raw tensor data. The
// header's "__metadata__" object holds the model configuration as a JSON
// string under "pssr.config", the format tag under "pssr.format" and every
// other metadata entry as given. Tensors are stored as little-endian F32,
// sorted by name, so any safetensors reader can open the file.
//
// Writing goes through github.com/nlpodyssey/safetensors. Load reads and
// checks the 8-byte header length and the JSON header first (ReadHeader
// stops there), then reads the tensors one at a time, so damaged or
// hostile files give specific errors early and without being read whole:
// missing file, not a regular file, not a safetensors file, truncated
// data, bad header JSON or a safetensors file that is not a pssr weights
// file.
package weights

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nlpodyssey/safetensors"
)

const (
	// FormatV1 is the format tag Save writes when File.Format is empty.
	FormatV1 = "pssr-weights/1"

	// ConfigKey is the "__metadata__" key holding the model configuration JSON.
	ConfigKey = "pssr.config"

	// FormatKey is the "__metadata__" key holding File.Format.
	FormatKey = "pssr.format"

	// maxHeaderLen is the largest JSON header accepted, the same bound the
	// safetensors library applies.
	maxHeaderLen = 100_000_000
)

// Errors that Load and Check wrap; test for them with errors.Is.
var (
	// ErrNotSafetensors means the file does not start with a plausible safetensors header.
	ErrNotSafetensors = errors.New("not a safetensors file")
	// ErrTruncated means the file ends before the header or the tensor data it describes.
	ErrTruncated = errors.New("file truncated")
	// ErrBadHeader means the JSON header is malformed or describes the data inconsistently.
	ErrBadHeader = errors.New("bad safetensors header")
	// ErrNoConfig means the file is a valid safetensors file without a "pssr.config" entry.
	ErrNoConfig = errors.New("no pssr.config in metadata")
	// ErrDType means a tensor has a data type that cannot be read as float32.
	ErrDType = errors.New("unsupported dtype")
	// ErrMismatch is matched by the *MismatchError that Check returns.
	ErrMismatch = errors.New("weights do not match the model")
)

// Tensor is one named array of parameters. Data holds the values in row-major
// order as float32, whatever the dtype stored in the file.
type Tensor struct {
	// Name is the tensor's key in the file, e.g. "base/block_0/attn/q/weights".
	Name string
	// DType is the dtype in the file: "F32", or "BF16" or "F16" for files
	// converted on load. Save accepts only "F32" (or "" meaning F32).
	DType string
	// Shape lists the dimensions; an empty shape is a scalar.
	Shape []int
	// Data holds prod(Shape) values.
	Data []float32
}

// File is the content of a weights file.
type File struct {
	// Format is a version tag such as FormatV1.
	Format string
	// Config is the model configuration, as JSON.
	Config json.RawMessage
	// Metadata holds free-form string entries; the keys ConfigKey and
	// FormatKey are reserved.
	Metadata map[string]string
	// Tensors lists the parameters; Load returns them sorted by name.
	Tensors []Tensor
}

// Spec describes a tensor a model expects.
type Spec struct {
	// Name is the tensor's name.
	Name string
	// Shape is the expected shape.
	Shape []int
}

// MismatchError lists every difference Check found between a file and a model.
type MismatchError struct {
	// Problems holds one complete message per difference.
	Problems []string
}

// Error returns the problems, one per line.
func (e *MismatchError) Error() string { return strings.Join(e.Problems, "\n") }

// Is reports whether target is ErrMismatch.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Get returns the tensor with the given name.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// Check compares the file's tensors with what a model wants: missing and
// unexpected names, shapes, dtypes and data lengths. It returns nil or a
// *MismatchError that lists every problem, one line each, e.g.
//
//	weights: tensor "base/block_0/attn/q/weights": shape [128 128] in file, model wants [96 96]
func (f *File) Check(want []Spec) error {
	var missing, unexpected, wrong []string
	inFile := make(map[string]*Tensor, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if _, dup := inFile[t.Name]; dup {
			wrong = append(wrong, fmt.Sprintf("weights: tensor %q: appears more than once in file", t.Name))
			continue
		}
		inFile[t.Name] = t
	}
	wanted := make(map[string]bool, len(want))
	for _, s := range want {
		if wanted[s.Name] {
			wrong = append(wrong, fmt.Sprintf("weights: tensor %q: listed more than once by the model", s.Name))
			continue
		}
		wanted[s.Name] = true
		t, ok := inFile[s.Name]
		if !ok {
			missing = append(missing, fmt.Sprintf("weights: tensor %q: missing from file (model wants shape %v)", s.Name, s.Shape))
			continue
		}
		if !slices.Equal(t.Shape, s.Shape) {
			wrong = append(wrong, fmt.Sprintf("weights: tensor %q: shape %v in file, model wants %v", s.Name, t.Shape, s.Shape))
		}
		if !floatDType(t.DType) {
			wrong = append(wrong, fmt.Sprintf("weights: tensor %q: dtype %s in file, model wants F32 (or BF16/F16)", s.Name, t.DType))
		}
		if n, ok := numElements(t.Shape); !ok || n != len(t.Data) {
			wrong = append(wrong, fmt.Sprintf("weights: tensor %q: %d values for shape %v", s.Name, len(t.Data), t.Shape))
		}
	}
	for _, t := range f.Tensors {
		if !wanted[t.Name] {
			unexpected = append(unexpected, fmt.Sprintf("weights: tensor %q: in file (shape %v) but not used by the model", t.Name, t.Shape))
		}
	}
	slices.Sort(missing)
	slices.Sort(unexpected)
	slices.Sort(wrong)
	problems := slices.Concat(missing, unexpected, wrong)
	if len(problems) == 0 {
		return nil
	}
	return &MismatchError{Problems: slices.Compact(problems)}
}

// floatDType reports whether a tensor's dtype holds values readable as float32.
func floatDType(d string) bool {
	switch d {
	case "F32", "BF16", "F16":
		return true
	}
	return false
}

// numElements returns the product of the dimensions, false if one is negative
// or the product overflows.
func numElements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// f32View lets the safetensors library serialize a Tensor as little-endian F32.
type f32View struct {
	shape []uint64
	data  []float32
}

func (v f32View) DType() safetensors.DType { return safetensors.F32 }
func (v f32View) Shape() []uint64          { return v.shape }
func (v f32View) DataLen() uint64          { return 4 * uint64(len(v.data)) }

// Data encodes the values; the library asks for it one tensor at a time
// while writing, so only one tensor's bytes are held at once.
func (v f32View) Data() []byte {
	b := make([]byte, 4*len(v.data))
	for i, x := range v.data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// prepare validates f and returns the views and the "__metadata__" entries to write.
func prepare(f *File) (map[string]f32View, map[string]string, error) {
	if f == nil {
		return nil, nil, errors.New("nil File")
	}
	if len(f.Config) == 0 {
		return nil, nil, errors.New("empty Config: every weights file carries its model configuration")
	}
	if !json.Valid(f.Config) {
		return nil, nil, errors.New("Config is not valid JSON")
	}
	meta := make(map[string]string, len(f.Metadata)+2)
	for k, v := range f.Metadata {
		if k == ConfigKey || k == FormatKey {
			return nil, nil, fmt.Errorf("metadata key %q is reserved (set File.Config / File.Format instead)", k)
		}
		meta[k] = v
	}
	meta[ConfigKey] = string(f.Config)
	meta[FormatKey] = f.Format
	if f.Format == "" {
		meta[FormatKey] = FormatV1
	}
	views := make(map[string]f32View, len(f.Tensors))
	for _, t := range f.Tensors {
		switch {
		case t.Name == "" || t.Name == "__metadata__":
			return nil, nil, fmt.Errorf("invalid tensor name %q", t.Name)
		case t.DType != "" && t.DType != "F32":
			return nil, nil, fmt.Errorf("tensor %q: dtype %q: %w (Save writes F32 only)", t.Name, t.DType, ErrDType)
		}
		if _, dup := views[t.Name]; dup {
			return nil, nil, fmt.Errorf("tensor %q appears more than once", t.Name)
		}
		n, ok := numElements(t.Shape)
		if !ok {
			return nil, nil, fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
		}
		if n != len(t.Data) {
			return nil, nil, fmt.Errorf("tensor %q: %d values for shape %v (needs %d)", t.Name, len(t.Data), t.Shape, n)
		}
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		views[t.Name] = f32View{shape: shape, data: t.Data}
	}
	return views, meta, nil
}

// Save writes f to path as a safetensors file. It writes a temporary file in
// the same directory, syncs it and renames it over path, so a crash never
// leaves a partial file at path. An empty f.Format is written as FormatV1.
func Save(path string, f *File) (err error) {
	views, meta, err := prepare(f)
	if err != nil {
		return fmt.Errorf("weights: save %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("weights: save %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = safetensors.SerializeToWriter(views, meta, bw); err != nil {
		return fmt.Errorf("weights: save %s: write: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("weights: save %s: write: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("weights: save %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("weights: save %s: sync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("weights: save %s: close: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("weights: save %s: %w", path, err)
	}
	// Make the rename durable; failing to sync a directory is not an error
	// worth losing the file over (some filesystems refuse it).
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Header is what the JSON header of a weights file says, read without the
// tensor data: enough to check a file against a model before reading or
// building anything.
type Header struct {
	// Format, Config and Metadata are as in File.
	Format   string
	Config   json.RawMessage
	Metadata map[string]string
	// Tensors lists every tensor's name and shape, sorted by name.
	Tensors []Spec
	// DTypes holds each tensor's dtype by name ("F32", "BF16", ...).
	DTypes map[string]string

	infos map[string]safetensors.TensorInfo // offsets, for Load
	base  int64                             // where the tensor data starts
}

// ReadHeader reads and checks the 8-byte header length and the JSON header
// of a weights file, and nothing more: the length must fit the file and
// maxHeaderLen, and the tensors' data offsets must tile the rest of the
// file exactly. A path that is not a regular file (/dev/zero, a FIFO) is
// refused before any read.
func ReadHeader(path string) (*Header, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := readHeader(f, size)
	if err != nil {
		return nil, fmt.Errorf("weights: load %s: %w", path, err)
	}
	return h, nil
}

// Load reads a weights file written by Save, or any safetensors file whose
// metadata has a "pssr.config" entry. F32, BF16 and F16 tensors are converted
// to float32; Tensor.DType keeps the dtype found in the file. The header is
// read and checked first (see ReadHeader); then the tensors are read one at
// a time, so memory holds the float32 values and one tensor's bytes, and a
// file that is not a weights file (a video, /dev/zero) fails without being
// read.
func Load(path string) (*File, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	file, err := load(f, size)
	if err != nil {
		return nil, fmt.Errorf("weights: load %s: %w", path, err)
	}
	return file, nil
}

// openRegular opens path for reading after checking that it is a regular
// file, and returns its size.
func openRegular(path string) (*os.File, int64, error) {
	// The path is already in the messages: keep only the cause, e.g. "no
	// such file or directory" (still matching fs.ErrNotExist).
	cause := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	// Stat before opening: opening a FIFO would block.
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("weights: load %s: %w", path, cause(err))
	}
	if !st.Mode().IsRegular() {
		what := "a folder"
		if !st.IsDir() {
			what = "a device, FIFO or other special file"
		}
		return nil, 0, fmt.Errorf("weights: load %s: %w: it is %s, not a regular file", path, ErrNotSafetensors, what)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("weights: load %s: %w", path, cause(err))
	}
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("weights: load %s: %w: it changed while being opened", path, ErrNotSafetensors)
	}
	return f, st.Size(), nil
}

// load reads a whole weights file of the given size from r.
func load(r io.ReaderAt, size int64) (*File, error) {
	h, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	f := &File{Format: h.Format, Config: h.Config, Metadata: h.Metadata, Tensors: make([]Tensor, 0, len(h.Tensors))}
	var buf []byte
	for _, s := range h.Tensors {
		info := h.infos[s.Name]
		n := info.DataOffsets[1] - info.DataOffsets[0]
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := r.ReadAt(buf, h.base+int64(info.DataOffsets[0])); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %w", ErrTruncated, s.Name, err)
		}
		t, err := toTensor(s.Name, info.DType, s.Shape, buf)
		if err != nil {
			return nil, err
		}
		f.Tensors = append(f.Tensors, t)
	}
	return f, nil
}

// readHeader reads the length prefix and the JSON header from r, a file of
// the given size, and checks the header against the file: plausible length,
// valid JSON, tensor data that exactly fills the rest, a pssr.config entry.
func readHeader(r io.ReaderAt, size int64) (*Header, error) {
	if size < 8 {
		return nil, fmt.Errorf("%w: only %d bytes, shorter than the 8-byte header length", ErrNotSafetensors, size)
	}
	var prefix [8]byte
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n < 2 || n > maxHeaderLen {
		return nil, fmt.Errorf("%w: header length %d is implausible", ErrNotSafetensors, n)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("%w: header length %d runs past the end of the %d-byte file", ErrTruncated, n, size)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	if header[0] != '{' {
		return nil, fmt.Errorf("%w: header does not start with '{'", ErrNotSafetensors)
	}
	var hdr safetensors.Metadata
	if err := json.Unmarshal(header, &hdr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	h := &Header{DTypes: map[string]string{}, infos: map[string]safetensors.TensorInfo{}, base: 8 + int64(n)}
	// The data offsets must tile the data area from 0 with no gap or
	// overlap, and each tensor's bytes must match its shape and dtype.
	infos := hdr.Tensors()
	names := make([]string, 0, len(infos))
	for name := range infos {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		oa, ob := infos[a].DataOffsets, infos[b].DataOffsets
		if oa[0] != ob[0] {
			return cmpUint(oa[0], ob[0])
		}
		if oa[1] != ob[1] {
			return cmpUint(oa[1], ob[1])
		}
		return strings.Compare(a, b)
	})
	var end uint64
	for _, name := range names {
		info := infos[name]
		s, e := info.DataOffsets[0], info.DataOffsets[1]
		if s != end || e < s {
			return nil, fmt.Errorf("%w: tensor %q: data offsets [%d, %d] do not follow the previous tensor's end %d", ErrBadHeader, name, s, e, end)
		}
		end = e
		shape := make([]int, len(info.Shape))
		elems := uint64(1)
		for i, d := range info.Shape {
			if d > math.MaxInt32 {
				return nil, fmt.Errorf("%w: tensor %q: dimension %d too large", ErrBadHeader, name, d)
			}
			shape[i] = int(d)
			if d != 0 && elems > math.MaxInt64/d {
				return nil, fmt.Errorf("%w: tensor %q: shape %v too large", ErrBadHeader, name, info.Shape)
			}
			elems *= d
		}
		if sz := info.DType.Size(); sz == 0 || elems > math.MaxInt64/sz || elems*sz != e-s {
			return nil, fmt.Errorf("%w: tensor %q: %d data bytes for shape %v of %s", ErrBadHeader, name, e-s, info.Shape, info.DType)
		}
		h.Tensors = append(h.Tensors, Spec{Name: name, Shape: shape})
		h.DTypes[name] = info.DType.String()
		h.infos[name] = *info
	}
	have := uint64(size) - 8 - n
	switch {
	case end > have:
		return nil, fmt.Errorf("%w: tensor data needs %d bytes after the header, file has %d", ErrTruncated, end, have)
	case end < have:
		return nil, fmt.Errorf("%w: %d bytes after the end of the tensor data", ErrBadHeader, have-end)
	}
	slices.SortFunc(h.Tensors, func(a, b Spec) int { return strings.Compare(a.Name, b.Name) })
	meta := hdr.Metadata()
	config, ok := meta[ConfigKey]
	if !ok {
		return nil, fmt.Errorf("%w: a safetensors file, but its __metadata__ has no %q entry (not written by pssr?)", ErrNoConfig, ConfigKey)
	}
	if !json.Valid([]byte(config)) {
		return nil, fmt.Errorf("%w: %q is not valid JSON", ErrBadHeader, ConfigKey)
	}
	h.Format = meta[FormatKey]
	h.Config = json.RawMessage(config)
	h.Metadata = make(map[string]string, len(meta))
	for k, v := range meta {
		if k != ConfigKey && k != FormatKey {
			h.Metadata[k] = v
		}
	}
	return h, nil
}

func cmpUint(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// toTensor converts a tensor's little-endian bytes (len(b) matches shape
// and dtype, checked by readHeader) to float32 values.
func toTensor(name string, dtype safetensors.DType, shape []int, b []byte) (Tensor, error) {
	t := Tensor{Name: name, DType: dtype.String(), Shape: shape}
	n, ok := numElements(shape)
	if !ok {
		return Tensor{}, fmt.Errorf("%w: tensor %q: shape %v too large", ErrBadHeader, name, shape)
	}
	switch dtype {
	case safetensors.F32:
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case safetensors.BF16:
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case safetensors.F16:
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = halfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	default:
		return Tensor{}, fmt.Errorf("tensor %q: dtype %s: %w (want F32, BF16 or F16)", name, t.DType, ErrDType)
	}
	return t, nil
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case 0: // zero or subnormal: frac * 2^-24, exact in float32
		v := float32(frac) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// compile-time check that f32View satisfies the library's View.
var _ safetensors.View = f32View{}
