package degrade

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"

	"github.com/pssr/pssr/frame"
)

// Preset names a degradation pipeline.
type Preset string

// The released pipelines.
const (
	// Bicubic is a clean bicubic (antialiased) downscale by the scale
	// factor, the classic synthetic setting.
	Bicubic Preset = "bicubic"
	// RealESRGAN is the second-order Real-ESRGAN pipeline with §8's
	// parameters, drawn independently for every frame.
	RealESRGAN Preset = "realesrgan"
	// RealBasicVSR is the video variant: one draw of the same pipeline
	// for the whole clip (noise realisations still differ per frame),
	// plus video compression through ffmpeg in both orders.
	RealBasicVSR Preset = "realbasicvsr"
)

// Presets lists the known presets.
func Presets() []Preset { return []Preset{Bicubic, RealESRGAN, RealBasicVSR} }

// ParsePreset returns the preset named s (case-insensitive, surrounding
// space ignored).
func ParsePreset(s string) (Preset, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, p := range Presets() {
		if string(p) == t {
			return p, nil
		}
	}
	return "", fmt.Errorf("degrade: unknown preset %q (want bicubic, realesrgan or realbasicvsr)", s)
}

// ResizeSpec is one drawn resize.
type ResizeSpec struct {
	// Scale is the factor applied to the stage's reference size (1 keeps
	// the size).
	Scale float64 `json:"scale"`
	// Mode is "area", "bilinear" or "bicubic".
	Mode string `json:"mode"`
}

// NoiseSpec is one drawn noise setting.
type NoiseSpec struct {
	// Kind is "gaussian" or "poisson".
	Kind string `json:"kind"`
	// Sigma is the Gaussian standard deviation in 1/255 units.
	Sigma float64 `json:"sigma,omitempty"`
	// Scale multiplies the Poisson noise.
	Scale float64 `json:"scale,omitempty"`
	// Gray shares one noise value between the three channels.
	Gray bool `json:"gray"`
}

// Params is one complete draw of every random choice of a pipeline, so a
// degradation can be logged and replayed: Degrader.Apply with the same
// Params and input gives bit-identical output. Pointer fields are nil when
// the stage was skipped. The fields used depend on the preset: Bicubic uses
// none; RealESRGAN uses all but Video1 and Video2; RealBasicVSR uses all.
type Params struct {
	Preset Preset `json:"preset"`

	// First order: blur, resize (relative to the input size), noise, JPEG
	// and, for RealBasicVSR, video compression.
	Blur1   *KernelSpec `json:"blur1,omitempty"`
	Resize1 ResizeSpec  `json:"resize1"`
	Noise1  NoiseSpec   `json:"noise1"`
	JPEG1   int         `json:"jpeg1,omitempty"`
	Video1  *VideoSpec  `json:"video1,omitempty"`

	// Second order: blur (p 0.8), resize, noise, JPEG. RealESRGAN resizes
	// relative to the target size and applies JPEG2 in the final stage;
	// RealBasicVSR resizes relative to the current size and applies JPEG2
	// before the final stage.
	Blur2   *KernelSpec `json:"blur2,omitempty"`
	Resize2 ResizeSpec  `json:"resize2"`
	Noise2  NoiseSpec   `json:"noise2"`
	JPEG2   int         `json:"jpeg2,omitempty"`
	Video2  *VideoSpec  `json:"video2,omitempty"`

	// Final stage: resize to the target size with FinalMode, then the sinc
	// filter (p 0.8), and compression (JPEG2 for RealESRGAN, Video2 for
	// RealBasicVSR) before them when SincFirst is false or after them when
	// it is true.
	FinalMode string      `json:"final_mode,omitempty"`
	Sinc      *KernelSpec `json:"sinc,omitempty"`
	SincFirst bool        `json:"sinc_first"`

	// NoiseSeed seeds the noise realisations (one PCG stream per frame and
	// stage).
	NoiseSeed uint64 `json:"noise_seed"`
}

