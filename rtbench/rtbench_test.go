package rtbench_test

import (
	"context"
	"testing"

	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/rtbench"
)

// TestRun times a small product and the five networks of the fixture
// model (random weights, a test fixture) on both runtimes and checks the
// report's shape and that the runtimes agree.
func TestRun(t *testing.T) {
	ortRT := fixture.ORT(t)
	m := fixture.LoadActive(t)
	rep, err := rtbench.Run(context.Background(), m, "fixture", []netrun.Runtime{netrun.GoMLX{Backend: m.Backend}, ortRT},
		rtbench.Options{MatMuls: [][3]int{{32, 16, 8}}, Frames: 2, Width: 32, Height: 32, MinReps: 1}, "test machine")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.MatMul) != 2 || rep.MatMul[0].Runtime != "go" || rep.MatMul[1].Runtime != "ort" {
		t.Fatalf("matmul results %+v", rep.MatMul)
	}
	for _, r := range rep.MatMul {
		if r.GFLOPS <= 0 || r.Reps < 1 {
			t.Errorf("matmul %+v", r)
		}
	}
	if len(rep.Networks) != 10 || len(rep.Speedup) != 5 {
		t.Fatalf("%d network results, %d speed-ups; want 10 and 5", len(rep.Networks), len(rep.Speedup))
	}
	for _, r := range rep.Networks {
		if r.Seconds <= 0 || r.MaxAbsDiff > 1e-4 {
			t.Errorf("network %+v", r)
		}
	}
}
