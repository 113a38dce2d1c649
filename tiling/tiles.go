package tiling

import (
	"context"
	"fmt"
	"image"

	"github.com/pssr/pssr/frame"
)

// ClipFunc processes a clip of frames and returns as many frames. It must
// not modify the frames it is given (they may be shared with neighbouring
// windows) but may return them unchanged. Within one ProcessStream or
// ProcessTiles call every returned frame must have the same size as the
// frames of the clip it was given.
type ClipFunc func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error)

// axisTiles returns the [start, end) ranges of tiles along an axis of the
// given length; see Tiles.
func axisTiles(length, size, overlap, multiple int) [][2]int {
	if length <= size {
		return [][2]int{{0, length}}
	}
	if size >= multiple {
		size -= size % multiple
	}
	strideOf := func(size int) int {
		stride := size - overlap
		if stride >= multiple {
			stride -= stride % multiple
		}
		return max(stride, 1)
	}
	count := func(size, stride int) int { return 1 + (length-size+stride-1)/stride }
	stride := strideOf(size)
	// Balance: the smallest size, in steps of multiple, that still covers
	// the axis with as many tiles, so the tiles overlap by about what was
	// asked instead of the last one overlapping its neighbour by much more.
	if n := count(size, stride); size >= multiple {
		for s := size - multiple; s > overlap && strideOf(s) >= multiple; s -= multiple {
			if count(s, strideOf(s)) > n {
				break
			}
			size, stride = s, strideOf(s)
		}
	}
	var out [][2]int
	s := 0
	for ; s+size < length; s += stride {
		out = append(out, [2]int{s, s + size})
	}
	// The last tile ends at the frame edge; its origin is rounded up to a
	// multiple when that keeps the requested overlap with its predecessor.
	last := (length - size + multiple - 1) / multiple * multiple
	if last > s {
		last = length - size
	}
	return append(out, [2]int{last, length})
}

// Tiles returns the tiles covering a w x h frame, row by row: tiles of at
// most size x size pixels overlapping their neighbours by at least overlap
// pixels; the last tile of a row or column is moved back to end at the frame
// edge (and clipped there when its origin is rounded), and an axis no longer
// than size is one tile. Along an axis the tiles are as few as tiles of
// size need, and as small as that count allows (1280 pixels with size 768
// and overlap 128 are two tiles of 704, not of 768 overlapping by 256), so
// little is computed twice. Where possible tile origins and sizes are multiples
// of multiple (size and the stride size-overlap are rounded down to
// multiples, which can only widen the overlap); tiles at the frame edge may
// still have other sizes, and callers pad each tile as their model needs.
// It reports an error for a non-positive frame size, size < 1, overlap < 0,
// overlap >= size or multiple < 1.
func Tiles(w, h, size, overlap, multiple int) ([]image.Rectangle, error) {
	switch {
	case w < 1 || h < 1:
		return nil, fmt.Errorf("tiling: frame size must be positive, got %dx%d", w, h)
	case size < 1:
		return nil, fmt.Errorf("tiling: tile size must be >= 1, got %d", size)
	case overlap < 0:
		return nil, fmt.Errorf("tiling: tile overlap must be >= 0, got %d", overlap)
	case overlap >= size:
		return nil, fmt.Errorf("tiling: tile overlap %d must be smaller than the tile size %d", overlap, size)
	case multiple < 1:
		return nil, fmt.Errorf("tiling: tile multiple must be >= 1, got %d", multiple)
	}
	xs := axisTiles(w, size, overlap, multiple)
	ys := axisTiles(h, size, overlap, multiple)
	tiles := make([]image.Rectangle, 0, len(xs)*len(ys))
	for _, y := range ys {
		for _, x := range xs {
			tiles = append(tiles, image.Rect(x[0], y[0], x[1], y[1]))
		}
	}
	return tiles, nil
}

// ramp returns the 1-D weights of n pixels with a linear ramp up over the
// first in pixels and down over the last out pixels (both may be 0).
func ramp(n, in, out int) []float32 {
	w := make([]float32, n)
	for i := range w {
		v := 1.0
		if i < in {
			v = min(v, float64(i+1)/float64(in+1))
		}
		if j := n - 1 - i; j < out {
			v = min(v, float64(j+1)/float64(out+1))
		}
		w[i] = float32(v)
	}
	return w
}

