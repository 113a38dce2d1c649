package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAggregateFrameWeighted: two shots of 2 and 6 frames aggregate to
// frame-weighted means, a mode skipped on one shot is averaged over the
// other, and the ground truth's warp error gets its own row.
func TestAggregateFrameWeighted(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bicubic"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(shot string, frames int, psnr, gtWarp float64, skip bool) {
		mode := map[string]any{"name": "pssr", "psnr_y": psnr, "ssim_y": 0.5, "lpips": 0.2, "temporal_err": 0.01, "seconds_per_frame": 1.0}
		if skip {
			mode = map[string]any{"name": "pssr", "skipped": "not run"}
		}
		r := map[string]any{"input": shot, "frames": frames, "machine": "m", "backend": "b", "gt_warp_err": gtWarp,
			"modes": []any{map[string]any{"name": "bicubic", "psnr_y": psnr - 1, "temporal_err": 0.005}, mode}}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bicubic", shot+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", 2, 30, 0.02, false)
	write("b", 6, 26, 0.01, false)
	write("c", 4, 99, 0.01, true)
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ablation.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Presets []Preset }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Presets) != 1 || out.Presets[0].Frames != 12 || len(out.Presets[0].Modes) != 2 {
		t.Fatalf("aggregate %+v; want one preset of 12 frames and 2 modes", out.Presets)
	}
	p := out.Presets[0]
	near := func(v *float64, want float64) bool { return v != nil && math.Abs(*v-want) < 1e-9 }
	if m := p.Modes[1]; m.Name != "pssr" || !near(m.Means["psnr_y"], (2*30+6*26)/8.0) || len(m.Skipped) != 1 {
		t.Errorf("pssr %+v; want PSNR-Y %g over shots a and b, one skip", m, (2*30+6*26)/8.0)
	}
	if m := p.Modes[0]; !near(m.Means["psnr_y"], (2*29+6*25+4*98)/12.0) || m.Means["lpips"] != nil {
		t.Errorf("bicubic %+v; want PSNR-Y over all three shots and no LPIPS", m)
	}
	want := (2*0.02 + 6*0.01 + 4*0.01) / 12
	if !near(p.GTWarpErr, want) {
		t.Errorf("gt_warp_err %v; want %g", p.GTWarpErr, want)
	}
	md, err := os.ReadFile(filepath.Join(dir, "ablation.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| ground truth (its own warp err) | - | - | - | 0.0117 | - |") {
		t.Errorf("ablation.md lacks the ground-truth row:\n%s", md)
	}
}
