package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/pssr/pssr/bench"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/model"
)

// benchModel returns pssr-tiny with random weights: speed and memory depend
// only on the sizes, not on the values (a random-weight fixture).
func benchModel(b *testing.B) *model.Model {
	m, err := model.New(testbackend.New(b), model.Tiny(), 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func streamFrames(u *Upscaler, n, w, h int) (int, error) {
	src := testClip(1, w, h)[0]
	i, out := 0, 0
	err := u.Run(context.Background(), func() (*frame.Image, error) {
		if i == n {
			return nil, io.EOF
		}
		i++
		return src, nil
	}, func(*frame.Image) error { out++; return nil })
	return out, err
}

// BenchmarkUpscale180x144 measures frames per second of upscaling 180x144
// to 720x576 (x4) on the pure-Go backend for base only, base + 3 draft steps
// + fusion, and the base network at all four timesteps; 8 frames per run in
// one temporal window, whole frames (no tiles).
func BenchmarkUpscale180x144(b *testing.B) {
	m := benchModel(b)
	const frames = 8
	for _, mode := range []Mode{ModeBase, ModePSSR, ModeBase4Step} {
		b.Run(string(mode), func(b *testing.B) {
			opt := DefaultOptions()
			opt.Mode, opt.Tile, opt.WindowT, opt.OverlapT = mode, 0, frames, 0
			u, err := New(m, opt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := streamFrames(u, frames, 180, 144); err != nil { // compile and warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := streamFrames(u, frames, 180, 144); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(frames*b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkPeakMemory streams 30 and 300 frames (64x48 to 256x192, pssr
// mode, default windows of 33 frames overlapping by 8) and reports the
// process's peak resident memory; it should not grow with the length.
// PSSR_MEM_FRAMES=300,600 measures other lengths. It runs with the pssr
// command's GC target (GCPercent) unless GOGC is set. Measure each length
// in its own process, as a run of pssr is:
//
//	for n in 30 300; do PSSR_MEM_FRAMES=$n go test ./pipeline -run '^$' -bench 'PeakMemory$' -benchtime 1x; done
func BenchmarkPeakMemory(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	}
	m := benchModel(b)
	lengths := []int{30, 300}
	if env := os.Getenv("PSSR_MEM_FRAMES"); env != "" { // e.g. 300,600
		lengths = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("PSSR_MEM_FRAMES=%q: want a list of frame counts", env)
			}
			lengths = append(lengths, n)
		}
	}
	for _, n := range lengths {
		b.Run(fmt.Sprintf("frames=%d", n), func(b *testing.B) {
			u, err := New(m, DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			var peak int64
			for i := 0; i < b.N; i++ {
				runtime.GC()
				meter := bench.StartPeakMeter()
				out, err := streamFrames(u, n, 64, 48)
				p, _ := meter.Stop()
				peak = max(peak, p)
				if err != nil || out != n {
					b.Fatalf("%d frames out of %d: %v", out, n, err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}