// TileWeights returns the blending weights of tile r, row-major over r
// (r.Dx()*r.Dy() values): the product of a horizontal and a vertical linear
// ramp. Each side ramps only over the band it shares with other tiles of
// tiles that overlap r and extend beyond that side (r itself is ignored);
// the weights are > 0 everywhere. For two tiles sharing an L-pixel band the
// ramps are (k+1)/(L+1) and (L-k)/(L+1), which sum to one.
func TileWeights(r image.Rectangle, tiles []image.Rectangle) []float32 {
	var left, right, top, bottom int
	for _, t := range tiles {
		if t == r || !t.Overlaps(r) {
			continue
		}
		if t.Min.X < r.Min.X {
			left = max(left, min(t.Max.X, r.Max.X)-r.Min.X)
		}
		if t.Max.X > r.Max.X {
			right = max(right, r.Max.X-max(t.Min.X, r.Min.X))
		}
		if t.Min.Y < r.Min.Y {
			top = max(top, min(t.Max.Y, r.Max.Y)-r.Min.Y)
		}
		if t.Max.Y > r.Max.Y {
			bottom = max(bottom, r.Max.Y-max(t.Min.Y, r.Min.Y))
		}
	}
	wx := ramp(r.Dx(), left, right)
	wy := ramp(r.Dy(), top, bottom)
	out := make([]float32, len(wx)*len(wy))
	for y, vy := range wy {
		row := out[y*len(wx) : (y+1)*len(wx)]
		for x, vx := range wx {
			row[x] = vx * vy
		}
	}
	return out
}

// Accumulator sums weighted tiles into a frame and normalises by the summed
// weights. Its memory is one float32 frame plus one float32 weight per
// pixel.
type Accumulator struct {
	img  *frame.Image
	wsum []float32
	done bool
}

// NewAccumulator returns an empty accumulator for a w x h frame.
func NewAccumulator(w, h int) *Accumulator {
	return &Accumulator{img: frame.New(w, h), wsum: make([]float32, w*h)}
}

// Add accumulates img, whose size is r's, at r with the given per-pixel
// weights (row-major over r; nil means weight 1 everywhere). It panics when
// r lies outside the frame, the sizes do not match, or after Result.
func (a *Accumulator) Add(r image.Rectangle, img *frame.Image, weight []float32) {
	switch {
	case a.done:
		panic("tiling: Accumulator.Add after Result")
	case !r.In(a.img.Bounds()):
		panic(fmt.Sprintf("tiling: Accumulator.Add: %v outside %v", r, a.img.Bounds()))
	case img.W != r.Dx() || img.H != r.Dy():
		panic(fmt.Sprintf("tiling: Accumulator.Add: %dx%d image for %v", img.W, img.H, r))
	case weight != nil && len(weight) != img.W*img.H:
		panic(fmt.Sprintf("tiling: Accumulator.Add: %d weights for %v", len(weight), r))
	}
	for y := 0; y < img.H; y++ {
		o := ((r.Min.Y+y)*a.img.W + r.Min.X)
		dst := a.img.Pix[3*o : 3*(o+img.W)]
		ws := a.wsum[o : o+img.W]
		src := img.Pix[3*y*img.W : 3*(y+1)*img.W]
		for x := range ws {
			wt := float32(1)
			if weight != nil {
				wt = weight[y*img.W+x]
			}
			ws[x] += wt
			dst[3*x] += wt * src[3*x]
			dst[3*x+1] += wt * src[3*x+1]
			dst[3*x+2] += wt * src[3*x+2]
		}
	}
}

// Result divides the accumulated sums by the summed weights, in place, and
// returns the frame; pixels that received no weight are 0. The accumulator
// is finished afterwards: further Result calls return the same frame and Add
// panics.
func (a *Accumulator) Result() *frame.Image {
	if a.done {
		return a.img
	}
	a.done = true
	for i, w := range a.wsum {
		p := a.img.Pix[3*i : 3*i+3]
		switch {
		case w == 0:
			p[0], p[1], p[2] = 0, 0, 0
		case w != 1:
			p[0] /= w
			p[1] /= w
			p[2] /= w
		}
	}
	a.wsum = nil
	return a.img
}

