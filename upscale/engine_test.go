package upscale_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/upscale"
)

// TestNewEngine checks what the one constructor decides: the bundled model
// per scale when no file is named, the device tile default unless the tile
// was chosen, a model already in memory, and a clear error without a
// backend. The fixture model has random weights (a test fixture).
func TestNewEngine(t *testing.T) {
	be := testbackend.New(t)
	file := fixture.Model(t, t.TempDir(), false)
	loaded, err := model.Load(be, file)
	if err != nil {
		t.Fatal(err)
	}
	host := pipeline.DefaultOptions()
	device := host
	device.OnDevice = true
	device.Tile = 300
	x2 := host
	x2.Scale = 2
	cases := []struct {
		name      string
		setup     upscale.Setup
		wantModel string // base name of ModelPath ("" for none)
		wantTile  int
		wantErr   string
	}{
		{"file", upscale.Setup{Model: file, Options: host, Backend: be}, filepath.Base(file), host.Tile, ""},
		{"bundled x4", upscale.Setup{Options: host, Backend: be}, "pssr-tiny-x4.safetensors", host.Tile, ""},
		{"bundled x2", upscale.Setup{Options: x2, Backend: be}, "pssr-tiny-x2.safetensors", host.Tile, ""},
		{"device tile default", upscale.Setup{Model: file, Options: device, Backend: be}, filepath.Base(file), pipeline.DeviceTile, ""},
		{"device tile chosen", upscale.Setup{Model: file, Options: device, TileSet: true, Backend: be}, filepath.Base(file), 300, ""},
		{"loaded", upscale.Setup{Loaded: loaded, Options: host}, "", host.Tile, ""},
		{"no backend", upscale.Setup{Model: file, Options: host}, "", 0, "needs a backend"},
		{"missing file", upscale.Setup{Model: filepath.Join(t.TempDir(), "none.safetensors"), Options: host, Backend: be}, "", 0, "none.safetensors"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PSSR_MODEL", "")
			e, err := upscale.NewEngine(c.setup)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := filepath.Base(e.ModelPath); c.wantModel != "" && got != c.wantModel {
				t.Errorf("ModelPath %q, want %s", e.ModelPath, c.wantModel)
			}
			if c.wantModel == "" && (e.ModelPath != "" || e.ModelHash != "" || e.Model != loaded) {
				t.Errorf("loaded model: path %q hash %q, same model %v", e.ModelPath, e.ModelHash, e.Model == loaded)
			}
			if c.wantModel != "" && len(e.ModelHash) != 64 {
				t.Errorf("ModelHash %q, want a SHA-256", e.ModelHash)
			}
			if got := e.Upscaler.Options().Tile; got != c.wantTile {
				t.Errorf("tile %d, want %d", got, c.wantTile)
			}
			opt := e.Upscaler.Options()
			opt.Mode = pipeline.ModeBase4Step
			v, err := e.Variant(opt)
			if err != nil {
				t.Fatal(err)
			}
			if v.Options().Mode != pipeline.ModeBase4Step || e.Upscaler.Options().Mode == pipeline.ModeBase4Step {
				t.Errorf("Variant: mode %s, engine's %s", v.Options().Mode, e.Upscaler.Options().Mode)
			}
		})
	}
}
