package frame

import (
	"fmt"
	"math"
	"runtime"
	"strings"

	"github.com/pssr/pssr/internal/parallel"
)

// Kernel selects the interpolation filter used by Resize.
type Kernel int

// Interpolation kernels understood by Resize.
const (
	// Nearest picks the source pixel whose area contains the output pixel
	// centre.
	Nearest Kernel = iota
	// Bilinear is the triangle filter (support 1), antialiased when
	// downscaling.
	Bilinear
	// Bicubic is the Keys cubic convolution kernel with a = -0.5 (the MATLAB
	// and PIL bicubic), support 2, antialiased when downscaling. Its output
	// can overshoot [0, 1].
	Bicubic
	// Lanczos3 is the windowed sinc with three lobes (support 3),
	// antialiased when downscaling. Its output can overshoot [0, 1].
	Lanczos3
	// Area averages the source pixels that an output pixel covers, weighted
	// by the covered length (box filter); it is the kernel of choice for
	// downscaling by an integer factor.
	Area
)

// String returns the kernel's lower-case name, as ParseKernel accepts it.
func (k Kernel) String() string {
	switch k {
	case Nearest:
		return "nearest"
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	case Lanczos3:
		return "lanczos3"
	case Area:
		return "area"
	}
	return fmt.Sprintf("Kernel(%d)", int(k))
}

// ParseKernel returns the kernel named name (case-insensitive): "nearest",
// "bilinear" (or "linear"), "bicubic" (or "cubic"), "lanczos3" (or
// "lanczos") and "area" (or "box").
func ParseKernel(name string) (Kernel, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "nearest":
		return Nearest, nil
	case "bilinear", "linear":
		return Bilinear, nil
	case "bicubic", "cubic":
		return Bicubic, nil
	case "lanczos3", "lanczos":
		return Lanczos3, nil
	case "area", "box":
		return Area, nil
	}
	return 0, fmt.Errorf("frame: unknown resize kernel %q (want nearest, bilinear, bicubic, lanczos3 or area)", name)
}

// support returns the kernel's half-width in source pixels at scale 1.
func (k Kernel) support() float64 {
	switch k {
	case Bilinear:
		return 1
	case Bicubic:
		return 2
	case Lanczos3:
		return 3
	}
	return 0
}

// eval returns the kernel value at offset x (in source pixels, scale 1).
func (k Kernel) eval(x float64) float64 {
	x = math.Abs(x)
	switch k {
	case Bilinear:
		if x < 1 {
			return 1 - x
		}
	case Bicubic:
		const a = -0.5
		if x <= 1 {
			return ((a+2)*x-(a+3))*x*x + 1
		}
		if x < 2 {
			return ((a*x-5*a)*x+8*a)*x - 4*a
		}
	case Lanczos3:
		if x == 0 {
			return 1
		}
		if x < 3 {
			px := math.Pi * x
			return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
		}
	}
	return 0
}

// taps holds, for every output position along one axis, the contiguous run
// of source positions it reads and their weights (summing to one).
type taps struct {
	stride int       // room reserved per output position in w
	start  []int     // first source index
	count  []int     // number of source indices
	w      []float32 // weights, stride per output position
}

// newTaps builds the resampling weights that map src samples to dst samples
// along one axis with kernel k, using pixel-centre alignment, edge
// replication and, for the interpolating kernels, a support widened by the
// scale factor when downscaling.
func newTaps(src, dst int, k Kernel) *taps {
	scale := float64(src) / float64(dst)
	var stride int
	switch k {
	case Nearest:
		stride = 1
	case Area:
		stride = int(math.Ceil(scale)) + 2
	default:
		s := math.Max(scale, 1)
		stride = int(math.Ceil(k.support()*s))*2 + 2
	}
	t := &taps{
		stride: stride,
		start:  make([]int, dst),
		count:  make([]int, dst),
		w:      make([]float32, dst*stride),
	}
	acc := make([]float64, stride)
	for x := 0; x < dst; x++ {
		for i := range acc {
			acc[i] = 0
		}
		var first, last int
		switch k {
		case Nearest:
			i := clampInt(int(math.Floor((float64(x)+0.5)*scale)), 0, src-1)
			first, last = i, i
			acc[0] = 1
		case Area:
			a, b := float64(x)*scale, float64(x+1)*scale
			lo := clampInt(int(math.Floor(a)), 0, src-1)
			hi := clampInt(int(math.Ceil(b))-1, lo, src-1)
			first, last = lo, hi
			for i := lo; i <= hi; i++ {
				acc[i-lo] = math.Max(0, math.Min(float64(i+1), b)-math.Max(float64(i), a))
			}
		default:
			s := math.Max(scale, 1)
			center := (float64(x)+0.5)*scale - 0.5
			sup := k.support() * s
			lo := int(math.Ceil(center - sup))
			hi := int(math.Floor(center + sup))
			first, last = clampInt(lo, 0, src-1), clampInt(hi, 0, src-1)
			for i := lo; i <= hi; i++ {
				acc[clampInt(i, 0, src-1)-first] += k.eval((float64(i) - center) / s)
			}
		}
		// Trim zero weights at both ends, then normalise.
		for first < last && acc[0] == 0 {
			copy(acc, acc[1:last-first+1])
			acc[last-first] = 0
			first++
		}
		for last > first && acc[last-first] == 0 {
			last--
		}
		n := last - first + 1
		sum := 0.0
		for i := 0; i < n; i++ {
			sum += acc[i]
		}
		if sum == 0 { // cannot happen for the kernels above; stay safe
			acc[0], n, sum = 1, 1, 1
		}
		t.start[x], t.count[x] = first, n
		for i := 0; i < n; i++ {
			t.w[x*stride+i] = float32(acc[i] / sum)
		}
	}
	return t
}