// checkClip validates what a ClipFunc returned for a clip of n frames of
// size w x h.
func checkClip(out []*frame.Image, n, w, h int) error {
	if len(out) != n {
		return fmt.Errorf("tiling: clip function returned %d frames for %d", len(out), n)
	}
	for i, f := range out {
		if f == nil {
			return fmt.Errorf("tiling: clip function returned a nil frame at %d", i)
		}
		if f.W != w || f.H != h || len(f.Pix) != w*h*3 {
			return fmt.Errorf("tiling: clip function returned a %dx%d frame at %d, want %dx%d", f.W, f.H, i, w, h)
		}
	}
	return nil
}

// ProcessTiles runs fn on every spatial tile of clip (see Tiles for size,
// overlap and multiple) and blends the results with TileWeights into full
// frames. All frames of clip must have the same size; fn receives the same
// tile cropped from every frame and must return frames of the tile's size.
// A frame that fits in one tile is passed to fn uncropped. The context is
// checked between tiles; errors from fn are returned wrapped.
func ProcessTiles(ctx context.Context, clip []*frame.Image, size, overlap, multiple int, fn ClipFunc) ([]*frame.Image, error) {
	if len(clip) == 0 {
		return nil, nil
	}
	w, h := clip[0].W, clip[0].H
	for i, f := range clip {
		if f == nil || f.W != w || f.H != h {
			return nil, fmt.Errorf("tiling: ProcessTiles: frame %d is nil or not %dx%d", i, w, h)
		}
	}
	crop := func(r image.Rectangle) ([]*frame.Image, error) {
		if r == clip[0].Bounds() {
			return append([]*frame.Image(nil), clip...), nil
		}
		crops := make([]*frame.Image, len(clip))
		for i, f := range clip {
			crops[i] = f.Crop(r)
		}
		return crops, nil
	}
	return ProcessTilesFrom(ctx, len(clip), w, h, size, overlap, multiple, crop, fn)
}

// ProcessTilesFrom is ProcessTiles for a clip of n frames of w x h that is
// never held whole: tile returns the n frames of one tile (a rectangle of
// Tiles), made when needed (for example resized from a smaller source), so
// that memory holds the output frames and one tile's input, whatever the
// frame size. Errors from tile and fn are returned wrapped.
func ProcessTilesFrom(ctx context.Context, n, w, h, size, overlap, multiple int,
	tile func(r image.Rectangle) ([]*frame.Image, error), fn ClipFunc) ([]*frame.Image, error) {
	if n == 0 {
		return nil, nil
	}
	tiles, err := Tiles(w, h, size, overlap, multiple)
	if err != nil {
		return nil, fmt.Errorf("tiling: ProcessTiles: %w", err)
	}
	run := func(r image.Rectangle) ([]*frame.Image, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("tiling: ProcessTiles: %w", err)
		}
		in, err := tile(r)
		if err != nil {
			return nil, fmt.Errorf("tiling: ProcessTiles: tile %v: %w", r, err)
		}
		if err := checkClip(in, n, r.Dx(), r.Dy()); err != nil {
			return nil, fmt.Errorf("tiling: ProcessTiles: tile %v input: %w", r, err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("tiling: ProcessTiles: tile %v: %w", r, err)
		}
		if err := checkClip(out, n, r.Dx(), r.Dy()); err != nil {
			return nil, fmt.Errorf("tiling: ProcessTiles: tile %v: %w", r, err)
		}
		return out, nil
	}
	if len(tiles) == 1 {
		return run(tiles[0])
	}
	accs := make([]*Accumulator, n)
	for i := range accs {
		accs[i] = NewAccumulator(w, h)
	}
	for _, r := range tiles {
		out, err := run(r)
		if err != nil {
			return nil, err
		}
		wt := TileWeights(r, tiles)
		for i, f := range out {
			accs[i].Add(r, f, wt)
		}
	}
	res := make([]*frame.Image, n)
	for i, a := range accs {
		res[i] = a.Result()
	}
	return res, nil
}
