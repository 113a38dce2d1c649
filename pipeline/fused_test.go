package pipeline_test

import (
	"context"
	"testing"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/pipeline"
)

// TestFusedDecoderRuntimesAgree runs the latent frequency update (--fuse
// latent, the fused_decoder network) with the fixture model (random
// weights, a test fixture) on the pure-Go runtime and on ONNX Runtime: the
// frames agree, and they differ from the final pixel update's, so the
// fused network is the one that ran.
func TestFusedDecoderRuntimesAgree(t *testing.T) {
	rt := fixture.ORT(t)
	m := fixture.LoadActive(t)
	lq := fixture.Clip(3, 20, 14)
	upscale := func(fuse pipeline.FuseMode, onORT bool) []*frame.Image {
		t.Helper()
		opt := pipeline.DefaultOptions()
		opt.Scale, opt.Fuse = 2, fuse
		opt.FuseParams.Fc = 0.35
		u, err := pipeline.New(m, opt)
		if onORT {
			u, err = pipeline.NewWithRuntime(m, opt, rt)
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := u.UpscaleClip(context.Background(), lq)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	goLatent, ortLatent := upscale(pipeline.FuseLatent, false), upscale(pipeline.FuseLatent, true)
	final := upscale(pipeline.FuseFinal, false)
	d, fromFinal := fixture.MaxDiff(t, goLatent, ortLatent), fixture.MaxDiff(t, goLatent, final)
	t.Logf("latent update: max |go - ort| = %.3g; max |latent - final| = %.3g", d, fromFinal)
	if d > 1e-4 {
		t.Errorf("runtimes differ by %.3g", d)
	}
	if fromFinal < 1e-4 {
		t.Errorf("the latent update's frames equal the final update's (%.3g): the fused decoder did not run", fromFinal)
	}
}
