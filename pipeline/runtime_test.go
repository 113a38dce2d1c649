package pipeline_test

import (
	"context"
	"testing"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/pipeline"
)

// TestRuntimesAgree upscales one clip with the fixture model (random
// weights, a test fixture) on the pure-Go runtime and on ONNX Runtime, in
// the full pssr mode (encoder, base step, three draft steps, two decodes,
// frequency update) and with a size that needs padding, and compares the
// frames.
func TestRuntimesAgree(t *testing.T) {
	rt := fixture.ORT(t)
	m := fixture.LoadActive(t)
	opt := pipeline.DefaultOptions()
	opt.Scale = 2
	lq := fixture.Clip(3, 20, 14)
	gu, err := pipeline.New(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	ou, err := pipeline.NewWithRuntime(m, opt, rt)
	if err != nil {
		t.Fatal(err)
	}
	if gu.Runtime() != "go" || ou.Runtime() != "ort" {
		t.Fatalf("runtimes %q and %q, want go and ort", gu.Runtime(), ou.Runtime())
	}
	want, err := gu.UpscaleClip(context.Background(), lq)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ou.UpscaleClip(context.Background(), lq)
	if err != nil {
		t.Fatal(err)
	}
	up := make([]*frame.Image, len(lq))
	for i := range lq {
		up[i] = gu.Resize(lq[i])
	}
	d, fromBicubic := fixture.MaxDiff(t, want, got), fixture.MaxDiff(t, want, up)
	t.Logf("max |go - ort| = %.3g over %d frames of %dx%d; max |go - bicubic| = %.3g", d, len(want), want[0].W, want[0].H, fromBicubic)
	if d > 1e-4 {
		t.Errorf("runtimes differ by %.3g", d)
	}
	if fromBicubic < 1e-3 {
		t.Errorf("the output is the bicubic upsampling (%.3g): the networks contribute nothing to compare", fromBicubic)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ou.UpscaleClip(ctx, lq); err == nil {
		t.Error("UpscaleClip with a cancelled context succeeded")
	}
}
