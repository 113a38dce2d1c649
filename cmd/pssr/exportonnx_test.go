package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/onnx"
	"github.com/pssr/pssr/ort"
	"github.com/pssr/pssr/pipeline"
)

// TestExportONNX exports the active fixture model (random weights, a test
// fixture) and, when ONNX Runtime is installed, runs the written
// decoder.onnx file and compares it with the pure-Go decoder.
func TestExportONNX(t *testing.T) {
	modelPath, _ := active(t)
	dir := t.TempDir()
	code, stdout, stderr := cli(t, "export-onnx", "--model", modelPath, "--frames", "2", "--width", "64", "--height", "48", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, n := range []string{"encoder", "decoder", "base_step", "draft_step", "fused_decoder"} {
		st, err := os.Stat(filepath.Join(dir, n+".onnx"))
		if err != nil || st.Size() < 1000 {
			t.Fatalf("%s.onnx: %v (size %v)", n, err, st)
		}
		if !strings.Contains(stdout, n+".onnx") {
			t.Errorf("stdout does not list %s.onnx: %s", n, stdout)
		}
	}
	cliFails(t, []string{"export-onnx", "--model", modelPath, "--width", "50", dir}, []string{"multiples of 16"})
	for _, flag := range []string{"--latent-fc", "--fc"} { // --fc: the old name, still read
		cliFails(t, []string{"export-onnx", "--model", modelPath, flag, "0.9", t.TempDir()}, []string{"cut-off", "0.9"})
	}
	// --int8 (which implies --ort) writes ONNX Runtime's attention op,
	// which the standard export leaves out, and says so in the metadata
	// (the fixture's weights are too small to be quantised).
	ortDir := t.TempDir()
	if code, _, stderr := cli(t, "export-onnx", "--model", modelPath, "--frames", "2", "--width", "64", "--height", "48", "--int8", ortDir); code != 0 {
		t.Fatalf("--int8: exit %d: %s", code, stderr)
	}
	for _, c := range []struct {
		dir, op string
		want    bool
	}{{dir, "MultiHeadAttention", false}, {ortDir, "MultiHeadAttention", true}, {ortDir, "onnxruntime-int8", true}, {dir, "onnxruntime-int8", false}} {
		data, err := os.ReadFile(filepath.Join(c.dir, "base_step.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(data), c.op); got != c.want {
			t.Errorf("%s/base_step.onnx has %s: %v, want %v", c.dir, c.op, got, c.want)
		}
	}

	fixture.ORT(t)
	be, _, err := backend.New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	m, err := model.Load(be, modelPath)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "decoder.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ins := pipeline.NetworkInputs(m.Config, 2, 64, 48)[pipeline.NetDecoder]
	md := &onnx.Model{Name: "decoder", Data: data,
		Inputs:  []onnx.TensorInfo{{Name: "latent", Shape: ins[0]}, {Name: "cond", Shape: ins[1]}},
		Outputs: []onnx.TensorInfo{{Name: "frames", Shape: ins[1]}}}
	s, err := ort.NewSession(md, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lat := make([]float32, ins[0].Size())
	for i := range lat {
		lat[i] = float32(i%7)/7 - 0.5
	}
	cond := make([]float32, ins[1].Size())
	for i := range cond {
		cond[i] = float32(i%11) / 11
	}
	z := tensors.FromFlatDataAndDimensions(lat, ins[0].Dimensions...)
	c := tensors.FromFlatDataAndDimensions(cond, ins[1].Dimensions...)
	got, err := s.Run(context.Background(), z, c)
	if err != nil {
		t.Fatal(err)
	}
	var dec pipeline.Network
	for _, n := range pipeline.Networks(m.Config) {
		if n.Name == pipeline.NetDecoder {
			dec = n
		}
	}
	f, err := netrun.GoMLX{Backend: be}.Compile(m.Store, dec.Name, dec.Fn)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f.Exec(context.Background(), z, c)
	if err != nil {
		t.Fatal(err)
	}
	g, w := tensors.MustCopyFlatData[float32](got[0]), tensors.MustCopyFlatData[float32](want[0])
	d, moved := 0.0, 0.0
	for i := range g {
		d = max(d, float64(g[i]-w[i]), float64(w[i]-g[i]))
		moved = max(moved, float64(w[i]-cond[i]), float64(cond[i]-w[i]))
	}
	if d > 1e-4 || moved < 1e-3 {
		t.Errorf("decoder.onnx vs the Go decoder: max diff %.3g (want <= 1e-4); decoder output vs cond %.3g (want > 1e-3)", d, moved)
	}
}
