package serve

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/video"
)

// TestFitMemory checks a job's memory fit: no budget keeps the options, a
// budget shared by two workers shrinks the window of a 1280x720 x4 job
// (more on ONNX Runtime's memory model than on pure Go's), a window the
// job set is kept (the tile shrinks instead), and a budget nothing fits is
// an error naming the memory.
func TestFitMemory(t *testing.T) {
	path := testModel(t)
	cfg, err := model.ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	d := pipeline.DefaultOptions()
	d.Scale = 4
	info := &video.Info{Width: 320, Height: 180, Frames: 300}
	fit := func(budget int64, workers int, set Settings, rt string) (pipeline.Options, error) {
		s := &Server{opt: Options{MaxMemory: budget, Workers: workers, Defaults: d}, log: slog.New(slog.DiscardHandler)}
		opt, err := set.pipeline(d)
		if err != nil {
			t.Fatal(err)
		}
		return s.fitMemory(opt, set, info, path, rt)
	}
	def := defaultSettings(d)
	if got, err := fit(0, 1, def, "go"); err != nil || got.WindowT != d.WindowT || got.Tile != d.Tile {
		t.Errorf("no budget: %+v, %v; want the defaults", got, err)
	}
	// 3G a job: the pure-Go runtime's model keeps the default window, ONNX
	// Runtime's (the larger per tile pixel) shrinks it; each runtime is
	// fitted on its own model.
	goOpt, err := fit(6<<30, 2, def, "go")
	if err != nil {
		t.Fatal(err)
	}
	ortOpt, err := fit(6<<30, 2, def, "ort")
	if err != nil {
		t.Fatal(err)
	}
	if goOpt.WindowT != d.WindowT || ortOpt.WindowT >= d.WindowT || goOpt.Tile != d.Tile || ortOpt.Tile != d.Tile {
		t.Errorf("3G a job: window %d on go and %d on ort, tiles %d and %d; want go's %d, ort's below it, tiles %d",
			goOpt.WindowT, ortOpt.WindowT, goOpt.Tile, ortOpt.Tile, d.WindowT, d.Tile)
	}
	if est := pipeline.EstimateMemory("ort", cfg, ortOpt, 1280, 720, 300); est > 3<<30 {
		t.Errorf("ort estimate %s above the job's 3G", pipeline.FormatBytes(est))
	}
	set := def
	set.WindowT = 32
	kept, err := fit(4<<30, 2, set, "go")
	if err != nil {
		t.Fatal(err)
	}
	if kept.WindowT != 32 || kept.Tile >= d.Tile {
		t.Errorf("a job's own window: window %d, tile %d; want 32 and a tile below %d", kept.WindowT, kept.Tile, d.Tile)
	}
	if _, err := fit(64<<20, 1, def, "go"); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Errorf("64M: %v, want an error naming the memory", err)
	}
}
