package pipeline

import (
	"strings"
	"testing"

	"github.com/pssr/pssr/model"
)

// TestEstimateMemory checks the estimate against peak RSS measured with
// pssr-tiny on the pure-Go runtime and on ONNX Runtime: it must be on the
// high side, but not by more than 60%.
func TestEstimateMemory(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		runtime               string
		outW, outH, frames    int
		window, overlap, tile int
		mode                  Mode
		measured              int64
	}{
		// Peak RSS of /usr/bin/time, session 7 (GC target 10, balanced
		// tiles, ORT with the 3x3 layers as convolutions;
		// docs/results/memory/calibration-s7.txt):
		// pssr upscale testdata/sample.mp4 OUT --runtime go --window-t 8 --overlap-t 0 --tile 256 --tile-overlap 64 --mode base
		{"sample x4, 8-frame window, tile 256", "go", 416, 240, 8, 8, 0, 256, ModeBase, 167704 << 10},
		// pssr upscale LQ OUT --runtime RT --window-t W --tile T, LQ 8 or 16
		// frames of 320x180 (01_dog.mp4 resized), x4 to 1280x720
		{"go 1280x720, window 8, tile 768", "go", 1280, 720, 8, 8, 0, 768, ModePSSR, 1143004 << 10},
		{"go 1280x720, window 16, tile 768", "go", 1280, 720, 16, 16, 8, 768, ModePSSR, 1523136 << 10},
		{"go 1280x720, window 16, tile 384", "go", 1280, 720, 16, 16, 8, 384, ModePSSR, 680600 << 10},
		{"ort 1280x720, window 8, tile 768", "ort", 1280, 720, 8, 8, 0, 768, ModePSSR, 1378556 << 10},
		{"ort 1280x720, window 16, tile 768", "ort", 1280, 720, 16, 16, 8, 768, ModePSSR, 2270196 << 10},
		{"ort 1280x720, window 16, tile 384", "ort", 1280, 720, 16, 16, 8, 384, ModePSSR, 1005436 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := DefaultOptions()
			opt.WindowT, opt.OverlapT, opt.Tile, opt.Mode = tc.window, tc.overlap, tc.tile, tc.mode
			got := EstimateMemory(tc.runtime, model.Tiny(), opt, tc.outW, tc.outH, tc.frames)
			if got < tc.measured || got > tc.measured*8/5 {
				t.Errorf("estimate %s, measured %s", FormatBytes(got), FormatBytes(tc.measured))
			}
		})
	}
	// The tile part does not grow with the frame: 16 times the pixels
	// cost only the output side more.
	opt := DefaultOptions()
	opt.Tile = 256
	small := EstimateMemory("go", model.Tiny(), opt, 640, 360, 0)
	big := EstimateMemory("go", model.Tiny(), opt, 2560, 1440, 0)
	if d, want := big-small, int64(opt.WindowT)*memGo.perOutPixel*(2560*1440-640*360); d != want {
		t.Errorf("2560x1440 costs %d bytes more than 640x360, want %d", d, want)
	}
}

// TestFitMemory checks that windows and then tiles shrink to fit a budget,
// that sizes the user set are kept, and that a budget nothing fits is an
// error naming --max-memory.
func TestFitMemory(t *testing.T) {
	cfg := model.Tiny()
	def := DefaultOptions()
	for _, tc := range []struct {
		name                   string
		outW, outH, frames     int
		budget                 int64
		fixedWindow, fixedTile bool
		wantWindow, wantTile   int // 0: smaller than the default
		wantErr                string
	}{
		{"no budget", 3840, 2160, 1000, 0, false, false, def.WindowT, def.Tile, ""},
		{"fits", 640, 360, 100, 64 << 30, false, false, def.WindowT, def.Tile, ""},
		{"short video fits", 3840, 2160, 2, 4 << 30, false, false, def.WindowT, def.Tile, ""},
		{"window shrinks", 3328, 1920, 300, 4 << 30, false, false, 0, def.Tile, ""},
		{"tile shrinks with a fixed window", 3328, 1920, 300, 8 << 30, true, false, def.WindowT, 0, ""},
		{"both fixed", 3328, 1920, 300, 4 << 30, true, true, 0, 0, "--max-memory"},
		{"nothing fits", 3328, 1920, 300, 300 << 20, false, false, 0, 0, "--max-memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FitMemory("go", cfg, def, tc.outW, tc.outH, tc.frames, tc.budget, tc.fixedWindow, tc.fixedTile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("fitted options are invalid: %v", err)
			}
			if est := EstimateMemory("go", cfg, got, tc.outW, tc.outH, tc.frames); tc.budget > 0 && est > tc.budget {
				t.Errorf("estimate %s above the budget %s", FormatBytes(est), FormatBytes(tc.budget))
			}
			check := func(what string, got, want, def int) {
				if (want == 0 && got >= def) || (want != 0 && got != want) {
					t.Errorf("%s %d, want %d (0: below %d)", what, got, want, def)
				}
			}
			check("window", got.WindowT, tc.wantWindow, def.WindowT)
			check("tile", got.Tile, tc.wantTile, def.Tile)
		})
	}
}
