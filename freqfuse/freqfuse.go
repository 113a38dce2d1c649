// Package freqfuse implements the frequency-domain update of PS-SR: it keeps
// the low frequencies of the luma of a "consistent" frame (the base model's
// one-step result) and blends in high-frequency detail from a "sharp" frame
// (the draft model's multi-step result), so refinement cannot change the
// content of the picture.
//
// Per frame, on luma only:
//
//  1. RGB -> YUV (BT.601 luma, the U and V rows of the analogue YUV matrix).
//  2. A Butterworth low-pass H(u,v) = 1/(1+(r/fc)^(2n)), r = sqrt(u²+v²),
//     applied to the centred 2-D spectrum, with u spanning [-0.5, 0.5]
//     linearly across the width (linspace(-0.5, 0.5, W)) and v likewise
//     across the height.
//  3. low = Re(IFFT(FFT(Y)·H)), high = Y - low, for both frames.
//  4. w = |high_s| / (|high_s| + |high_c| + 1e-6), per pixel.
//  5. Y_out = low_c + alpha·(w·high_s + (1-w)·high_c).
//  6. U and V from the consistent frame, a border copied from the
//     consistent frame, back to RGB, clamped to [0, 1].
package freqfuse

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/pssr/pssr/frame"
	"gonum.org/v1/gonum/dsp/fourier"
)

// Params are the settings of the frequency-domain update.
type Params struct {
	// Alpha scales the blended high-frequency band, in [0, 2]; 1 keeps its
	// full strength, 0 keeps only the consistent frame's low band.
	Alpha float64
	// Fc is the Butterworth cut-off in normalised frequency units (u and v
	// span [-0.5, 0.5]), in (0, 0.7072].
	Fc float64
	// Order is the Butterworth order n, 1 to 8.
	Order int
	// Border is the width in pixels of the frame border copied unchanged
	// from the consistent frame, at least 0.
	Border int
}

// DefaultParams returns the released settings: alpha 1.0, cut-off 0.20,
// order 2, a 2-pixel border.
func DefaultParams() Params {
	return Params{Alpha: 1.0, Fc: 0.20, Order: 2, Border: 2}
}

// Validate reports the first setting that is out of range.
func (p Params) Validate() error {
	switch {
	case !(p.Alpha >= 0 && p.Alpha <= 2):
		return fmt.Errorf("freqfuse: alpha must be in [0, 2], got %v", p.Alpha)
	case !(p.Fc > 0 && p.Fc <= 0.7072):
		return fmt.Errorf("freqfuse: fc (cut-off frequency) must be in (0, 0.7072], got %v", p.Fc)
	case p.Order < 1 || p.Order > 8:
		return fmt.Errorf("freqfuse: order (Butterworth order) must be in 1..8, got %d", p.Order)
	case p.Border < 0:
		return fmt.Errorf("freqfuse: border must be >= 0, got %d", p.Border)
	}
	return nil
}

// Butterworth returns the low-pass gain 1/(1+(r/fc)^(2·order)) at radius r.
// It is 1 at r = 0 and 0.5 at r = fc.
func Butterworth(r, fc float64, order int) float64 {
	return 1 / (1 + math.Pow(r/fc, float64(2*order)))
}

// The YUV matrix of §5 and its inverse (computed exactly in rational
// arithmetic and rounded to float64).
const (
	yr, yg, yb = 0.299, 0.587, 0.114
	ur, ug, ub = -0.14713, -0.28886, 0.436
	vr, vg, vb = 0.615, -0.51499, -0.10001

	ry, ru, rv = 1.0000000001179838, -1.1798384382405719e-05, 1.1398345757210222
	gy, gu, gv = 1.0000039464605326, -0.39464605326210683, -0.58059423383439512
	by, bu, bv = 0.99997967888061567, 2.0321119384367283, -1.511298066375047e-05
)

// RGBToYUV converts one RGB sample to YUV with Y = 0.299R + 0.587G + 0.114B,
// U = -0.14713R - 0.28886G + 0.436B, V = 0.615R - 0.51499G - 0.10001B.
func RGBToYUV(r, g, b float64) (y, u, v float64) {
	return yr*r + yg*g + yb*b, ur*r + ug*g + ub*b, vr*r + vg*g + vb*b
}

// YUVToRGB is the exact inverse of RGBToYUV (to float64 rounding).
func YUVToRGB(y, u, v float64) (r, g, b float64) {
	return ry*y + ru*u + rv*v, gy*y + gu*u + gv*v, by*y + bu*u + bv*v
}

// luma returns Y of pixel i of m.
func luma(m *frame.Image, i int) float64 {
	p := m.Pix[3*i : 3*i+3]
	return yr*float64(p[0]) + yg*float64(p[1]) + yb*float64(p[2])
}

