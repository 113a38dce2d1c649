package pipeline

import (
	"context"
	"fmt"
	"image"
	"slices"
	"testing"

	"github.com/pssr/pssr/frame"
)

// TestLQTiles checks the tiles cut at the low-quality resolution: each
// tile's input (resizeRegion) is bit-identical to the same rectangle of the
// whole frame resized, and UpscaleClip, which never resizes a whole frame
// when it tiles, returns what restoring the resized frames tile by tile
// returns (a random-weight fixture, not an identity model, so tile inputs
// matter).
func TestLQTiles(t *testing.T) {
	m := perturbed(t)
	lq := testClip(2, 45, 37) // odd sizes: edge tiles and clipping
	for _, scale := range []int{2, 4} {
		t.Run(fmt.Sprintf("x%d", scale), func(t *testing.T) {
			opt := DefaultOptions()
			opt.Scale, opt.Mode, opt.Tile, opt.TileOverlap = scale, ModeBase, 64, 16
			u, err := New(m, opt)
			if err != nil {
				t.Fatal(err)
			}
			full := u.Resize(lq[0])
			for _, r := range []image.Rectangle{
				image.Rect(0, 0, 64, 64), image.Rect(48, 16, 112, 80), image.Rect(full.W-64, full.H-40, full.W, full.H),
				image.Rect(5, 7, 6, 9), full.Bounds(),
			} {
				r = r.Intersect(full.Bounds())
				got, want := u.resizeRegion(lq[0], r), full.Crop(r)
				if !slices.Equal(got.Pix, want.Pix) {
					t.Errorf("resizeRegion %v differs from the cropped whole resize", r)
				}
			}
			got, err := u.UpscaleClip(context.Background(), lq)
			if err != nil {
				t.Fatal(err)
			}
			want, err := u.Restore(context.Background(), []*frame.Image{u.Resize(lq[0]), u.Resize(lq[1])})
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !slices.Equal(got[i].Pix, want[i].Pix) {
					t.Errorf("frame %d: tiles cut at the low resolution give other output", i)
				}
			}
		})
	}
}