// Taps returns the weights Resize uses along one axis to map src samples to
// dst samples with kernel k, padded to a fixed width n: output position x
// reads source positions idx[x*n+i] with weights w[x*n+i], i < n, summed in
// order of i. Unused entries have weight 0 and repeat a valid index. This
// lets other engines (a compiled graph on a GPU) resample exactly as
// Resize does.
func Taps(src, dst int, k Kernel) (idx []int32, w []float32, n int) {
	if src <= 0 || dst <= 0 {
		panic(fmt.Sprintf("frame.Taps: sizes must be positive, got %d to %d", src, dst))
	}
	t := newTaps(src, dst, k)
	for _, c := range t.count {
		n = max(n, c)
	}
	idx = make([]int32, dst*n)
	w = make([]float32, dst*n)
	for x := 0; x < dst; x++ {
		for i := 0; i < n; i++ {
			j := min(i, t.count[x]-1)
			idx[x*n+i] = int32(t.start[x] + j)
			if i < t.count[x] {
				w[x*n+i] = t.w[x*t.stride+i]
			}
		}
	}
	return idx, w, n
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// forRows runs fn over [0, n) split into contiguous chunks, about one per
// goroutine (at most GOMAXPROCS, parallel.Rows); small jobs (n*cost below a
// threshold) run on the calling goroutine.
func forRows(n, cost int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || n*cost < 1<<15 {
		fn(0, n)
		return
	}
	parallel.Rows(n, (n+workers-1)/workers, workers, fn)
}

// Resize returns src resampled to w x h with kernel k.
//
// The filter is separable (rows, then columns). Output pixel x samples the
// source at (x+0.5)*scale-0.5 (pixel-centre alignment, scale = source size /
// output size) and the image is extended by replicating its edge pixels.
// When downscaling, Bilinear, Bicubic and Lanczos3 widen their support by
// the scale factor (antialiasing, as MATLAB imresize and PIL do); Area
// averages the covered source area exactly; Nearest never filters. An axis
// whose size does not change is copied unchanged.
//
// Bicubic and Lanczos3 can overshoot: the output is not clamped, so callers
// that need samples in [0, 1] should call Clamp.
//
// Resize panics when w or h is negative, when the source is empty but the
// output is not, or when k is not one of the kernels above. Rows are
// processed in parallel over GOMAXPROCS goroutines.
func Resize(src *Image, w, h int, k Kernel) *Image {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("frame.Resize: negative size %dx%d", w, h))
	}
	if k < Nearest || k > Area {
		panic(fmt.Sprintf("frame.Resize: unknown kernel %v", k))
	}
	if w == 0 || h == 0 {
		return New(w, h)
	}
	if src.W <= 0 || src.H <= 0 {
		panic(fmt.Sprintf("frame.Resize: empty source %dx%d to %dx%d", src.W, src.H, w, h))
	}
	tmp := src
	if w != src.W {
		tmp = resizeRows(src, w, newTaps(src.W, w, k))
	}
	if h != src.H {
		return resizeCols(tmp, h, newTaps(src.H, h, k))
	}
	if tmp == src {
		return src.Clone()
	}
	return tmp
}

// resizeRows resamples every row of src to width w.
func resizeRows(src *Image, w int, t *taps) *Image {
	out := New(w, src.H)
	forRows(src.H, w*t.stride*3, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			in := src.Pix[y*src.W*3 : (y+1)*src.W*3]
			o := out.Pix[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				ws := t.w[x*t.stride : x*t.stride+t.count[x]]
				p := in[t.start[x]*3:]
				var r, g, b float32
				for i, wt := range ws {
					q := p[i*3 : i*3+3]
					r += wt * q[0]
					g += wt * q[1]
					b += wt * q[2]
				}
				o[x*3], o[x*3+1], o[x*3+2] = r, g, b
			}
		}
	})
	return out
}

// resizeCols resamples every column of src to height h.
func resizeCols(src *Image, h int, t *taps) *Image {
	out := New(src.W, h)
	n := src.W * 3
	forRows(h, n*t.stride, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			o := out.Pix[y*n : (y+1)*n]
			ws := t.w[y*t.stride : y*t.stride+t.count[y]]
			for i, wt := range ws {
				row := src.Pix[(t.start[y]+i)*n : (t.start[y]+i+1)*n]
				for j, v := range row {
					o[j] += wt * v
				}
			}
		}
	})
	return out
}
