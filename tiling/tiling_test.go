package tiling

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/pssr/pssr/frame"
)

func TestWindows(t *testing.T) {
	cases := []struct {
		n, size, overlap int
		want             []Span
		wantErr          bool
	}{
		{n: 0, size: 33, overlap: 16, want: nil},
		{n: 1, size: 33, overlap: 16, want: []Span{{0, 1}}},
		{n: 33, size: 33, overlap: 16, want: []Span{{0, 33}}},
		{n: 34, size: 33, overlap: 16, want: []Span{{0, 33}, {1, 34}}},
		{n: 50, size: 33, overlap: 16, want: []Span{{0, 33}, {17, 50}}},
		{n: 51, size: 33, overlap: 16, want: []Span{{0, 33}, {17, 50}, {18, 51}}},
		{n: 100, size: 33, overlap: 16, want: []Span{{0, 33}, {17, 50}, {34, 67}, {51, 84}, {67, 100}}},
		{n: 10, size: 4, overlap: 0, want: []Span{{0, 4}, {4, 8}, {6, 10}}},
		{n: 5, size: 1, overlap: 0, want: []Span{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}}},
		{n: 5, size: 0, overlap: 0, wantErr: true},
		{n: 5, size: 4, overlap: -1, wantErr: true},
		{n: 5, size: 4, overlap: 4, wantErr: true},
		{n: -1, size: 4, overlap: 1, wantErr: true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n%d_s%d_o%d", c.n, c.size, c.overlap), func(t *testing.T) {
			got, err := Windows(c.n, c.size, c.overlap)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestCrossFadeWeights(t *testing.T) {
	for _, c := range []struct{ n, size, overlap int }{
		{1, 33, 16}, {34, 33, 16}, {100, 33, 16}, {77, 8, 3}, {40, 8, 6}, {12, 5, 0}, {9, 9, 8}, {30, 9, 8},
	} {
		t.Run(fmt.Sprintf("%d_%d_%d", c.n, c.size, c.overlap), func(t *testing.T) {
			spans, err := Windows(c.n, c.size, c.overlap)
			if err != nil {
				t.Fatal(err)
			}
			ws := CrossFadeWeights(spans, c.n)
			sum := make([]float32, c.n)
			for i, s := range spans {
				if len(ws[i]) != s.Len() {
					t.Fatalf("span %d: %d weights for %d frames", i, len(ws[i]), s.Len())
				}
				for k, w := range ws[i] {
					if !(w > 0) {
						t.Fatalf("span %v frame %d: weight %v", s, s.Start+k, w)
					}
					sum[s.Start+k] += w
				}
			}
			for f, v := range sum {
				if v != 1 {
					t.Fatalf("frame %d: weights sum to %v", f, v)
				}
			}
		})
	}
	// Known values: two windows sharing 3 frames fade 1/4, 2/4, 3/4.
	ws := CrossFadeWeights([]Span{{0, 5}, {2, 7}}, 7)
	want := [][]float32{{1, 1, 0.75, 0.5, 0.25}, {0.25, 0.5, 0.75, 1, 1}}
	if fmt.Sprint(ws) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", ws, want)
	}
}

// video returns n random w x h frames.
func video(rng *rand.Rand, n, w, h int) []*frame.Image {
	v := make([]*frame.Image, n)
	for i := range v {
		v[i] = frame.New(w, h)
		for j := range v[i].Pix {
			v[i].Pix[j] = rng.Float32()
		}
	}
	return v
}

// source returns a next function reading frames.
func source(frames []*frame.Image) func() (*frame.Image, error) {
	i := 0
	return func() (*frame.Image, error) {
		if i == len(frames) {
			return nil, io.EOF
		}
		i++
		return frames[i-1], nil
	}
}

// addCall returns a ClipFunc that adds k to every sample on its k-th call
// (k = 1, 2, ...), without touching its input, and checks clip lengths.
func addCall(t *testing.T, size int, calls *int) ClipFunc {
	return func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) {
		if len(clip) == 0 || len(clip) > size {
			t.Errorf("clip of %d frames, size %d", len(clip), size)
		}
		*calls++
		out := make([]*frame.Image, len(clip))
		for i, f := range clip {
			out[i] = f.Clone()
			for j := range out[i].Pix {
				out[i].Pix[j] += float32(*calls)
			}
		}
		return out, nil
	}
}

func TestProcessStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type cfg struct{ size, overlap int }
	for _, c := range []cfg{{33, 16}, {8, 3}, {5, 4}} {
		for _, n := range []int{0, 1, 5, 33, 34, 50, 100} {
			t.Run(fmt.Sprintf("s%d_o%d_n%d", c.size, c.overlap, n), func(t *testing.T) {
				in := video(rng, n, 3, 2)
				spans, _ := Windows(n, c.size, c.overlap)
				ws := CrossFadeWeights(spans, n)

				// Identity: frames come back exactly as they went in.
				var got []*frame.Image
				identity := func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) {
					if len(clip) > c.size {
						t.Errorf("clip of %d frames > %d", len(clip), c.size)
					}
					return clip, nil
				}
				err := ProcessStream(context.Background(), source(in), identity,
					func(f *frame.Image) error { got = append(got, f); return nil }, c.size, c.overlap)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n {
					t.Fatalf("emitted %d frames, want %d", len(got), n)
				}
				for i := range in {
					for j, v := range in[i].Pix {
						if math.Abs(float64(got[i].Pix[j]-v)) > 1e-6 {
							t.Fatalf("frame %d sample %d: %v, want %v", i, j, got[i].Pix[j], v)
						}
					}
				}

				// +k on call k: each frame gets the weighted mean of the
				// call numbers of the windows covering it.
				got = got[:0]
				calls := 0
				err = ProcessStream(context.Background(), source(in), addCall(t, c.size, &calls),
					func(f *frame.Image) error { got = append(got, f); return nil }, c.size, c.overlap)
				if err != nil {
					t.Fatal(err)
				}
				if calls != len(spans) || len(got) != n {
					t.Fatalf("%d calls, %d frames; want %d, %d", calls, len(got), len(spans), n)
				}
				add := make([]float64, n)
				for i, s := range spans {
					for k := range s.Len() {
						add[s.Start+k] += float64(ws[i][k]) * float64(i+1)
					}
				}
				for i := range in {
					for j, v := range in[i].Pix {
						if want := float64(v) + add[i]; math.Abs(float64(got[i].Pix[j])-want) > 1e-6*max(1, want) {
							t.Fatalf("frame %d sample %d: %v, want %v", i, j, got[i].Pix[j], want)
						}
					}
				}
			})
		}
	}
}

func TestProcessStreamEmitsInOrderAsSoonAsFinal(t *testing.T) {
	const n, size, overlap = 40, 8, 3
	in := make([]*frame.Image, n)
	for i := range in {
		in[i] = frame.New(1, 1)
		in[i].Pix[0] = float32(i)
	}
	read, emitted, maxHeld := 0, 0, 0
	next := func() (*frame.Image, error) {
		if read == n {
			return nil, io.EOF
		}
		read++
		maxHeld = max(maxHeld, read-emitted)
		return in[read-1], nil
	}
	identity := func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) { return clip, nil }
	err := ProcessStream(context.Background(), next, identity, func(f *frame.Image) error {
		if f.Pix[0] != float32(emitted) {
			return fmt.Errorf("emitted frame %v at position %d", f.Pix[0], emitted)
		}
		emitted++
		return nil
	}, size, overlap)
	if err != nil {
		t.Fatal(err)
	}
	if emitted != n {
		t.Fatalf("emitted %d, want %d", emitted, n)
	}
	if maxHeld > 2*size+1 {
		t.Fatalf("held up to %d frames between reading and emitting", maxHeld)
	}
}

func TestProcessStreamErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	in := video(rng, 20, 2, 2)
	boom := errors.New("boom")
	identity := func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) { return clip, nil }
	drop := func(*frame.Image) error { return nil }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name          string
		ctx           context.Context
		next          func() (*frame.Image, error)
		fn            ClipFunc
		emit          func(*frame.Image) error
		size, overlap int
		is            error
	}{
		{"size", context.Background(), source(in), identity, drop, 0, 0, nil},
		{"overlapNeg", context.Background(), source(in), identity, drop, 4, -1, nil},
		{"overlapBig", context.Background(), source(in), identity, drop, 4, 4, nil},
		{"next", context.Background(), func() (*frame.Image, error) { return nil, boom }, identity, drop, 4, 1, boom},
		{"fn", context.Background(), source(in), func(context.Context, []*frame.Image) ([]*frame.Image, error) { return nil, boom }, drop, 4, 1, boom},
		{"fnShort", context.Background(), source(in), func(_ context.Context, c []*frame.Image) ([]*frame.Image, error) { return c[1:], nil }, drop, 4, 1, nil},
		{"emit", context.Background(), source(in), identity, func(*frame.Image) error { return boom }, 4, 1, boom},
		{"ctx", cancelled, source(in), identity, drop, 4, 1, context.Canceled},
		{"sizes", context.Background(), source([]*frame.Image{frame.New(2, 2), frame.New(3, 2)}), identity, drop, 4, 1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ProcessStream(c.ctx, c.next, c.fn, c.emit, c.size, c.overlap)
			if err == nil {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v does not wrap %v", err, c.is)
			}
		})
	}
}