// colBlock is how many adjacent columns a worker gathers at once, so the
// strided column reads touch whole cache lines.
const colBlock = 8

// worker holds the per-goroutine FFT plans and column buffers.
type worker struct {
	row *fourier.CmplxFFT // length W
	col *fourier.CmplxFFT // length H
	buf [colBlock][]complex128
}

// Fuser applies the frequency-domain update. It caches the Butterworth
// filter and the FFT plans for the last frame size it saw, so fusing many
// frames of one size only pays for the transforms.
//
// A Fuser is not safe for concurrent use: call it from one goroutine at a
// time (it parallelises each call internally over GOMAXPROCS goroutines).
// Use one Fuser per goroutine to fuse frames concurrently.
type Fuser struct {
	p       Params
	w, h    int
	filt    []float64 // Hermitian part of the filter, unshifted, times 1/(W·H)
	z       []complex128
	workers []*worker
}

// New returns a Fuser for p, or an error when p is invalid.
func New(p Params) (*Fuser, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("freqfuse.New: %w", err)
	}
	return &Fuser{p: p}, nil
}

// Params returns the Fuser's settings.
func (f *Fuser) Params() Params { return f.p }

// linspace returns the i-th of n points spanning [-0.5, 0.5] evenly, as
// numpy.linspace(-0.5, 0.5, n) does (a single point is -0.5).
func linspace(i, n int) float64 {
	if n == 1 {
		return -0.5
	}
	return -0.5 + float64(i)/float64(n-1)
}

// evenFilter returns the even part (H[k]+H[-k])/2 of the unshifted
// (ifftshift-ed) Butterworth filter of w x h frames, for ky in [0, h) and
// kx in [0, cols), row-major: cols = w gives the whole spectrum, w/2+1 the
// half spectrum of a real transform. The centred filter Hc[j][i] is taken
// at (u_i, v_j), so H[ky][kx] = Hc[(ky+h/2)%h][(kx+w/2)%w].
func evenFilter(w, h, cols int, fc float64, order int) []float64 {
	hc := func(ky, kx int) float64 {
		u := linspace((kx+w/2)%w, w)
		v := linspace((ky+h/2)%h, h)
		return Butterworth(math.Hypot(u, v), fc, order)
	}
	f := make([]float64, h*cols)
	for ky := 0; ky < h; ky++ {
		for kx := 0; kx < cols; kx++ {
			f[ky*cols+kx] = (hc(ky, kx) + hc((h-ky)%h, (w-kx)%w)) / 2
		}
	}
	return f
}

// prepare builds the filter, plans and buffers for w x h frames.
func (f *Fuser) prepare(w, h int) {
	if f.w == w && f.h == h && f.filt != nil {
		return
	}
	f.w, f.h = w, h
	// Re(IFFT(F·H)) for a real signal equals IFFT(F·Hs) with Hs the even
	// part (H[k]+H[-k])/2, which is real and even, so the inverse transform
	// of a real signal stays real. That lets one complex transform filter
	// two real frames at once (one in the real part, one in the imaginary
	// part) with exactly the result of the per-frame definition.
	f.filt = evenFilter(w, h, w, f.p.Fc, f.p.Order)
	scale := 1 / float64(w*h)
	for i := range f.filt {
		f.filt[i] *= scale
	}
	f.z = make([]complex128, w*h)
	n := runtime.GOMAXPROCS(0)
	f.workers = make([]*worker, n)
	for i := range f.workers {
		wk := &worker{row: fourier.NewCmplxFFT(w), col: fourier.NewCmplxFFT(h)}
		for b := range wk.buf {
			wk.buf[b] = make([]complex128, h)
		}
		f.workers[i] = wk
	}
}

// parallel runs fn over [0, n) in contiguous chunks, one per worker.
func (f *Fuser) parallel(n int, fn func(wk *worker, lo, hi int)) {
	workers := min(len(f.workers), n)
	if workers <= 1 || f.w*f.h < 1<<12 {
		fn(f.workers[0], 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		lo, hi := n*i/workers, n*(i+1)/workers
		wk := f.workers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(wk, lo, hi)
		}()
	}
	wg.Wait()
}

