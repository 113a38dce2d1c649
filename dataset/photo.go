package dataset

import (
	"container/list"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/pssr/pssr/frame"
)

// Motion is the camera motion of a pseudo-video made from a still photo.
type Motion string

// The pseudo-video motions.
const (
	// Pan moves the crop window at a constant sub-pixel velocity.
	Pan Motion = "pan"
	// Zoom scales the crop window about a fixed centre by a constant
	// factor per frame (zooming in or out).
	Zoom Motion = "zoom"
	// Jitter offsets the window by a small random sub-pixel amount in
	// every frame, like a hand-held camera.
	Jitter Motion = "jitter"
)

// Window is the rectangle of the source picture, in continuous pixel
// coordinates (pixel (i, j) covers [i, i+1) x [j, j+1)), that one
// pseudo-video frame shows.
type Window struct {
	X, Y, W, H float64
}

// PanWindows returns n windows of w x h pixels, the first at (x0, y0),
// each moved by (vx, vy) pixels from the previous one.
func PanWindows(x0, y0, vx, vy float64, n, w, h int) []Window {
	ws := make([]Window, n)
	for t := range ws {
		ws[t] = Window{X: x0 + vx*float64(t), Y: y0 + vy*float64(t), W: float64(w), H: float64(h)}
	}
	return ws
}

// ZoomWindows returns n windows centred on (cx, cy) with the aspect ratio of
// w x h, the first s0 times the output size and each rate times the size of
// the previous one (rate > 1 zooms out, rate < 1 zooms in).
func ZoomWindows(cx, cy, s0, rate float64, n, w, h int) []Window {
	ws := make([]Window, n)
	s := s0
	for t := range ws {
		ww, wh := s*float64(w), s*float64(h)
		ws[t] = Window{X: cx - ww/2, Y: cy - wh/2, W: ww, H: wh}
		s *= rate
	}
	return ws
}

// resampleTaps holds, for each output sample along one axis, the first
// source index and the weights it reads.
type resampleTaps struct {
	first []int
	w     [][]float32
}

// newResampleTaps maps n output samples onto the source interval
// [start, start+length) of an axis, with a triangle (linear)
// filter whose radius is the larger of one pixel and the length/n scale
// (antialiased when the window is larger than the output). Sample i looks
// at source position start + (i+0.5)·length/n − 0.5; an integer position
// with scale 1 copies that pixel exactly. Indices outside the axis are
// clamped.
func newResampleTaps(start, length float64, n int) resampleTaps {
	scale := length / float64(n)
	rad := math.Max(1, scale)
	t := resampleTaps{first: make([]int, n), w: make([][]float32, n)}
	for i := range n {
		c := start + (float64(i)+0.5)*scale - 0.5
		lo := int(math.Floor(c-rad)) + 1
		hi := int(math.Ceil(c+rad)) - 1
		ws := make([]float64, 0, hi-lo+1)
		sum := 0.0
		for k := lo; k <= hi; k++ {
			v := 1 - math.Abs(float64(k)-c)/rad
			if v < 0 {
				v = 0
			}
			ws = append(ws, v)
			sum += v
		}
		// Trim zero weights at both ends (exact copies read one pixel).
		for len(ws) > 1 && ws[0] == 0 {
			ws = ws[1:]
			lo++
		}
		for len(ws) > 1 && ws[len(ws)-1] == 0 {
			ws = ws[:len(ws)-1]
		}
		w32 := make([]float32, len(ws))
		for j, v := range ws {
			w32[j] = float32(v / sum)
		}
		t.first[i] = lo
		t.w[i] = w32
	}
	return t
}

func clampIndex(i, n int) int {
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}

