package pipeline

import (
	"context"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/model"
)

// TestSliceFrames checks the host copy of a frame range along an axis.
func TestSliceFrames(t *testing.T) {
	// x [2, 5, 3]: x[a][b][c] = 100a + 10b + c.
	data := make([]float32, 0, 30)
	for a := range 2 {
		for b := range 5 {
			for c := range 3 {
				data = append(data, float32(100*a+10*b+c))
			}
		}
	}
	x := tensors.FromFlatDataAndDimensions(data, 2, 5, 3)
	for _, tc := range []struct {
		name         string
		axis, t0, t1 int
		dims         []int
		first, last  float32
	}{
		{"axis 1, middle", 1, 1, 3, []int{2, 2, 3}, 10, 122},
		{"axis 1, one frame", 1, 4, 5, []int{2, 1, 3}, 40, 142},
		{"axis 0", 0, 1, 2, []int{1, 5, 3}, 100, 142},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sliceFrames(x, tc.axis, tc.t0, tc.t1)
			if !slices.Equal(got.Shape().Dimensions, tc.dims) {
				t.Fatalf("dims %v, want %v", got.Shape().Dimensions, tc.dims)
			}
			flat := tensors.MustCopyFlatData[float32](got)
			if flat[0] != tc.first || flat[len(flat)-1] != tc.last {
				t.Errorf("first %v last %v, want %v and %v", flat[0], flat[len(flat)-1], tc.first, tc.last)
			}
		})
	}
	if sliceFrames(x, 1, 0, 5) != x {
		t.Error("the whole range is not the tensor itself")
	}
}

// TestFrameChunks checks the chunk bounds: at most FrameChunk frames, as
// even as possible.
func TestFrameChunks(t *testing.T) {
	for _, tc := range []struct {
		t    int
		want []int
	}{
		{1, []int{0, 1}},
		{4, []int{0, 4}},
		{5, []int{0, 2, 5}},
		{9, []int{0, 3, 6, 9}},
		{33, []int{0, 3, 6, 9, 13, 17, 21, 25, 29, 33}},
	} {
		if got := frameChunks(tc.t); !slices.Equal(got, tc.want) {
			t.Errorf("frameChunks(%d) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// fixtureUpscaler returns the active fixture model (random weights, a test
// fixture) and an x2 Upscaler with the default options on it.
func fixtureUpscaler(t *testing.T) (*model.Model, *Upscaler, Options) {
	t.Helper()
	m := fixture.LoadActive(t)
	opt := DefaultOptions()
	opt.Scale = 2
	u, err := New(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m, u, opt
}

// TestEncodeDecodeChunks encodes and decodes 9 frames (more than
// FrameChunk, in chunks of 3) with the fixture upscaler and compares the
// latents and frames with one run on all 9.
func TestEncodeDecodeChunks(t *testing.T) {
	_, u, _ := fixtureUpscaler(t)
	ctx := context.Background()
	cond := FramesToTensor(fixture.Clip(9, 32, 32))
	z := run(ctx, u.enc, cond)[0]
	zc := encodeChunks(ctx, u.enc, cond)[0]
	if d := fixture.MaxTensorDiff(t, z, zc); d > 1e-5 {
		t.Errorf("chunked encode differs from one run by %.3g", d)
	}
	whole := TensorToFrames(run(ctx, u.dec, z, cond)[0])
	chunked, err := decodeChunks(ctx, u.dec, cond, z)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixture.MaxDiff(t, whole, chunked); d > 1e-5 {
		t.Errorf("chunked decode differs from one run by %.3g", d)
	}
	// The frames differ from one another, so a misplaced chunk would show.
	if d := fixture.MaxDiff(t, whole[:4], whole[5:]); d < 1e-3 {
		t.Fatalf("frames of the test clip barely differ (%.3g)", d)
	}
}

// TestWithOptions checks that an Upscaler made by WithOptions shares the
// compiled networks (the fused decoder only with the same update
// parameters) and upscales as one built from scratch with its options,
// with the fixture upscaler.
func TestWithOptions(t *testing.T) {
	m, u, opt := fixtureUpscaler(t)
	lq := fixture.Clip(5, 20, 14)
	for _, tc := range []struct {
		name        string
		edit        func(*Options)
		sharesFused bool
	}{
		{"base mode", func(o *Options) { o.Mode = ModeBase }, true},
		{"latent update, other pixel fc", func(o *Options) { o.Fuse, o.FuseParams.Fc = FuseLatent, 0.3 }, true},
		{"latent update, other latent fc", func(o *Options) { o.Fuse, o.LatentFc = FuseLatent, 0.3 }, false},
		{"windows of 3", func(o *Options) { o.WindowT, o.OverlapT = 3, 1 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opt
			tc.edit(&o)
			v, err := u.WithOptions(o)
			if err != nil {
				t.Fatal(err)
			}
			if v.enc != u.enc || v.dec != u.dec || v.base != u.base || v.draft != u.draft {
				t.Error("the networks are not shared")
			}
			if (v.decFused == u.decFused) != tc.sharesFused {
				t.Errorf("fused decoder shared: %v, want %v", v.decFused == u.decFused, tc.sharesFused)
			}
			fresh, err := New(m, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a, err := v.UpscaleClip(ctx, lq)
			if err != nil {
				t.Fatal(err)
			}
			b, err := fresh.UpscaleClip(ctx, lq)
			if err != nil {
				t.Fatal(err)
			}
			if d := fixture.MaxDiff(t, a, b); d > 1e-6 {
				t.Errorf("variant and fresh upscaler differ by %.3g", d)
			}
		})
	}
}
