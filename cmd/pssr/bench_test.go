package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchDecoderMode runs pssr bench with the decoder mode beside
// bicubic and base on a fresh random-weight fixture model, an identity
// model: every PS-SR mode, the decoder alone included, must score as
// bicubic does.
func TestBenchDecoderMode(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	modelPath := fixtureModel(t, dir)
	jsonPath := filepath.Join(dir, "bench.json")
	code, _, stderr := cli(t, "bench", sampleClip, "--frames", "3", "--warmup", "0", "--no-lpips",
		"--modes", "bicubic,decoder,base", "--model", modelPath, "--json", jsonPath, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Modes []struct {
			Name    string   `json:"name"`
			PSNRY   *float64 `json:"psnr_y"`
			Skipped string   `json:"skipped"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Modes) != 3 || rep.Modes[1].Name != "decoder" {
		t.Fatalf("modes %+v, want bicubic, decoder, base", rep.Modes)
	}
	for _, m := range rep.Modes {
		if m.Skipped != "" || m.PSNRY == nil {
			t.Fatalf("mode %s: skipped %q, PSNR-Y %v", m.Name, m.Skipped, m.PSNRY)
		}
		if d := math.Abs(*m.PSNRY - *rep.Modes[0].PSNRY); d > 0.01 {
			t.Errorf("%s: PSNR-Y %.4f, bicubic %.4f: an identity model must give bicubic", m.Name, *m.PSNRY, *rep.Modes[0].PSNRY)
		}
	}
}
