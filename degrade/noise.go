package degrade

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"

	"github.com/pssr/pssr/frame"
)

// AddGaussianNoise adds zero-mean Gaussian noise of standard deviation
// sigma/255 to every sample of m, in place, and clamps to [0, 1]. With gray
// set, one noise value per pixel is shared by the three channels (luminance
// noise); otherwise each channel draws its own.
func AddGaussianNoise(m *frame.Image, sigma float64, gray bool, r *rand.Rand) {
	s := sigma / 255
	if gray {
		for i := 0; i < len(m.Pix); i += 3 {
			n := float32(r.NormFloat64() * s)
			m.Pix[i] = clamp01(m.Pix[i] + n)
			m.Pix[i+1] = clamp01(m.Pix[i+1] + n)
			m.Pix[i+2] = clamp01(m.Pix[i+2] + n)
		}
		return
	}
	for i, v := range m.Pix {
		m.Pix[i] = clamp01(v + float32(r.NormFloat64()*s))
	}
}

func clamp01(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// poissonTable samples Poisson variates by inverting the cumulative
// distribution, built once for each rate used.
type poissonTable struct{ cdf []float64 }

func newPoissonTable(lambda float64) poissonTable {
	if lambda <= 0 {
		return poissonTable{cdf: []float64{1}}
	}
	p := math.Exp(-lambda)
	acc := p
	cdf := []float64{acc}
	for k := 1; ; k++ {
		p *= lambda / float64(k)
		acc += p
		cdf = append(cdf, acc)
		if float64(k) > lambda && p < 1e-17 {
			break
		}
	}
	return poissonTable{cdf: cdf}
}

func (t poissonTable) sample(r *rand.Rand) int {
	u := r.Float64() * t.cdf[len(t.cdf)-1]
	return sort.SearchFloat64s(t.cdf, u)
}

// AddPoissonNoise adds signal-dependent (shot) noise to m in place, as the
// release's CPU implementation does: the image is quantised to 8 bits,
// vals is the number of distinct 8-bit levels rounded up to a power of two,
// the noise is Poisson(v·vals)/vals − v for each quantised value v,
// multiplied by scale and added to the unquantised image, which is then
// clamped to [0, 1]. The noise variance is therefore scale²·v/vals, linear
// in the intensity. With gray set the noise is computed once per pixel from
// the luma 0.299R + 0.587G + 0.114B (also quantised) and added to all three
// channels.
func AddPoissonNoise(m *frame.Image, scale float64, gray bool, r *rand.Rand) {
	var q []int // quantised levels the noise is computed from
	if gray {
		q = make([]int, len(m.Pix)/3)
		for i := range q {
			p := m.Pix[i*3 : i*3+3]
			q[i] = int(frame.To8(float32(0.299*float64(clamp01(p[0])) + 0.587*float64(clamp01(p[1])) + 0.114*float64(clamp01(p[2])))))
		}
	} else {
		q = make([]int, len(m.Pix))
		for i, v := range m.Pix {
			q[i] = int(frame.To8(v))
		}
	}
	var seen [256]bool
	distinct := 0
	for _, v := range q {
		if !seen[v] {
			seen[v] = true
			distinct++
		}
	}
	vals := 1
	if distinct > 1 {
		vals = 1 << bits.Len(uint(distinct-1))
	}
	fv := float64(vals)
	var tables [256]*poissonTable
	noise := func(level int) float32 {
		t := tables[level]
		if t == nil {
			nt := newPoissonTable(float64(level) / 255 * fv)
			t = &nt
			tables[level] = t
		}
		v := float64(level) / 255
		return float32((float64(t.sample(r))/fv - v) * scale)
	}
	if gray {
		for i, l := range q {
			n := noise(l)
			m.Pix[i*3] = clamp01(m.Pix[i*3] + n)
			m.Pix[i*3+1] = clamp01(m.Pix[i*3+1] + n)
			m.Pix[i*3+2] = clamp01(m.Pix[i*3+2] + n)
		}
		return
	}
	for i, l := range q {
		m.Pix[i] = clamp01(m.Pix[i] + noise(l))
	}
}
