package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// sample returns a small file with awkward values (NaN payload, -0, infinities,
// subnormals) to check the round trip is bit-exact.
func sample() *File {
	return &File{
		Format: FormatV1,
		Config: json.RawMessage(`{"channels":96,"blocks":[2,2],"name":"tiny"}`),
		Metadata: map[string]string{
			"model":   "pssr-tiny",
			"command": "pssr train --steps 10",
			"git":     "3aa85e2",
			"unicode": "é ✓",
			"empty":   "",
		},
		Tensors: []Tensor{
			{Name: "z/last", DType: "F32", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, float32(math.Copysign(0, -1)), 1e-40}},
			{Name: "a/first", Shape: []int{4}, Data: []float32{
				math.Float32frombits(0x7fc00001), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32}},
			{Name: "m/scalar", DType: "F32", Shape: []int{}, Data: []float32{42}},
			{Name: "m/empty", DType: "F32", Shape: []int{0, 5}, Data: []float32{}},
		},
	}
}

func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	in := sample()
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Format != in.Format {
		t.Errorf("format %q, want %q", out.Format, in.Format)
	}
	if string(out.Config) != string(in.Config) {
		t.Errorf("config %s, want %s", out.Config, in.Config)
	}
	if len(out.Metadata) != len(in.Metadata) {
		t.Errorf("metadata %v, want %v", out.Metadata, in.Metadata)
	}
	for k, v := range in.Metadata {
		if out.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, out.Metadata[k], v)
		}
	}
	var names []string
	for _, tt := range out.Tensors {
		names = append(names, tt.Name)
	}
	if want := []string{"a/first", "m/empty", "m/scalar", "z/last"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want sorted %v", names, want)
	}
	for _, w := range in.Tensors {
		g, ok := out.Get(w.Name)
		if !ok {
			t.Fatalf("tensor %q missing", w.Name)
		}
		if g.DType != "F32" || !slices.Equal(g.Shape, w.Shape) || !bitsEqual(g.Data, w.Data) {
			t.Errorf("tensor %q: got %s %v %v, want F32 %v %v", w.Name, g.DType, g.Shape, g.Data, w.Shape, w.Data)
		}
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the saved file", len(entries))
	}
	// Saving again replaces the file.
	in.Metadata["step"] = "2"
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	if out, err = Load(path); err != nil || out.Metadata["step"] != "2" {
		t.Errorf("overwrite: %v, metadata %v", err, out.Metadata)
	}
}

func TestSaveDefaultFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	f := sample()
	f.Format = ""
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Format != FormatV1 {
		t.Errorf("format %q, want %q", out.Format, FormatV1)
	}
}

// TestReadableByLibrary checks that the safetensors library's own reader
// accepts what Save writes.
func TestReadableByLibrary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	in := sample()
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		t.Fatalf("library rejects the file: %v", err)
	}
	if st.Len() != len(in.Tensors) {
		t.Errorf("library sees %d tensors, want %d", st.Len(), len(in.Tensors))
	}
	for _, w := range in.Tensors {
		v, ok := st.Tensor(w.Name)
		if !ok {
			t.Fatalf("library misses %q", w.Name)
		}
		if v.DType() != safetensors.F32 {
			t.Errorf("%q: dtype %v", w.Name, v.DType())
		}
		for i, x := range w.Data {
			if got := binary.LittleEndian.Uint32(v.Data()[4*i:]); got != math.Float32bits(x) {
				t.Errorf("%q[%d]: bits %08x, want %08x", w.Name, i, got, math.Float32bits(x))
			}
		}
	}
	_, md, err := safetensors.ReadMetadata(buf)
	if err != nil {
		t.Fatal(err)
	}
	if md.Metadata()[ConfigKey] != string(in.Config) || md.Metadata()[FormatKey] != FormatV1 || md.Metadata()["git"] != "3aa85e2" {
		t.Errorf("library metadata %v", md.Metadata())
	}
	if hdrLen := binary.LittleEndian.Uint64(buf); hdrLen%8 != 0 {
		t.Errorf("header length %d not 8-aligned", hdrLen)
	}
}