var resizeModes = []string{"area", "bilinear", "bicubic"}

func drawResize(r *rand.Rand, probs []float64, lo, hi float64) ResizeSpec {
	var s float64
	switch choose(r, probs) {
	case 0: // up
		s = uniform(r, 1, hi)
	case 1: // down
		s = uniform(r, lo, 1)
	default: // keep
		s = 1
	}
	return ResizeSpec{Scale: s, Mode: resizeModes[r.IntN(len(resizeModes))]}
}

func drawNoise(r *rand.Rand, gaussProb float64, sigma, scale [2]float64, grayProb float64) NoiseSpec {
	if r.Float64() < gaussProb {
		return NoiseSpec{Kind: "gaussian", Sigma: uniform(r, sigma[0], sigma[1]), Gray: r.Float64() < grayProb}
	}
	return NoiseSpec{Kind: "poisson", Scale: uniform(r, scale[0], scale[1]), Gray: r.Float64() < grayProb}
}

func drawQuality(r *rand.Rand) int { return 30 + r.IntN(95-30+1) }

func drawVideo(r *rand.Rand) *VideoSpec {
	codecs := []string{"libx264", "h264", "mpeg4"}
	return &VideoSpec{Codec: codecs[r.IntN(len(codecs))], Bitrate: 10000 + r.IntN(100000-10000+1)}
}

// Draw draws every random choice of preset p from r, with the
// probabilities and ranges of §8 of the method notes:
//
//   - first order: blur from FirstKernelConfig; resize up/down/keep with
//     p 0.2/0.7/0.1 over [0.15, 1.5]; Gaussian noise (p 0.5, sigma [1, 30])
//     or Poisson (scale [0.05, 3]), gray with p 0.4; JPEG quality [30, 95];
//   - second order: blur with p 0.8 from SecondKernelConfig; resize
//     p 0.3/0.4/0.3 over [0.3, 1.2]; Gaussian sigma [1, 25] or Poisson
//     [0.05, 2.5]; JPEG [30, 95];
//   - final: resize mode, sinc with p 0.8 (sizes 7..21, cutoff [π/3, π]),
//     order of resize+sinc and compression with p 1/2;
//   - RealBasicVSR also draws two video compressions, codec libx264 / h264
//     / mpeg4 with p 1/3 each at a bit rate in [1e4, 1e5] bit/s.
//
// Resize modes are area / bilinear / bicubic with p 1/3 each. Bicubic
// draws nothing.
func Draw(p Preset, r *rand.Rand) Params {
	ps := Params{Preset: p}
	if p != RealESRGAN && p != RealBasicVSR {
		return ps
	}
	video := p == RealBasicVSR
	k1 := RandomKernel(r, FirstKernelConfig())
	ps.Blur1 = &k1
	ps.Resize1 = drawResize(r, []float64{0.2, 0.7, 0.1}, 0.15, 1.5)
	ps.Noise1 = drawNoise(r, 0.5, [2]float64{1, 30}, [2]float64{0.05, 3}, 0.4)
	ps.JPEG1 = drawQuality(r)
	if video {
		ps.Video1 = drawVideo(r)
	}
	if r.Float64() < 0.8 {
		k2 := RandomKernel(r, SecondKernelConfig())
		ps.Blur2 = &k2
	}
	ps.Resize2 = drawResize(r, []float64{0.3, 0.4, 0.3}, 0.3, 1.2)
	ps.Noise2 = drawNoise(r, 0.5, [2]float64{1, 25}, [2]float64{0.05, 2.5}, 0.4)
	ps.JPEG2 = drawQuality(r)
	if video {
		ps.Video2 = drawVideo(r)
	}
	ps.FinalMode = resizeModes[r.IntN(len(resizeModes))]
	if r.Float64() < 0.8 {
		s := RandomSinc(r)
		ps.Sinc = &s
	}
	ps.SincFirst = r.Float64() < 0.5
	ps.NoiseSeed = r.Uint64()
	return ps
}