func TestTiles(t *testing.T) {
	cases := []struct {
		w, h, size, overlap, multiple int
		wantErr                       bool
	}{
		{1280, 720, 720, 128, 16, false}, {1920, 1080, 720, 128, 16, false}, {720, 576, 720, 128, 16, false},
		{100, 50, 32, 8, 8, false}, {101, 37, 30, 7, 4, false}, {17, 9, 5, 4, 1, false}, {10, 10, 3, 1, 16, false},
		{0, 10, 8, 2, 1, true}, {10, 10, 0, 0, 1, true}, {10, 10, 8, -1, 1, true}, {10, 10, 8, 8, 1, true}, {10, 10, 8, 2, 0, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d_%d_%d_%d", c.w, c.h, c.size, c.overlap, c.multiple), func(t *testing.T) {
			tiles, err := Tiles(c.w, c.h, c.size, c.overlap, c.multiple)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			frameR := image.Rect(0, 0, c.w, c.h)
			cover := make([]int, c.w*c.h)
			for _, r := range tiles {
				if !r.In(frameR) || r.Empty() {
					t.Fatalf("tile %v outside %v", r, frameR)
				}
				if r.Dx() > max(c.size, 0) && r.Dx() != c.w || r.Dy() > c.size && r.Dy() != c.h {
					t.Fatalf("tile %v larger than %d", r, c.size)
				}
				if c.size >= c.multiple && (c.size-c.overlap) >= c.multiple && (r.Min.X%c.multiple != 0 && r.Max.X != c.w || r.Min.Y%c.multiple != 0 && r.Max.Y != c.h) {
					t.Fatalf("tile %v origin not a multiple of %d", r, c.multiple)
				}
				for y := r.Min.Y; y < r.Max.Y; y++ {
					for x := r.Min.X; x < r.Max.X; x++ {
						cover[y*c.w+x]++
					}
				}
			}
			for i, n := range cover {
				if n == 0 {
					t.Fatalf("pixel %d not covered", i)
				}
			}
			// Consecutive tiles of a row overlap by at least the requested
			// amount, and their origins increase.
			for i := 1; i < len(tiles); i++ {
				a, b := tiles[i-1], tiles[i]
				if a.Min.Y == b.Min.Y && (b.Min.X <= a.Min.X || a.Max.X-b.Min.X < c.overlap) {
					t.Fatalf("tiles %v and %v overlap by %d < %d", a, b, a.Max.X-b.Min.X, c.overlap)
				}
			}
		})
	}
	// Known layout along one axis: 100 px, tiles of 32 overlapping by 8 on
	// a grid of 8: origins 0, 24, 48, and the last one at 72 (rounded up
	// from 68, clipped to the frame).
	tiles, _ := Tiles(100, 10, 32, 8, 8)
	want := []image.Rectangle{image.Rect(0, 0, 32, 10), image.Rect(24, 0, 56, 10), image.Rect(48, 0, 80, 10), image.Rect(72, 0, 100, 10)}
	if fmt.Sprint(tiles) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", tiles, want)
	}
	// Balanced tiles: as many as tiles of the full size need, but no
	// larger than that count requires. 1280x720 with 768 and 128 on a grid
	// of 16: two tiles of 704 overlapping by 128 (full-size tiles, 0-768
	// and 512-1280, would overlap by 256); 1080 rows: two of 608.
	for _, c := range []struct {
		length int
		want   [][2]int
	}{
		{1280, [][2]int{{0, 704}, {576, 1280}}},
		{1080, [][2]int{{0, 608}, {480, 1080}}},
		{1920, [][2]int{{0, 736}, {608, 1344}, {1184, 1920}}},
		{720, [][2]int{{0, 720}}},
	} {
		if got := axisTiles(c.length, 768, 128, 16); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("axisTiles(%d, 768, 128, 16) = %v, want %v", c.length, got, c.want)
		}
	}
}

