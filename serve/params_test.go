package serve

import (
	"testing"

	"github.com/pssr/pssr/pipeline"
)

// TestDecodeParams reads stored job params over the defaults: a job stored
// before latent-fc existed (the params of a session-7 server, fuse final)
// keeps its own settings, takes the default latent cut-off and still
// resolves to valid options; a stored field wins over the default.
func TestDecodeParams(t *testing.T) {
	d := pipeline.DefaultOptions()
	for _, tc := range []struct {
		name         string
		raw          string
		fuse         string
		fc, latentFc float64
	}{
		{"before latent-fc", `{"settings":{"scale":4,"mode":"pssr","fuse":"final","draft-steps":3,"alpha":1,"fc":0.15,"order":2,"border":2,"window-t":33,"overlap-t":8,"tile":768,"tile-overlap":128,"codec":"h264","crf":0},"input":"/in.mp4"}`,
			"final", 0.15, d.LatentFc},
		{"latent-fc stored", `{"settings":{"scale":4,"mode":"pssr","fuse":"latent","draft-steps":3,"alpha":1,"fc":0.2,"latent-fc":0.3,"order":2,"border":2,"window-t":33,"overlap-t":8,"tile":768,"tile-overlap":128,"codec":"h264","crf":0},"input":"/in.mp4"}`,
			"latent", 0.2, 0.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := decodeParams([]byte(tc.raw), d)
			if err != nil {
				t.Fatal(err)
			}
			if s := p.Settings; s.Fuse != tc.fuse || s.Fc != tc.fc || s.LatentFc != tc.latentFc || p.Input != "/in.mp4" {
				t.Fatalf("settings %+v, input %q; want fuse %s, fc %g, latent-fc %g", s, p.Input, tc.fuse, tc.fc, tc.latentFc)
			}
			if _, err := p.Settings.pipeline(d); err != nil {
				t.Fatalf("stored job no longer runs: %v", err)
			}
		})
	}
	if _, err := decodeParams([]byte("{"), d); err == nil {
		t.Fatal("broken params decoded")
	}
}
