package pipeline

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/model"
)

func fixtureModel(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.New(testbackend.New(t), model.Fixture(), 3) // random-weight test fixture
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testClip(n, w, h int) []*frame.Image {
	out := make([]*frame.Image, n)
	for i := range out {
		f := frame.New(w, h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < 3; c++ {
					f.Set(x, y, c, float32(0.5+0.3*math.Sin(float64(x*(c+1)+2*y+3*i)*0.4)))
				}
			}
		}
		out[i] = f
	}
	return out
}

// runStream builds an Upscaler with opt and streams lq through Run.
func runStream(t *testing.T, m *model.Model, opt Options, lq []*frame.Image) []*frame.Image {
	t.Helper()
	u, err := New(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	var got []*frame.Image
	err = u.Run(context.Background(), func() (*frame.Image, error) {
		if i == len(lq) {
			return nil, io.EOF
		}
		i++
		return lq[i-1], nil
	}, func(f *frame.Image) error { got = append(got, f); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A freshly initialised model has zero-initialised velocity heads and a
// zero-initialised decoder output, so it is an identity model: every mode
// must return the bicubic upsampling, through windows, tiles and padding.
// This checks that windows, tiles, padding and cropping lose nothing.
func TestIdentityModelThroughWindowsAndTiles(t *testing.T) {
	m := fixtureModel(t)
	lq := testClip(7, 21, 13) // odd sizes: padding and cropping are exercised
	for _, tc := range []struct {
		name string
		mode Mode
		fuse FuseMode
		tile int
	}{
		{"pssr final, tiles", ModePSSR, FuseFinal, 64},
		{"pssr per-step", ModePSSR, FusePerStep, 0},
		{"nofuse", ModePSSRNoFuse, FuseFinal, 64},
		{"base", ModeBase, FuseFinal, 0},
		{"base-4step", ModeBase4Step, FuseFinal, 64},
		{"decoder", ModeDecoder, FuseFinal, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := DefaultOptions()
			opt.Mode, opt.Fuse, opt.Tile, opt.TileOverlap = tc.mode, tc.fuse, tc.tile, 16
			opt.WindowT, opt.OverlapT = 4, 2
			u, err := New(m, opt)
			if err != nil {
				t.Fatal(err)
			}
			got := runStream(t, m, opt, lq)
			if len(got) != len(lq) {
				t.Fatalf("%d frames out, %d in", len(got), len(lq))
			}
			for k, f := range got {
				want := u.Resize(lq[k])
				if f.W != 84 || f.H != 52 {
					t.Fatalf("frame %d is %dx%d, want 84x52", k, f.W, f.H)
				}
				for j := range f.Pix {
					if d := math.Abs(float64(f.Pix[j] - want.Pix[j])); d > 2e-5 {
						t.Fatalf("frame %d sample %d: %g vs %g", k, j, f.Pix[j], want.Pix[j])
					}
				}
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(o *Options)
	}{
		{"scale 3", func(o *Options) { o.Scale = 3 }},
		{"window 0", func(o *Options) { o.WindowT = 0 }},
		{"overlap >= window", func(o *Options) { o.OverlapT = o.WindowT }},
		{"tile too small", func(o *Options) { o.Tile = 8 }},
		{"tile overlap too big", func(o *Options) { o.TileOverlap = o.Tile }},
		{"bad mode", func(o *Options) { o.Mode = "fast" }},
		{"bad fuse", func(o *Options) { o.Fuse = "sometimes" }},
		{"alpha", func(o *Options) { o.FuseParams.Alpha = -1 }},
		{"latent fc", func(o *Options) { o.LatentFc = 0 }},
		{"latent fc high", func(o *Options) { o.LatentFc = 0.8 }},
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tc := range tests {
		o := DefaultOptions()
		tc.mutate(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// perturbed returns the fixture model with every variable, the
// zero-initialised heads included, moved by seeded noise: a random-weight
// fixture whose output differs from the bicubic input.
func perturbed(t *testing.T) *model.Model {
	t.Helper()
	m := fixtureModel(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, v := range m.NetworkVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		data := tensors.MustCopyFlatData[float32](val)
		for i := range data {
			data[i] += float32(rng.NormFloat64() * 0.05)
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(data, val.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestOnDeviceMatchesHost runs every mode with the resize, padding, fusion
// and crop inside the graphs and on the host, on a random-weight fixture,
// through windows, and checks both give the same frames.
func TestOnDeviceMatchesHost(t *testing.T) {
	m := perturbed(t)
	lq := testClip(6, 21, 13) // odd sizes: padding and cropping are exercised
	run := func(opt Options) []*frame.Image { return runStream(t, m, opt, lq) }
	for _, mode := range []Mode{ModePSSR, ModePSSRNoFuse, ModeBase, ModeBase4Step, ModeDecoder} {
		t.Run(string(mode), func(t *testing.T) {
			opt := DefaultOptions()
			opt.Mode, opt.Tile, opt.WindowT, opt.OverlapT = mode, 0, 4, 2
			host := run(opt)
			opt.OnDevice = true
			dev := run(opt)
			if len(dev) != len(host) {
				t.Fatalf("%d frames on the device, %d on the host", len(dev), len(host))
			}
			var maxd, moved float64
			for k := range host {
				if dev[k].W != 84 || dev[k].H != 52 {
					t.Fatalf("frame %d is %dx%d, want 84x52", k, dev[k].W, dev[k].H)
				}
				up := frame.Resize(lq[k], 84, 52, frame.Bicubic).Clamp()
				for j := range host[k].Pix {
					maxd = math.Max(maxd, math.Abs(float64(dev[k].Pix[j]-host[k].Pix[j])))
					moved = math.Max(moved, math.Abs(float64(host[k].Pix[j]-up.Pix[j])))
				}
			}
			t.Logf("max difference %g, max change from bicubic %g", maxd, moved)
			if maxd > 5e-4 {
				t.Errorf("device and host differ by up to %g", maxd)
			}
			if moved < 1e-3 {
				t.Errorf("the perturbed fixture returns the bicubic input (max change %g): the test proves nothing", moved)
			}
		})
	}
}

// TestDecoderMode checks, on a random-weight fixture, that ModeDecoder is
// the decoder alone on the low-quality latent, decode(encode(x_L)) with x_L
// the bicubic upsampling as condition, and not the base step's result.
func TestDecoderMode(t *testing.T) {
	m := perturbed(t)
	lq := testClip(2, 16, 16) // 64x64 output: a pixel multiple, no padding
	run := func(mode Mode) []*frame.Image {
		opt := DefaultOptions()
		opt.Mode, opt.Tile = mode, 0
		u, err := New(m, opt)
		if err != nil {
			t.Fatal(err)
		}
		out, err := u.UpscaleClip(context.Background(), lq)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got, base := run(ModeDecoder), run(ModeBase)
	up := make([]*frame.Image, len(lq))
	for i, f := range lq {
		up[i] = frame.Resize(f, 64, 64, frame.Bicubic).Clamp()
	}
	exec, err := mlmodel.NewExec(m.Backend, m.Store, func(ctx *mlmodel.Scope, x *Node) *Node {
		return ClampGraph(model.Decode(ctx, m.Config.AE, model.Encode(ctx, m.Config.AE, x), x))
	})
	if err != nil {
		t.Fatal(err)
	}
	y := exec.MustExec(FramesToTensor(up))[0]
	want := TensorToFrames(y)
	var maxd, fromBase float64
	for k := range want {
		for j := range want[k].Pix {
			maxd = math.Max(maxd, math.Abs(float64(got[k].Pix[j]-want[k].Pix[j])))
			fromBase = math.Max(fromBase, math.Abs(float64(got[k].Pix[j]-base[k].Pix[j])))
		}
	}
	if maxd > 1e-5 {
		t.Errorf("decoder mode differs from decode(encode(x_L)) by up to %g", maxd)
	}
	if fromBase < 1e-3 {
		t.Errorf("decoder mode equals the base step (max difference %g)", fromBase)
	}
}

// TestOnDeviceTiledFallsBack: frames larger than the tile take the host
// path even with OnDevice, with the same result as without it.
func TestOnDeviceTiledFallsBack(t *testing.T) {
	m := perturbed(t)
	lq := testClip(3, 21, 13)
	opt := DefaultOptions()
	opt.Tile, opt.TileOverlap, opt.WindowT, opt.OverlapT = 64, 16, 2, 1
	var outs [2][]*frame.Image
	for k, on := range []bool{false, true} {
		opt.OnDevice = on
		outs[k] = runStream(t, m, opt, lq)
	}
	if len(outs[0]) != len(lq) || len(outs[1]) != len(lq) {
		t.Fatalf("%d and %d frames out, %d in", len(outs[0]), len(outs[1]), len(lq))
	}
	for k := range lq {
		for j, v := range outs[0][k].Pix {
			if outs[1][k].Pix[j] != v {
				t.Fatalf("frame %d sample %d: %g with OnDevice, %g without", k, j, outs[1][k].Pix[j], v)
			}
		}
	}
}

// TestPrepareGraphMatchesResize checks the in-graph resize and padding
// against frame.Resize, Clamp and PadReplicate.
func TestPrepareGraphMatchesResize(t *testing.T) {
	be := testbackend.New(t)
	lq := testClip(2, 11, 7)
	for _, tc := range []struct{ scale, pw, ph int }{{4, 44, 28}, {4, 48, 32}, {2, 32, 16}} {
		got := TensorToFrames(MustExecOnce(be, func(x *Node) *Node { return PrepareGraph(x, tc.scale, tc.pw, tc.ph) }, FramesToTensor(lq)))
		for k, f := range lq {
			want := frame.Resize(f, f.W*tc.scale, f.H*tc.scale, frame.Bicubic).Clamp().PadReplicate(tc.pw, tc.ph)
			if got[k].W != tc.pw || got[k].H != tc.ph {
				t.Fatalf("scale %d: %dx%d, want %dx%d", tc.scale, got[k].W, got[k].H, tc.pw, tc.ph)
			}
			for j := range want.Pix {
				if d := math.Abs(float64(got[k].Pix[j] - want.Pix[j])); d > 1e-6 {
					t.Fatalf("scale %d frame %d sample %d: %g, want %g", tc.scale, k, j, got[k].Pix[j], want.Pix[j])
				}
			}
		}
	}
}