// RenderWindow resamples the window win of src to a w x h frame with a
// separable linear filter, antialiased when the window is larger than the
// output. A window of exactly w x h pixels at integer coordinates gives an
// exact crop; fractional coordinates interpolate bilinearly. Pixels beyond
// the border are replicated.
func RenderWindow(src *frame.Image, win Window, w, h int) *frame.Image {
	tx := newResampleTaps(win.X, win.W, w)
	ty := newResampleTaps(win.Y, win.H, h)
	// Rows of the source touched by the window, resampled horizontally.
	y0 := ty.first[0]
	y1 := ty.first[h-1] + len(ty.w[h-1])
	rows := make([][]float32, y1-y0)
	rowOf := func(sy int) []float32 {
		if rows[sy-y0] != nil {
			return rows[sy-y0]
		}
		cy := clampIndex(sy, src.H)
		in := src.Pix[cy*src.W*3 : (cy+1)*src.W*3]
		out := make([]float32, w*3)
		for x := range w {
			var r, g, b float32
			for j, wt := range tx.w[x] {
				sx := clampIndex(tx.first[x]+j, src.W) * 3
				r += wt * in[sx]
				g += wt * in[sx+1]
				b += wt * in[sx+2]
			}
			out[x*3], out[x*3+1], out[x*3+2] = r, g, b
		}
		rows[sy-y0] = out
		return out
	}
	dst := frame.New(w, h)
	for y := range h {
		o := dst.Pix[y*w*3 : (y+1)*w*3]
		for j, wt := range ty.w[y] {
			row := rowOf(ty.first[y] + j)
			for i, v := range row {
				o[i] += wt * v
			}
		}
	}
	return dst
}

// Cache keeps decoded, downscaled photos in memory up to a byte budget,
// evicting the least recently used. It is safe for concurrent use, and
// concurrent requests for the same photo decode it once.
type Cache struct {
	mu      sync.Mutex
	max     int64
	used    int64
	entries map[string]*cacheEntry
	lru     *list.List // of *cacheEntry, most recent at the front
}

type cacheEntry struct {
	key   string
	ready chan struct{}
	img   *frame.Image
	err   error
	elem  *list.Element
}

// NewCache returns a cache holding up to maxBytes of float32 pixels (at
// least the most recent photo is always kept).
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, entries: map[string]*cacheEntry{}, lru: list.New()}
}

// get returns the image for key, calling load when it is not cached.
func (c *Cache) get(key string, load func() (*frame.Image, error)) (*frame.Image, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
		<-e.ready
		return e.img, e.err
	}
	e := &cacheEntry{key: key, ready: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	e.img, e.err = load()

	c.mu.Lock()
	if e.err != nil {
		delete(c.entries, key)
	} else {
		e.elem = c.lru.PushFront(e)
		c.used += frameBytes(e.img.W, e.img.H)
		for c.used > c.max && c.lru.Len() > 1 {
			old := c.lru.Back().Value.(*cacheEntry)
			c.lru.Remove(old.elem)
			delete(c.entries, old.key)
			c.used -= frameBytes(old.img.W, old.img.H)
		}
	}
	c.mu.Unlock()
	close(e.ready)
	return e.img, e.err
}

// PhotoSource makes pseudo-videos from one still photograph: the photo is
// downscaled (area filter, Options.Downscale) and each clip is a crop
// window following a random Pan, Zoom or Jitter motion, every frame
// rendered with RenderWindow, so the ground truth is exact (no frame is
// upsampled: zoom windows are never smaller than the output).
type PhotoSource struct {
	path string
	opt  Options

	mu  sync.Mutex
	img *frame.Image // when opt.Cache is nil
}

// NewPhotoSource returns a source over the photo at path. The photo is
// decoded on the first Clip.
func NewPhotoSource(path string, opt Options) *PhotoSource {
	return &PhotoSource{path: path, opt: opt}
}

// Name returns the photo's path.
func (p *PhotoSource) Name() string { return p.path }

func (p *PhotoSource) downscale() int {
	if p.opt.Downscale > 0 {
		return p.opt.Downscale
	}
	return 2
}

func (p *PhotoSource) decode() (*frame.Image, error) {
	m, err := frame.Load(p.path)
	if err != nil {
		return nil, fmt.Errorf("photo source: %w", err)
	}
	if f := p.downscale(); f > 1 {
		m = frame.Resize(m, m.W/f, m.H/f, frame.Area)
	}
	return m, nil
}

