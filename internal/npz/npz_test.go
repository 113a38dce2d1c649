package npz

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// npy encodes data as a version-1 .npy file of dtype descr ("<f4" or "<f8").
func npy(descr, shape string, data []float64) []byte {
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	for _, v := range data {
		if descr == "<f4" {
			binary.Write(&b, binary.LittleEndian, float32(v))
		} else {
			binary.Write(&b, binary.LittleEndian, v)
		}
	}
	return b.Bytes()
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.npz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range map[string][]byte{
		"w.npy":      npy("<f4", "2, 3", []float64{1, 2, 3, 4, 5, 6}),
		"b.npy":      npy("<f8", "2,", []float64{0.5, -1.25}),
		"scalar.npy": npy("<f4", "", []float64{7}),
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	m, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := Names(m); fmt.Sprint(got) != "[b scalar w]" {
		t.Fatalf("names %v", got)
	}
	if a := m["w"]; fmt.Sprint(a.Shape, a.Data) != "[2 3] [1 2 3 4 5 6]" {
		t.Errorf("w = %v %v", a.Shape, a.Data)
	}
	if a := m["b"]; fmt.Sprint(a.Shape, a.Data) != "[2] [0.5 -1.25]" {
		t.Errorf("b = %v %v", a.Shape, a.Data)
	}
	if a := m["scalar"]; len(a.Shape) != 0 || len(a.Data) != 1 || a.Data[0] != 7 {
		t.Errorf("scalar = %v %v", a.Shape, a.Data)
	}
}

func TestReadNPYErrors(t *testing.T) {
	good := npy("<f4", "2,", []float64{1, 2})
	for name, raw := range map[string][]byte{
		"no magic":  []byte("hello world, not numpy"),
		"int dtype": npy("<i4", "2,", nil),
		"truncated": good[:len(good)-2],
		"fortran":   bytes.Replace(good, []byte("False"), []byte("True "), 1),
	} {
		if _, err := ReadNPY(bytes.NewReader(raw)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", name, err)
		}
	}
}

// TestSharedHeads reads the real LPIPS heads when the shared folder is there.
func TestSharedHeads(t *testing.T) {
	path := "../../../shared/models/perceptual/lpips-squeeze/squeeze-heads-v0.1.npz"
	if _, err := os.Stat(path); err != nil {
		t.Skip("shared models not present")
	}
	m, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := m["lin6.model.1.weight"]
	if fmt.Sprint(a.Shape) != "[1 512 1 1]" {
		t.Fatalf("lin6 shape %v", a.Shape)
	}
	for _, v := range a.Data {
		if v < 0 || math.IsNaN(float64(v)) {
			t.Fatalf("head weight %v, want non-negative", v)
		}
	}
}