// Degrader turns high-quality clips into low-quality ones with one preset
// and scale factor. Its random draws come from a PCG generator seeded with
// the seed given to New: two Degraders made with the same arguments produce
// bit-identical output for the same sequence of calls. Successive calls
// draw fresh parameters. A Degrader is safe for concurrent use, but
// concurrent calls make the assignment of draws to calls depend on
// scheduling; use one Degrader per goroutine for reproducibility.
type Degrader struct {
	preset Preset
	scale  int

	// Workers bounds the number of frames processed at once; 0 means
	// GOMAXPROCS.
	Workers int

	mu  sync.Mutex
	rng *rand.Rand
}

// New returns a Degrader for preset p and integer scale factor scale >= 1,
// its draws seeded by seed.
func New(p Preset, scale int, seed uint64) (*Degrader, error) {
	if _, err := ParsePreset(string(p)); err != nil {
		return nil, err
	}
	if scale < 1 {
		return nil, fmt.Errorf("degrade: scale %d, want >= 1", scale)
	}
	return &Degrader{preset: p, scale: scale, rng: rand.New(rand.NewPCG(seed, 0x5eed_0f_de9_7ade))}, nil
}

// Preset returns the degrader's preset.
func (d *Degrader) Preset() Preset { return d.preset }

// Scale returns the degrader's scale factor.
func (d *Degrader) Scale() int { return d.scale }

// OutputSize returns the low-quality size for a w x h input:
// floor(w/scale) x floor(h/scale).
func (d *Degrader) OutputSize(w, h int) (int, int) { return w / d.scale, h / d.scale }

// Clip degrades the frames of one clip (all the same size) and returns the
// low-quality frames, each exactly floor(W/scale) x floor(H/scale) with
// samples rounded to 8-bit levels (k/255). RealESRGAN draws new parameters
// for every frame, RealBasicVSR one set for the whole clip. The input is
// not modified.
func (d *Degrader) Clip(ctx context.Context, hq []*frame.Image) ([]*frame.Image, error) {
	out, _, err := d.ClipParams(ctx, hq)
	return out, err
}