// Image returns the downscaled photo clips are cut from.
func (p *PhotoSource) Image() (*frame.Image, error) {
	if p.opt.Cache != nil {
		return p.opt.Cache.get(fmt.Sprintf("%s@%d", p.path, p.downscale()), p.decode)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.img == nil {
		m, err := p.decode()
		if err != nil {
			return nil, err
		}
		p.img = m
	}
	return p.img, nil
}

// Windows draws the motion and the n windows of a clip of w x h frames
// over a picture of size iw x ih, all inside the picture.
func (p *PhotoSource) Windows(r *rand.Rand, iw, ih, n, w, h int) (Motion, []Window, error) {
	if n < 1 || w < 1 || h < 1 || w > iw || h > ih {
		return "", nil, fmt.Errorf("photo source %s: %dx%d photo for %d frames of %dx%d: %w", p.path, iw, ih, n, w, h, ErrTooSmall)
	}
	motions := p.opt.Motions
	if len(motions) == 0 {
		motions = []Motion{Pan, Zoom, Jitter}
	}
	m := motions[r.IntN(len(motions))]
	fw, fh := float64(iw), float64(ih)
	span := float64(n - 1)
	switch m {
	case Pan:
		maxV := p.opt.MaxSpeed
		if maxV <= 0 {
			maxV = 3
		}
		// Velocity bounded so the whole path fits in the picture.
		vx := (2*r.Float64() - 1) * maxV
		vy := (2*r.Float64() - 1) * maxV
		if span > 0 {
			vx = clampAbs(vx, (fw-float64(w))/span)
			vy = clampAbs(vy, (fh-float64(h))/span)
		}
		x0 := uniformIn(r, math.Max(0, -vx*span), fw-float64(w)-math.Max(0, vx*span))
		y0 := uniformIn(r, math.Max(0, -vy*span), fh-float64(h)-math.Max(0, vy*span))
		return m, PanWindows(x0, y0, vx, vy, n, w, h), nil
	case Zoom:
		maxZ := p.opt.MaxZoom
		if maxZ <= 0 {
			maxZ = 0.01
		}
		// Scales stay in [1, smax]: never upsample, never leave the picture.
		smax := math.Min(2, math.Min(fw/float64(w), fh/float64(h)))
		lr := (2*r.Float64() - 1) * math.Log1p(maxZ)
		if span > 0 {
			lr = clampAbs(lr, math.Log(smax)/span)
		}
		lo := math.Exp(math.Max(0, -lr*span))
		hi := smax / math.Exp(math.Max(0, lr*span))
		s0 := uniformIn(r, lo, hi)
		sBig := s0 * math.Exp(math.Max(0, lr*span))
		cx := uniformIn(r, sBig*float64(w)/2, fw-sBig*float64(w)/2)
		cy := uniformIn(r, sBig*float64(h)/2, fh-sBig*float64(h)/2)
		ws := ZoomWindows(cx, cy, s0, math.Exp(lr), n, w, h)
		for i := range ws {
			ws[i] = fitWindow(ws[i], fw, fh, float64(w), float64(h))
		}
		return m, ws, nil
	case Jitter:
		j := p.opt.Jitter
		if j <= 0 {
			j = 1
		}
		jx := math.Min(j, (fw-float64(w))/2)
		jy := math.Min(j, (fh-float64(h))/2)
		bx := uniformIn(r, jx, fw-float64(w)-jx)
		by := uniformIn(r, jy, fh-float64(h)-jy)
		ws := make([]Window, n)
		for i := range ws {
			ws[i] = Window{X: bx + (2*r.Float64()-1)*jx, Y: by + (2*r.Float64()-1)*jy, W: float64(w), H: float64(h)}
		}
		return m, ws, nil
	}
	return "", nil, fmt.Errorf("photo source %s: unknown motion %q", p.path, m)
}

// fitWindow guards against rounding: it keeps win at least w x h and
// inside the fw x fh picture.
func fitWindow(win Window, fw, fh, w, h float64) Window {
	win.W = math.Min(math.Max(win.W, w), fw)
	win.H = math.Min(math.Max(win.H, h), fh)
	win.X = math.Min(math.Max(win.X, 0), fw-win.W)
	win.Y = math.Min(math.Max(win.Y, 0), fh-win.H)
	return win
}

func clampAbs(v, m float64) float64 {
	if m < 0 {
		m = 0
	}
	return math.Max(-m, math.Min(m, v))
}

// uniformIn draws uniformly from [lo, hi], or returns lo when hi <= lo.
func uniformIn(r *rand.Rand, lo, hi float64) float64 {
	u := r.Float64()
	if hi <= lo {
		return lo
	}
	return lo + (hi-lo)*u
}

// Clip implements Source: a pseudo-video of frames frames of h x w pixels.
func (p *PhotoSource) Clip(r *rand.Rand, frames, h, w int) ([]*frame.Image, error) {
	img, err := p.Image()
	if err != nil {
		return nil, err
	}
	_, wins, err := p.Windows(r, img.W, img.H, frames, w, h)
	if err != nil {
		return nil, err
	}
	clip := make([]*frame.Image, len(wins))
	for i, win := range wins {
		clip[i] = RenderWindow(img, win, w, h)
	}
	augment(r, p.opt, clip)
	return clip, nil
}
