package pipeline_test

import (
	"context"
	"fmt"
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
	"github.com/pssr/pssr/pipeline"
)

// BenchmarkPeakMemoryFrameSize upscales a frame x4 to 640x360, 1280x720 and
// 2560x1440 output (16 times the pixels) with the same 256-pixel tiles, on
// the random-weight fixture model, and reports the process's peak RSS
// (VmHWM, reset before each run) above its RSS before the run, and that
// peak less the output frames themselves (12 bytes a pixel, plus 4 for the
// tile blending weights): the working memory, which must not grow with
// the frame size. Run it alone:
//
//	go test ./pipeline -run '^$' -bench PeakMemoryFrameSize -benchtime 1x
func BenchmarkPeakMemoryFrameSize(b *testing.B) {
	be := testbackend.New(b)
	m, err := model.New(be, model.Fixture(), 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range benchSizes {
		w, h := size[0], size[1]
		b.Run(fmt.Sprintf("%dx%d", w, h), func(b *testing.B) {
			opt := pipeline.DefaultOptions()
			opt.Mode, opt.Tile, opt.TileOverlap = pipeline.ModeBase, 256, 32
			u, err := pipeline.New(m, opt)
			if err != nil {
				b.Fatal(err)
			}
			lq := make([]*frame.Image, 1)
			for i := range lq {
				lq[i] = frame.New(w/4, h/4)
				for j := range lq[i].Pix {
					lq[i].Pix[j] = float32(j%251) / 250
				}
			}
			ctx := context.Background()
			if _, err := u.UpscaleClip(ctx, lq); err != nil { // compiles every tile shape
				b.Fatal(err)
			}
			// Little garbage collector slack, which grows with the live
			// output frames, so the peak shows the working memory.
			defer debug.SetGCPercent(debug.SetGCPercent(10))
			var peak, before int64
			for b.Loop() {
				runtime.GC()
				debug.FreeOSMemory()
				before = rss(b)
				meter := bench.StartPeakMeter()
				if _, err := u.UpscaleClip(ctx, lq); err != nil {
					b.Fatal(err)
				}
				p, _ := meter.Stop()
				peak = max(peak, p)
			}
			output := int64(len(lq)) * int64(w*h) * 16
			b.ReportMetric(float64(peak-before)/(1<<20), "peak-above-start-MB")
			b.ReportMetric(float64(peak-before-output)/(1<<20), "working-MB")
		})
	}
}

// rss returns the process's resident set size (VmRSS) in bytes.
func rss(b *testing.B) int64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip(err)
	}
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10
		}
	}
	b.Skip("no VmRSS")
	return 0
}

// benchSizes are the output sizes BenchmarkPeakMemoryFrameSize compares.
var benchSizes = [][2]int{{640, 360}, {1280, 720}, {2560, 1440}}
