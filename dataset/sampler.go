package dataset

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/frame"
)

// SamplerConfig configures a Sampler.
type SamplerConfig struct {
	// Sources to draw clips from.
	Sources []Source
	// Weights gives each source's relative probability; nil means equal.
	Weights []float64
	// Preset and Scale choose the degradation made on the fly.
	Preset degrade.Preset
	Scale  int
	// Seed makes the batches reproducible.
	Seed uint64
	// Workers is the number of goroutines making the items of a batch;
	// 0 means min(4, GOMAXPROCS).
	Workers int
}

// Sampler makes training batches: pairs of ground-truth clips and their
// degraded low-quality counterparts. The k-th batch depends only on the
// seed, the sources and the batch arguments of batches 1..k, not on
// goroutine scheduling. A Sampler is safe for concurrent use, but then the
// order in which concurrent calls take their draws is unspecified.
type Sampler struct {
	sources []Source
	cum     []float64 // cumulative weights, last = 1
	preset  degrade.Preset
	scale   int
	workers int

	mu  sync.Mutex
	rng *rand.Rand
}

// NewSampler checks cfg and returns a Sampler.
func NewSampler(cfg SamplerConfig) (*Sampler, error) {
	if len(cfg.Sources) == 0 {
		return nil, errors.New("sampler: no sources")
	}
	if cfg.Weights != nil && len(cfg.Weights) != len(cfg.Sources) {
		return nil, fmt.Errorf("sampler: %d weights for %d sources", len(cfg.Weights), len(cfg.Sources))
	}
	if _, err := degrade.New(cfg.Preset, cfg.Scale, 0); err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	cum := make([]float64, len(cfg.Sources))
	total := 0.0
	for i := range cfg.Sources {
		w := 1.0
		if cfg.Weights != nil {
			w = cfg.Weights[i]
		}
		if w < 0 || w != w {
			return nil, fmt.Errorf("sampler: weight %v of source %s", w, cfg.Sources[i].Name())
		}
		total += w
		cum[i] = total
	}
	if total <= 0 {
		return nil, errors.New("sampler: all weights are zero")
	}
	for i := range cum {
		cum[i] /= total
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = min(4, runtime.GOMAXPROCS(0))
	}
	return &Sampler{
		sources: cfg.Sources,
		cum:     cum,
		preset:  cfg.Preset,
		scale:   cfg.Scale,
		workers: workers,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5a3b1e)),
	}, nil
}

func (s *Sampler) pick(u float64) int {
	for i, c := range s.cum {
		if u < c {
			return i
		}
	}
	return len(s.cum) - 1
}

// Batch returns n items, each a clip of frames ground-truth frames of h x w
// pixels (hq[i]) and its degradation (lq[i], frames of h/scale x w/scale).
// h and w must be multiples of the scale factor. Each item draws its source,
// clip and degradation from its own generator seeded from the sampler's, and
// items are made on up to Workers goroutines.
func (s *Sampler) Batch(ctx context.Context, n, frames, h, w int) (hq, lq [][]*frame.Image, err error) {
	if n < 1 || frames < 1 || h < 1 || w < 1 {
		return nil, nil, fmt.Errorf("sampler: batch of %d clips of %d frames of %dx%d", n, frames, w, h)
	}
	if h%s.scale != 0 || w%s.scale != 0 {
		return nil, nil, fmt.Errorf("sampler: crop %dx%d is not a multiple of the scale %d", w, h, s.scale)
	}
	seeds := make([]uint64, n)
	s.mu.Lock()
	for i := range seeds {
		seeds[i] = s.rng.Uint64()
	}
	s.mu.Unlock()

	hq = make([][]*frame.Image, n)
	lq = make([][]*frame.Image, n)
	jobs := make(chan int)
	errs := make([]error, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(s.workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				hq[i], lq[i], errs[i] = s.item(ctx, seeds[i], frames, h, w)
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	for _, e := range errs {
		if e != nil && !errors.Is(e, context.Canceled) {
			return nil, nil, e
		}
	}
	for _, e := range errs {
		if e != nil {
			return nil, nil, e
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("sampler: %w", err)
	}
	return hq, lq, nil
}

// item makes one pair from its own seed.
func (s *Sampler) item(ctx context.Context, seed uint64, frames, h, w int) ([]*frame.Image, []*frame.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	r := rand.New(rand.NewPCG(seed, 1))
	src := s.sources[s.pick(r.Float64())]
	degSeed := r.Uint64()
	clip, err := src.Clip(r, frames, h, w)
	if err != nil {
		return nil, nil, fmt.Errorf("sampler: %s: %w", src.Name(), err)
	}
	d, err := degrade.New(s.preset, s.scale, degSeed)
	if err != nil {
		return nil, nil, fmt.Errorf("sampler: %w", err)
	}
	d.Workers = 1
	low, err := d.Clip(ctx, clip)
	if err != nil {
		return nil, nil, fmt.Errorf("sampler: degrade clip of %s: %w", src.Name(), err)
	}
	return clip, low, nil
}
