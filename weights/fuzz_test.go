package weights

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the weights decoder: it must fail with
// an error or return tensors whose values match their shapes, whose header
// agrees with them, and never panic or allocate beyond what the input
// describes. Run longer with go test ./weights -run '^$' -fuzz FuzzLoad.
func FuzzLoad(f *testing.F) {
	path := filepath.Join(f.TempDir(), "w.safetensors")
	if err := Save(path, sample()); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:20])
	f.Add([]byte{})
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<62))
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 2), "{}"...))
	hdr := `{"__metadata__":{"pssr.config":"{}"},"t":{"dtype":"F16","shape":[4294967296,4294967296],"data_offsets":[0,2]}}`
	f.Add(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), append([]byte(hdr), 0, 0)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := load(bytes.NewReader(data), int64(len(data)))
		h, herr := readHeader(bytes.NewReader(data), int64(len(data)))
		if herr != nil {
			if err == nil {
				t.Fatalf("Load accepts what ReadHeader refuses: %v", herr)
			}
			return
		}
		if err != nil {
			return // a dtype that cannot be read as float32
		}
		if len(file.Tensors) != len(h.Tensors) {
			t.Fatalf("%d tensors loaded, %d in the header", len(file.Tensors), len(h.Tensors))
		}
		if err := file.Check(h.Tensors); err != nil {
			t.Fatalf("a loaded file does not match its own header: %v", err)
		}
	})
}