func TestTileWeights(t *testing.T) {
	tiles := []image.Rectangle{image.Rect(0, 0, 6, 4), image.Rect(3, 0, 9, 4)}
	got := TileWeights(tiles[0], tiles)
	// Right band of 3 pixels: 3/4, 2/4, 1/4; no vertical neighbours.
	wantRow := []float32{1, 1, 1, 0.75, 0.5, 0.25}
	for y := 0; y < 4; y++ {
		for x, w := range wantRow {
			if got[y*6+x] != w {
				t.Fatalf("(%d,%d) = %v, want %v", x, y, got[y*6+x], w)
			}
		}
	}
	if w := TileWeights(image.Rect(0, 0, 5, 5), []image.Rectangle{image.Rect(0, 0, 5, 5)}); w[0] != 1 || w[24] != 1 {
		t.Fatalf("lone tile weights %v", w)
	}
	// Over any tiling the weights are positive and, summed, nearly 1.
	for _, c := range []struct{ w, h, size, overlap int }{{100, 60, 32, 8}, {45, 45, 16, 5}, {50, 20, 12, 11}} {
		tiles, _ := Tiles(c.w, c.h, c.size, c.overlap, 1)
		sum := make([]float64, c.w*c.h)
		for _, r := range tiles {
			ws := TileWeights(r, tiles)
			for i, w := range ws {
				if !(w > 0) {
					t.Fatalf("%v: weight %v", r, w)
				}
				sum[(r.Min.Y+i/r.Dx())*c.w+r.Min.X+i%r.Dx()] += float64(w)
			}
		}
		for i, s := range sum {
			if s <= 0 {
				t.Fatalf("pixel %d: weight sum %v", i, s)
			}
		}
	}
}

func TestAccumulatorConstant(t *testing.T) {
	for _, c := range []struct{ w, h, size, overlap int }{{100, 60, 32, 8}, {45, 45, 16, 5}, {50, 20, 12, 11}} {
		tiles, _ := Tiles(c.w, c.h, c.size, c.overlap, 4)
		acc := NewAccumulator(c.w, c.h)
		for _, r := range tiles {
			tile := frame.New(r.Dx(), r.Dy())
			for i := range tile.Pix {
				tile.Pix[i] = []float32{0.2, 0.5, 0.9}[i%3]
			}
			acc.Add(r, tile, TileWeights(r, tiles))
		}
		out := acc.Result()
		for i, v := range out.Pix {
			if want := []float32{0.2, 0.5, 0.9}[i%3]; math.Abs(float64(v-want)) > 1e-6 {
				t.Fatalf("%v: sample %d = %v, want %v", c, i, v, want)
			}
		}
	}
	// Unweighted: a pixel covered twice averages.
	acc := NewAccumulator(2, 1)
	a, b := frame.New(2, 1), frame.New(1, 1)
	a.Pix[0], b.Pix[0] = 1, 3
	acc.Add(image.Rect(0, 0, 2, 1), a, nil)
	acc.Add(image.Rect(0, 0, 1, 1), b, nil)
	if out := acc.Result(); out.Pix[0] != 2 || out.Pix[3] != 0 {
		t.Fatalf("got %v", out.Pix)
	}
}

func TestProcessTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	identity := func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) { return clip, nil }
	for _, c := range []struct{ w, h, size, overlap, multiple int }{
		{70, 45, 32, 8, 8}, {33, 33, 16, 5, 1}, {20, 12, 32, 8, 16}, {61, 17, 24, 23, 1},
	} {
		t.Run(fmt.Sprintf("%dx%d_%d_%d", c.w, c.h, c.size, c.overlap), func(t *testing.T) {
			clip := video(rng, 3, c.w, c.h)
			calls := 0
			out, err := ProcessTiles(context.Background(), clip, c.size, c.overlap, c.multiple,
				func(ctx context.Context, tiles []*frame.Image) ([]*frame.Image, error) {
					calls++
					if tiles[0].W > c.size && tiles[0].W != c.w || tiles[0].H > c.size && tiles[0].H != c.h {
						t.Errorf("tile %dx%d larger than %d", tiles[0].W, tiles[0].H, c.size)
					}
					return identity(ctx, tiles)
				})
			if err != nil {
				t.Fatal(err)
			}
			tiles, _ := Tiles(c.w, c.h, c.size, c.overlap, c.multiple)
			if calls != len(tiles) || len(out) != len(clip) {
				t.Fatalf("%d calls, %d frames", calls, len(out))
			}
			for i := range clip {
				for j, v := range clip[i].Pix {
					if math.Abs(float64(out[i].Pix[j]-v)) > 1e-6 {
						t.Fatalf("frame %d sample %d: %v, want %v", i, j, out[i].Pix[j], v)
					}
				}
			}
		})
	}
}

func TestProcessTilesErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	clip := video(rng, 2, 40, 30)
	boom := errors.New("boom")
	identity := func(ctx context.Context, c []*frame.Image) ([]*frame.Image, error) { return c, nil }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		clip []*frame.Image
		size int
		fn   ClipFunc
		is   error
	}{
		{"size", context.Background(), clip, 0, identity, nil},
		{"fn", context.Background(), clip, 16, func(context.Context, []*frame.Image) ([]*frame.Image, error) { return nil, boom }, boom},
		{"fnBigger", context.Background(), clip, 16, func(_ context.Context, c []*frame.Image) ([]*frame.Image, error) {
			return []*frame.Image{frame.New(64, 64), frame.New(64, 64)}, nil
		}, nil},
		{"mixed", context.Background(), []*frame.Image{frame.New(4, 4), frame.New(5, 4)}, 16, identity, nil},
		{"ctx", cancelled, clip, 16, identity, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ProcessTiles(c.ctx, c.clip, c.size, 4, 1, c.fn)
			if err == nil {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v does not wrap %v", err, c.is)
			}
		})
	}
}

func ExampleProcessStream() {
	frames := []*frame.Image{frame.New(4, 4), frame.New(4, 4), frame.New(4, 4), frame.New(4, 4), frame.New(4, 4)}
	i := 0
	next := func() (*frame.Image, error) {
		if i == len(frames) {
			return nil, io.EOF
		}
		i++
		return frames[i-1], nil
	}
	upscale := func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) {
		fmt.Println("window of", len(clip))
		return clip, nil
	}
	n := 0
	err := ProcessStream(context.Background(), next, upscale, func(*frame.Image) error { n++; return nil }, 3, 1)
	fmt.Println(n, err)
	// Output:
	// window of 3
	// window of 3
	// 5 <nil>
}

// TestProcessStreamScaled streams through a clip function that doubles
// the frame size (nearest neighbour) and checks the emitted frames are the
// doubled inputs; a function that returns the wrong size is an error.
func TestProcessStreamScaled(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	in := video(rng, 20, 3, 2)
	double := func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) {
		out := make([]*frame.Image, len(clip))
		for i, f := range clip {
			out[i] = frame.Resize(f, 2*f.W, 2*f.H, frame.Nearest)
		}
		return out, nil
	}
	var got []*frame.Image
	err := ProcessStreamScaled(context.Background(), source(in), double,
		func(f *frame.Image) error { got = append(got, f); return nil }, 8, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("emitted %d frames, want %d", len(got), len(in))
	}
	for i, f := range in {
		want := frame.Resize(f, 2*f.W, 2*f.H, frame.Nearest)
		for j, v := range want.Pix {
			if math.Abs(float64(got[i].Pix[j]-v)) > 1e-6 {
				t.Fatalf("frame %d sample %d: %v, want %v", i, j, got[i].Pix[j], v)
			}
		}
	}
	err = ProcessStreamScaled(context.Background(), source(in), double,
		func(f *frame.Image) error { return nil }, 8, 3, 3)
	if err == nil || !strings.Contains(err.Error(), "x") {
		t.Fatalf("wrong output size: got error %v", err)
	}
	if err := ProcessStreamScaled(context.Background(), source(in), double,
		func(f *frame.Image) error { return nil }, 8, 3, 0); err == nil {
		t.Fatal("scale 0: no error")
	}
}

// TestProcessStreamReleasesWindowOutput checks that a window's output
// frames are not kept while the next window is computed: by then they have
// been emitted or folded into the cross-fade sums, so after a collection
// none is reachable (weak pointers to them are nil). Holding a whole
// window's output through the next one would make a long video's peak a
// window's output above a short one's.
func TestProcessStreamReleasesWindowOutput(t *testing.T) {
	const n, size, overlap = 40, 8, 3
	in := make([]*frame.Image, n)
	for i := range in {
		in[i] = frame.New(64, 64)
		in[i].Pix[0] = float32(i)
	}
	var prevOut []weak.Pointer[frame.Image]
	calls := 0
	fn := func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) {
		runtime.GC()
		for k, p := range prevOut {
			if p.Value() != nil {
				t.Errorf("call %d: output frame %d of call %d is still reachable", calls+1, k, calls)
			}
		}
		prevOut = prevOut[:0]
		calls++
		out := make([]*frame.Image, len(clip))
		for i, f := range clip {
			out[i] = f.Clone()
			prevOut = append(prevOut, weak.Make(out[i]))
		}
		return out, nil
	}
	emitted := 0
	err := ProcessStream(context.Background(), source(in), fn, func(f *frame.Image) error {
		emitted++ // and drop f, as a writer does once it is encoded
		return nil
	}, size, overlap)
	if err != nil || emitted != n || calls < 3 {
		t.Fatalf("%d frames emitted in %d calls: %v", emitted, calls, err)
	}
}