// writeLib writes tensors with the safetensors library itself, to make files
// in dtypes Save does not produce.
func writeLib(t *testing.T, path string, dtype safetensors.DType, shape []uint64, data []byte, meta map[string]string) {
	t.Helper()
	v, err := safetensors.NewTensorView(dtype, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := safetensors.Serialize(map[string]safetensors.TensorView{"w": v}, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func le16(vs ...uint16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func TestLoadHalfPrecision(t *testing.T) {
	meta := map[string]string{ConfigKey: `{}`}
	tests := []struct {
		name  string
		dtype safetensors.DType
		bits  []uint16
		want  []float32
	}{
		{"BF16", safetensors.BF16, []uint16{0x3f80, 0xc000, 0x4049, 0x0000, 0x8000, 0x7f80},
			[]float32{1, -2, 3.140625, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1))}},
		{"F16", safetensors.F16, []uint16{0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x83ff, 0xfc00, 0x8000},
			[]float32{1, -2, 0.5, 65504, 1.0 / (1 << 24), -1023.0 / (1 << 24), float32(math.Inf(-1)), float32(math.Copysign(0, -1))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.safetensors")
			writeLib(t, path, tc.dtype, []uint64{uint64(len(tc.bits))}, le16(tc.bits...), meta)
			f, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			w, _ := f.Get("w")
			if w.DType != tc.name || !bitsEqual(w.Data, tc.want) {
				t.Errorf("got %s %v, want %s %v", w.DType, w.Data, tc.name, tc.want)
			}
			if err := f.Check([]Spec{{Name: "w", Shape: []int{len(tc.bits)}}}); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
	nan := halfToFloat32(0x7e00)
	if !math.IsNaN(float64(nan)) {
		t.Errorf("F16 0x7e00 = %v, want NaN", nan)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := Save(good, sample()); err != nil {
		t.Fatal(err)
	}
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hdrLen := binary.LittleEndian.Uint64(goodBytes)

	withLength := func(n uint64, rest string) []byte {
		b := binary.LittleEndian.AppendUint64(nil, n)
		return append(b, rest...)
	}
	noConfig := filepath.Join(dir, "noconfig.safetensors")
	writeLib(t, noConfig, safetensors.F32, []uint64{1}, make([]byte, 4), map[string]string{"model": "x"})
	i32 := filepath.Join(dir, "i32.safetensors")
	writeLib(t, i32, safetensors.I32, []uint64{2}, make([]byte, 8), map[string]string{ConfigKey: "{}"})
	badConfig := filepath.Join(dir, "badconfig.safetensors")
	writeLib(t, badConfig, safetensors.F32, []uint64{1}, make([]byte, 4), map[string]string{ConfigKey: "{oops"})

	tests := []struct {
		name    string
		bytes   []byte // written to a fresh file; nil means use path as is
		path    string
		wantErr error
		wantMsg string
	}{
		{name: "missing file", path: filepath.Join(dir, "nope.safetensors"), wantErr: fs.ErrNotExist, wantMsg: "no such file"},
		{name: "empty file", bytes: []byte{}, wantErr: ErrNotSafetensors, wantMsg: "only 0 bytes"},
		{name: "garbage", bytes: []byte("this is a PNG, honest, not tensors at all"), wantErr: ErrNotSafetensors, wantMsg: "implausible"},
		{name: "header not an object", bytes: withLength(4, "[1,2"), wantErr: ErrNotSafetensors, wantMsg: "'{'"},
		{name: "header length beyond file", bytes: withLength(1000, `{"__metadata__":{}}`), wantErr: ErrTruncated, wantMsg: "runs past the end"},
		{name: "bad header JSON", bytes: withLength(10, `{"a": tru}`), wantErr: ErrBadHeader},
		{name: "truncated data", bytes: goodBytes[:len(goodBytes)-5], wantErr: ErrTruncated, wantMsg: "tensor data needs"},
		{name: "truncated in header", bytes: goodBytes[:8+hdrLen/2], wantErr: ErrTruncated, wantMsg: "runs past the end"},
		{name: "trailing bytes", bytes: append(slices.Clone(goodBytes), 1, 2, 3), wantErr: ErrBadHeader, wantMsg: "3 bytes after"},
		{name: "missing pssr.config", path: noConfig, wantErr: ErrNoConfig, wantMsg: "pssr.config"},
		{name: "config not JSON", path: badConfig, wantErr: ErrBadHeader, wantMsg: "not valid JSON"},
		{name: "wrong dtype", path: i32, wantErr: ErrDType, wantMsg: "dtype I32"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if tc.bytes != nil {
				path = filepath.Join(dir, "case"+string(rune('a'+i))+".safetensors")
				if err := os.WriteFile(path, tc.bytes, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded with %d tensors, want error", len(f.Tensors))
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q does not match %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q should mention %q and the path", err, tc.wantMsg)
			}
		})
	}
}

func TestSaveErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(f *File)
		wantMsg string
	}{
		{"no config", func(f *File) { f.Config = nil }, "empty Config"},
		{"config not JSON", func(f *File) { f.Config = json.RawMessage("{") }, "not valid JSON"},
		{"reserved metadata key", func(f *File) { f.Metadata[ConfigKey] = "{}" }, "reserved"},
		{"duplicate tensor", func(f *File) { f.Tensors = append(f.Tensors, f.Tensors[0]) }, "more than once"},
		{"data length", func(f *File) { f.Tensors[0].Data = f.Tensors[0].Data[1:] }, "5 values for shape [2 3]"},
		{"negative dim", func(f *File) { f.Tensors[0].Shape = []int{-1, 2} }, "invalid shape"},
		{"non-F32 dtype", func(f *File) { f.Tensors[0].DType = "BF16" }, "F32 only"},
		{"empty name", func(f *File) { f.Tensors[0].Name = "" }, "invalid tensor name"},
		{"no directory", nil, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "w.safetensors")
			f := sample()
			if tc.edit != nil {
				tc.edit(f)
			} else {
				path = filepath.Join(dir, "missing", "w.safetensors")
			}
			err := Save(path, f)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Save error %v, want one containing %q", err, tc.wantMsg)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("failed Save left %d files behind", len(entries))
			}
		})
	}
}

func TestCheck(t *testing.T) {
	base := func() *File {
		return &File{Config: json.RawMessage(`{}`), Tensors: []Tensor{
			{Name: "base/block_0/attn/q/weights", DType: "F32", Shape: []int{128, 128}, Data: make([]float32, 128*128)},
			{Name: "head/bias", DType: "F32", Shape: []int{3}, Data: make([]float32, 3)},
		}}
	}
	specs := []Spec{{Name: "base/block_0/attn/q/weights", Shape: []int{128, 128}}, {Name: "head/bias", Shape: []int{3}}}
	tests := []struct {
		name  string
		edit  func(f *File) []Spec
		wants []string // each must appear as a full line of the error
	}{
		{"match", func(f *File) []Spec { return specs }, nil},
		{"shape mismatch", func(f *File) []Spec {
			return []Spec{{Name: "base/block_0/attn/q/weights", Shape: []int{96, 96}}, specs[1]}
		}, []string{`weights: tensor "base/block_0/attn/q/weights": shape [128 128] in file, model wants [96 96]`}},
		{"missing tensor", func(f *File) []Spec {
			return append(slices.Clone(specs), Spec{Name: "head/weights", Shape: []int{3, 8}})
		}, []string{`weights: tensor "head/weights": missing from file (model wants shape [3 8])`}},
		{"unexpected tensor", func(f *File) []Spec {
			f.Tensors = append(f.Tensors, Tensor{Name: "old/extra", DType: "F32", Shape: []int{2}, Data: []float32{1, 2}})
			return specs
		}, []string{`weights: tensor "old/extra": in file (shape [2]) but not used by the model`}},
		{"wrong dtype", func(f *File) []Spec {
			f.Tensors[1].DType = "I32"
			return specs
		}, []string{`weights: tensor "head/bias": dtype I32 in file, model wants F32 (or BF16/F16)`}},
		{"data length", func(f *File) []Spec {
			f.Tensors[1].Data = f.Tensors[1].Data[:2]
			return specs
		}, []string{`weights: tensor "head/bias": 2 values for shape [3]`}},
		{"everything at once", func(f *File) []Spec {
			f.Tensors = append(f.Tensors, Tensor{Name: "old/extra", DType: "F32", Shape: []int{1}, Data: []float32{1}})
			f.Tensors[1].DType = "U8"
			return []Spec{{Name: "base/block_0/attn/q/weights", Shape: []int{96, 96}}, specs[1], {Name: "new/w", Shape: []int{4}}}
		}, []string{
			`weights: tensor "new/w": missing from file (model wants shape [4])`,
			`weights: tensor "old/extra": in file (shape [1]) but not used by the model`,
			`weights: tensor "base/block_0/attn/q/weights": shape [128 128] in file, model wants [96 96]`,
			`weights: tensor "head/bias": dtype U8 in file, model wants F32 (or BF16/F16)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			err := f.Check(tc.edit(f))
			if tc.wants == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("error %v is not ErrMismatch", err)
			}
			var me *MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not *MismatchError", err)
			}
			if !slices.Equal(me.Problems, tc.wants) {
				t.Errorf("problems:\n%s\nwant:\n%s", err, strings.Join(tc.wants, "\n"))
			}
		})
	}
}

func TestGet(t *testing.T) {
	f := sample()
	if g, ok := f.Get("m/scalar"); !ok || g.Data[0] != 42 {
		t.Errorf("Get(m/scalar) = %v, %v", g, ok)
	}
	if _, ok := f.Get("nope"); ok {
		t.Error("Get(nope) found something")
	}
	g, _ := f.Get("m/scalar")
	g.Data[0] = 7
	if f.Tensors[2].Data[0] != 7 {
		t.Error("Get should return a pointer into the file's tensors")
	}
}