// columnPass runs, on f.z whose rows the caller has already transformed,
// the forward column transforms, the filter and the inverse column
// transforms, leaving the inverse row transforms to the caller.
func (f *Fuser) columnPass() {
	w, h := f.w, f.h
	blocks := (w + colBlock - 1) / colBlock
	f.parallel(blocks, func(wk *worker, lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			c0 := blk * colBlock
			nb := min(colBlock, w-c0)
			for y := 0; y < h; y++ {
				row := f.z[y*w+c0 : y*w+c0+nb]
				for b, v := range row {
					wk.buf[b][y] = v
				}
			}
			for b := 0; b < nb; b++ {
				col := wk.buf[b]
				wk.col.Coefficients(col, col)
				for y := range col {
					col[y] *= complex(f.filt[y*w+c0+b], 0)
				}
				wk.col.Sequence(col, col)
			}
			for y := 0; y < h; y++ {
				row := f.z[y*w+c0 : y*w+c0+nb]
				for b := range row {
					row[b] = wk.buf[b][y]
				}
			}
		}
	})
}

// LowPassY returns the Butterworth low band of the w x h luma plane y
// (row-major), Re(IFFT(FFT(y)·H)) as defined in the package comment, with
// the Fuser's cut-off and order. It panics when len(y) != w*h or the size is
// not positive.
func (f *Fuser) LowPassY(y []float64, w, h int) []float64 {
	if w <= 0 || h <= 0 || len(y) != w*h {
		panic(fmt.Sprintf("freqfuse.LowPassY: %d samples for %dx%d", len(y), w, h))
	}
	f.prepare(w, h)
	out := make([]float64, w*h)
	f.parallel(h, func(wk *worker, lo, hi int) {
		for r := lo; r < hi; r++ {
			z := f.z[r*w : (r+1)*w]
			for x := range z {
				z[x] = complex(y[r*w+x], 0)
			}
			wk.row.Coefficients(z, z)
		}
	})
	f.columnPass()
	f.parallel(h, func(wk *worker, lo, hi int) {
		for r := lo; r < hi; r++ {
			z := f.z[r*w : (r+1)*w]
			wk.row.Sequence(z, z)
			for x, v := range z {
				out[r*w+x] = real(v)
			}
		}
	})
	return out
}

// Fuse returns the frequency-domain update of the consistent and sharp
// frames: the consistent frame's low luma band, the blended high bands
// scaled by Alpha, the consistent frame's chroma and Border-pixel border,
// clamped to [0, 1]. The frames must have the same, non-empty size.
func (f *Fuser) Fuse(consistent, sharp *frame.Image) (*frame.Image, error) {
	if consistent == nil || sharp == nil {
		return nil, fmt.Errorf("freqfuse: nil frame")
	}
	if !frame.SameSize(consistent, sharp) {
		return nil, fmt.Errorf("freqfuse: frame sizes differ: consistent %dx%d, sharp %dx%d",
			consistent.W, consistent.H, sharp.W, sharp.H)
	}
	w, h := consistent.W, consistent.H
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("freqfuse: empty frame %dx%d", w, h)
	}
	if len(consistent.Pix) != w*h*3 || len(sharp.Pix) != w*h*3 {
		return nil, fmt.Errorf("freqfuse: pixel buffers (%d, %d samples) do not match %dx%d",
			len(consistent.Pix), len(sharp.Pix), w, h)
	}
	f.prepare(w, h)
	// Row pass: luma of both frames packed as one complex plane, forward
	// row transforms.
	f.parallel(h, func(wk *worker, lo, hi int) {
		for r := lo; r < hi; r++ {
			z := f.z[r*w : (r+1)*w]
			for x := range z {
				z[x] = complex(luma(consistent, r*w+x), luma(sharp, r*w+x))
			}
			wk.row.Coefficients(z, z)
		}
	})
	f.columnPass()
	out := frame.New(w, h)
	alpha, border := f.p.Alpha, f.p.Border
	f.parallel(h, func(wk *worker, lo, hi int) {
		for r := lo; r < hi; r++ {
			z := f.z[r*w : (r+1)*w]
			wk.row.Sequence(z, z)
			for x, lowv := range z {
				i := r*w + x
				o := out.Pix[3*i : 3*i+3]
				c := consistent.Pix[3*i : 3*i+3]
				if x < border || x >= w-border || r < border || r >= h-border {
					copy(o, c)
					continue
				}
				yc, u, v := RGBToYUV(float64(c[0]), float64(c[1]), float64(c[2]))
				ys := luma(sharp, i)
				lowC, lowS := real(lowv), imag(lowv)
				highC, highS := yc-lowC, ys-lowS
				wt := math.Abs(highS) / (math.Abs(highS) + math.Abs(highC) + 1e-6)
				yo := lowC + alpha*(wt*highS+(1-wt)*highC)
				rr, gg, bb := YUVToRGB(yo, u, v)
				o[0], o[1], o[2] = clamp01(rr), clamp01(gg), clamp01(bb)
			}
		}
	})
	return out, nil
}

// clamp01 limits v to [0, 1] (NaN becomes 0) and converts it to float32.
func clamp01(v float64) float32 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return float32(v)
	}
	return 0
}
