package pipeline

import (
	"context"
	"fmt"
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/freqfuse"
	"github.com/pssr/pssr/model"
)

// TestSamplerMatchesReference checks the sampling of every multi-step mode
// against a reference written out step by step in one graph, with the
// released sigmas as literals (0.699, 0.599, 0.499, 0.399, then 0), on a
// random-weight fixture whose networks all change their input. A wrong
// sigma, a skipped or repeated draft step, the base network in a draft's
// place or a wrong fusion all change the frames.
func TestSamplerMatchesReference(t *testing.T) {
	m := perturbed(t)
	cfg := m.Config
	lq := testClip(3, 16, 16) // 64x64 output: a pixel multiple, no padding
	up := make([]*frame.Image, len(lq))
	for i, f := range lq {
		up[i] = frame.Resize(f, 64, 64, frame.Bicubic).Clamp()
	}
	ts := []float32{699, 599, 499, 399}
	sig := []float32{0.699, 0.599, 0.499, 0.399, 0}
	params := DefaultOptions().FuseParams
	latent := DefaultOptions().LatentParams()

	// reference returns decoded frames of the mode, written without the
	// pipeline's or the schedule's loop.
	reference := func(name string) []*frame.Image {
		exec, err := mlmodel.NewExec(m.Backend, m.Store, func(ctx *mlmodel.Scope, x *Node) *Node {
			g := x.Graph()
			c := func(v float32) *Node { return Const(g, v) }
			zl := InsertAxes(model.Encode(ctx, cfg.AE, x), 0)
			v, feats := model.Base(ctx, cfg, zl, zl, c(ts[0]))
			x0b := Sub(zl, MulScalar(v, float64(sig[0])))
			xt := Sub(zl, MulScalar(v, float64(sig[0]-sig[1])))
			x0 := x0b
			for i := 1; i < 4; i++ {
				var vi *Node
				if name == "base-4step" {
					vi, _ = model.Base(ctx, cfg, xt, zl, c(ts[i]))
				} else {
					vi = model.Draft(ctx, cfg, xt, zl, c(ts[i]), feats)
				}
				x0 = Sub(xt, MulScalar(vi, float64(sig[i])))
				xt = Sub(xt, MulScalar(vi, float64(sig[i]-sig[i+1])))
			}
			dec := func(z *Node) *Node { return decodeGraph(ctx, cfg.AE, z, x) }
			switch name {
			case "pssr-final":
				return freqfuse.FuseGraph(dec(x0b), dec(x0), params)
			case "pssr-latent":
				return dec(freqfuse.FuseLatentGraph(x0b, x0, latent))
			}
			return dec(x0)
		})
		if err != nil {
			t.Fatal(err)
		}
		return TensorToFrames(exec.MustExec(FramesToTensor(up))[0])
	}
	cases := []struct {
		name string
		mode Mode
		fuse FuseMode
	}{
		{"pssr-nofuse", ModePSSRNoFuse, FuseFinal},
		{"pssr-final", ModePSSR, FuseFinal},
		{"pssr-latent", ModePSSR, FuseLatent},
		{"base-4step", ModeBase4Step, FuseFinal},
	}
	outs := map[string][]*frame.Image{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := DefaultOptions()
			opt.Mode, opt.Fuse, opt.Tile = c.mode, c.fuse, 0
			u, err := New(m, opt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := u.UpscaleClip(context.Background(), lq)
			if err != nil {
				t.Fatal(err)
			}
			want := reference(c.name)
			d := maxFrameDiff(got, want)
			t.Logf("max difference from the reference %g", d)
			if d > 5e-6 {
				t.Fatalf("pipeline differs from the step-by-step reference by up to %g", d)
			}
			outs[c.name] = got
		})
	}
	// The modes must differ from one another, or the test above could not
	// tell a skipped step or a missing fusion.
	for i, a := range cases {
		for _, b := range cases[i+1:] {
			if outs[a.name] == nil || outs[b.name] == nil {
				continue
			}
			if d := maxFrameDiff(outs[a.name], outs[b.name]); d < 1e-3 {
				t.Errorf("%s and %s agree to %g: the fixture cannot tell them apart", a.name, b.name, d)
			}
		}
	}
}

func maxFrameDiff(a, b []*frame.Image) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("%d frames against %d", len(a), len(b)))
	}
	d := 0.0
	for k := range a {
		for j := range a[k].Pix {
			d = math.Max(d, math.Abs(float64(a[k].Pix[j]-b[k].Pix[j])))
		}
	}
	return d
}
