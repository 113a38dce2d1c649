package trainer

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestPlotLoss(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "loss.jsonl")
	pngPath := filepath.Join(dir, "loss.png")
	// An empty log draws nothing.
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := PlotLoss(log, pngPath, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pngPath); !os.IsNotExist(err) {
		t.Fatalf("empty log: stat loss.png: %v", err)
	}
	lines := `{"step":1,"loss":0.5}
{"step":2,"loss":0.25}
not json
{"step":3,"loss":0.2}
`
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := PlotLoss(log, pngPath, "x"); err != nil {
		t.Fatal(err)
	}
	// 8 x 4 inches.
	if b := readPNG(t, pngPath).Bounds(); b.Dx() < 100 || b.Dx() != 2*b.Dy() {
		t.Errorf("loss.png is %v", b)
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Errorf("folder holds %d entries, want loss.jsonl and loss.png: %v", len(es), es)
	}
	// A missing folder is an error.
	if err := PlotLoss(log, filepath.Join(dir, "missing", "loss.png"), "x"); err == nil {
		t.Error("no error writing into a missing folder")
	}
}

// readPNG decodes the PNG file at path, failing the test on an error.
func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return img
}