// ClipParams is Clip that also returns the parameters drawn: one Params per
// frame for RealESRGAN, a single Params for the other presets.
func (d *Degrader) ClipParams(ctx context.Context, hq []*frame.Image) ([]*frame.Image, []Params, error) {
	if len(hq) == 0 {
		return nil, nil, nil
	}
	for i, f := range hq {
		if !frame.SameSize(f, hq[0]) {
			return nil, nil, fmt.Errorf("degrade: frame %d is %dx%d, frame 0 is %dx%d", i, f.W, f.H, hq[0].W, hq[0].H)
		}
	}
	if tw, th := d.OutputSize(hq[0].W, hq[0].H); tw < 1 || th < 1 {
		return nil, nil, fmt.Errorf("degrade: %dx%d input is smaller than the scale factor %d", hq[0].W, hq[0].H, d.scale)
	}
	d.mu.Lock()
	var ps []Params
	if d.preset == RealESRGAN {
		ps = make([]Params, len(hq))
		for i := range ps {
			ps[i] = Draw(d.preset, d.rng)
		}
	} else {
		ps = []Params{Draw(d.preset, d.rng)}
	}
	d.mu.Unlock()

	if len(ps) == 1 {
		out, err := d.Apply(ctx, ps[0], hq)
		return out, ps, err
	}
	out := make([]*frame.Image, len(hq))
	err := d.forFrames(ctx, len(hq), func(i int) error {
		o, err := d.apply(ctx, ps[i], hq[i:i+1], 1)
		if err != nil {
			return err
		}
		out[i] = o[0]
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ps, nil
}

// Apply degrades the clip hq with the given parameters, applied to every
// frame (the noise realisation differs per frame). Its output depends only
// on p, the degrader's scale and hq.
func (d *Degrader) Apply(ctx context.Context, p Params, hq []*frame.Image) ([]*frame.Image, error) {
	return d.apply(ctx, p, hq, d.workers())
}

func (d *Degrader) workers() int {
	if d.Workers > 0 {
		return d.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// forFrames runs fn(i) for i in [0, n) on up to d.workers() goroutines and
// returns the first error.
func (d *Degrader) forFrames(ctx context.Context, n int, fn func(i int) error) error {
	return parallelFrames(ctx, n, d.workers(), fn)
}

func parallelFrames(ctx context.Context, n, workers int, fn func(i int) error) error {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if firstErr != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				err := ctx.Err()
				if err == nil {
					err = fn(i)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func resizeKernel(mode string) (frame.Kernel, error) {
	switch mode {
	case "area":
		return frame.Area, nil
	case "bilinear":
		return frame.Bilinear, nil
	case "bicubic":
		return frame.Bicubic, nil
	}
	return 0, fmt.Errorf("degrade: unknown resize mode %q", mode)
}

// resizeTo resizes m to w x h (at least 1x1) with the named mode, leaving it
// alone when the size already matches.
func resizeTo(m *frame.Image, w, h int, mode string) (*frame.Image, error) {
	w, h = max(w, 1), max(h, 1)
	if m.W == w && m.H == h {
		return m, nil
	}
	k, err := resizeKernel(mode)
	if err != nil {
		return nil, err
	}
	return frame.Resize(m, w, h, k), nil
}

func addNoise(m *frame.Image, n NoiseSpec, r *rand.Rand) error {
	switch n.Kind {
	case "gaussian":
		AddGaussianNoise(m, n.Sigma, n.Gray, r)
	case "poisson":
		AddPoissonNoise(m, n.Scale, n.Gray, r)
	case "":
	default:
		return fmt.Errorf("degrade: unknown noise kind %q", n.Kind)
	}
	return nil
}

// quantize clamps m to [0, 1] and rounds it to 8-bit levels, in place.
func quantize(m *frame.Image) *frame.Image {
	for i, v := range m.Pix {
		m.Pix[i] = float32(frame.To8(v)) / 255
	}
	return m
}

func scaled(n int, s float64) int { return max(1, int(math.Floor(float64(n)*s))) }

// apply runs the pipeline of p over the clip with the given frame
// parallelism.
func (d *Degrader) apply(ctx context.Context, p Params, hq []*frame.Image, workers int) ([]*frame.Image, error) {
	if len(hq) == 0 {
		return nil, nil
	}
	W, H := hq[0].W, hq[0].H
	tw, th := d.OutputSize(W, H)
	if tw < 1 || th < 1 {
		return nil, fmt.Errorf("degrade: %dx%d input is smaller than the scale factor %d", W, H, d.scale)
	}
	cur := make([]*frame.Image, len(hq))
	copy(cur, hq)
	// each runs fn over every frame in parallel, replacing the frames.
	each := func(fn func(i int, m *frame.Image) (*frame.Image, error)) error {
		return parallelFrames(ctx, len(cur), workers, func(i int) error {
			m, err := fn(i, cur[i])
			if err != nil {
				return err
			}
			cur[i] = m
			return nil
		})
	}
	noiseRNG := func(i, stage int) *rand.Rand {
		return rand.New(rand.NewPCG(p.NoiseSeed, uint64(i)*2+uint64(stage)))
	}
	video := func(spec *VideoSpec) error {
		if spec == nil {
			return nil
		}
		out, err := CompressVideo(ctx, cur, *spec)
		if err != nil {
			return fmt.Errorf("degrade: %w", err)
		}
		cur = out
		return nil
	}
	jpegStage := func(q int) error {
		if q <= 0 {
			return nil
		}
		return each(func(_ int, m *frame.Image) (*frame.Image, error) {
			return JPEG(m, q)
		})
	}
	finalResizeSinc := func() error {
		var sinc Kernel
		if p.Sinc != nil {
			sinc = p.Sinc.Kernel()
		}
		return each(func(_ int, m *frame.Image) (*frame.Image, error) {
			m, err := resizeTo(m, tw, th, p.FinalMode)
			if err != nil {
				return nil, err
			}
			if p.Sinc != nil {
				m = Filter(m, sinc, Reflect)
			}
			return m, nil
		})
	}

	switch p.Preset {
	case Bicubic:
		err := each(func(_ int, m *frame.Image) (*frame.Image, error) {
			out, err := resizeTo(m, tw, th, "bicubic")
			if err != nil {
				return nil, err
			}
			if out == m {
				out = m.Clone()
			}
			return quantize(out), nil
		})
		if err != nil {
			return nil, err
		}
		return cur, nil
	case RealESRGAN, RealBasicVSR:
	default:
		return nil, fmt.Errorf("degrade: unknown preset %q", p.Preset)
	}
	isVideo := p.Preset == RealBasicVSR

	// First order.
	var blur1 Kernel
	if p.Blur1 != nil {
		blur1 = p.Blur1.Kernel()
	}
	err := each(func(i int, m *frame.Image) (*frame.Image, error) {
		if p.Blur1 != nil {
			m = Filter(m, blur1, Reflect)
		} else {
			m = m.Clone()
		}
		m, err := resizeTo(m, scaled(W, p.Resize1.Scale), scaled(H, p.Resize1.Scale), p.Resize1.Mode)
		if err != nil {
			return nil, err
		}
		if err := addNoise(m, p.Noise1, noiseRNG(i, 0)); err != nil {
			return nil, err
		}
		return m.Clamp(), nil
	})
	if err != nil {
		return nil, err
	}
	if err := jpegStage(p.JPEG1); err != nil {
		return nil, err
	}
	if err := video(p.Video1); err != nil {
		return nil, err
	}

	// Second order.
	var blur2 Kernel
	if p.Blur2 != nil {
		blur2 = p.Blur2.Kernel()
	}
	err = each(func(i int, m *frame.Image) (*frame.Image, error) {
		if p.Blur2 != nil {
			m = Filter(m, blur2, Reflect)
		}
		var w2, h2 int
		if isVideo {
			w2, h2 = scaled(m.W, p.Resize2.Scale), scaled(m.H, p.Resize2.Scale)
		} else {
			w2, h2 = scaled(tw, p.Resize2.Scale), scaled(th, p.Resize2.Scale)
		}
		m, err := resizeTo(m, w2, h2, p.Resize2.Mode)
		if err != nil {
			return nil, err
		}
		if err := addNoise(m, p.Noise2, noiseRNG(i, 1)); err != nil {
			return nil, err
		}
		return m.Clamp(), nil
	})
	if err != nil {
		return nil, err
	}

	// Final stage.
	compress := func() error { return jpegStage(p.JPEG2) }
	if isVideo {
		if err := jpegStage(p.JPEG2); err != nil {
			return nil, err
		}
		compress = func() error { return video(p.Video2) }
	}
	if p.SincFirst {
		if err := finalResizeSinc(); err != nil {
			return nil, err
		}
		if err := each(func(_ int, m *frame.Image) (*frame.Image, error) { return m.Clamp(), nil }); err != nil {
			return nil, err
		}
		if err := compress(); err != nil {
			return nil, err
		}
	} else {
		if err := compress(); err != nil {
			return nil, err
		}
		if err := finalResizeSinc(); err != nil {
			return nil, err
		}
	}
	if err := each(func(_ int, m *frame.Image) (*frame.Image, error) { return quantize(m), nil }); err != nil {
		return nil, err
	}
	return cur, nil
}
