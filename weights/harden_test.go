package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadNotAModel passes files that are no model at all: Load and
// ReadHeader must refuse them from their first bytes (or their type),
// quickly and without reading them into memory. Reading /dev/zero or a
// FIFO whole used to run out of memory or block.
func TestLoadNotAModel(t *testing.T) {
	dir := t.TempDir()
	// A 1 GiB sparse file that starts like an MP4.
	video := filepath.Join(dir, "video.mp4")
	f, err := os.Create(video)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00")); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A header length that claims most of a 1 GiB sparse file.
	claims := filepath.Join(dir, "claims.safetensors")
	f, err = os.Create(claims)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(binary.LittleEndian.AppendUint64(nil, 90_000_000))
	f.Write([]byte(`{"__metadata__":{`))
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error
		msg        string
	}{
		{"/dev/zero", "/dev/zero", ErrNotSafetensors, "not a regular file"},
		{"fifo", fifo, ErrNotSafetensors, "not a regular file"},
		{"folder", dir, ErrNotSafetensors, "folder"},
		{"1 GiB video", video, ErrNotSafetensors, "implausible"},
		{"header claims 90 MB of zeros", claims, ErrBadHeader, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				t.Skip(err)
			}
			for name, read := range map[string]func(string) error{
				"Load":       func(p string) error { _, err := Load(p); return err },
				"ReadHeader": func(p string) error { _, err := ReadHeader(p); return err },
			} {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				err := read(tc.path)
				took := time.Since(start)
				runtime.ReadMemStats(&after)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("%s: %v, want %v mentioning %q and the path", name, err, tc.want, tc.msg)
				}
				// The 90 MB header is read (it is within the bound) and
				// parsed; nothing else may be.
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 400<<20 {
					t.Errorf("%s allocated %d MB", name, grew>>20)
				}
				if took > 5*time.Second {
					t.Errorf("%s took %v", name, took)
				}
			}
		})
	}
}

// TestReadHeader checks that the header alone gives the config, the
// metadata and every tensor's name, shape and dtype, as Load does.
func TestReadHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	want := sample()
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Config, want.Config) || h.Format != FormatV1 || h.Metadata["model"] != want.Metadata["model"] {
		t.Errorf("header %+v", h)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Tensors) != len(f.Tensors) {
		t.Fatalf("%d tensors in the header, %d loaded", len(h.Tensors), len(f.Tensors))
	}
	for i, s := range h.Tensors {
		ft := f.Tensors[i]
		if s.Name != ft.Name || !slices.Equal(s.Shape, ft.Shape) || h.DTypes[s.Name] != ft.DType {
			t.Errorf("header tensor %v %s, loaded %s %v %s", s, h.DTypes[s.Name], ft.Name, ft.Shape, ft.DType)
		}
	}
}
