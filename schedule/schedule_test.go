package schedule

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/pssr/pssr/internal/testbackend"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// With the exact velocity, x0 prediction recovers x0 and one step lands on
// the forward process at the next sigma, for every pair of sigmas.
func TestScheduleIdentities(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x0, noise := randSlice(r, 257), randSlice(r, 257)
	for _, tc := range []struct{ t, next int }{{699, 599}, {599, 499}, {499, 399}, {399, 0}, {999, 1}} {
		xt := make([]float32, len(x0))
		Noise(xt, x0, noise, Sigma(tc.t))
		v := make([]float32, len(x0))
		Velocity(v, x0, noise)
		got := make([]float32, len(x0))
		PredictX0(got, xt, v, Sigma(tc.t))
		if d := maxDiff(got, x0); d > 1e-5 {
			t.Errorf("t=%d: x0 prediction off by %g", tc.t, d)
		}
		Step(got, xt, v, Sigma(tc.t), Sigma(tc.next))
		want := make([]float32, len(x0))
		Noise(want, x0, noise, Sigma(tc.next))
		if d := maxDiff(got, want); d > 1e-5 {
			t.Errorf("t=%d->%d: step off the forward process by %g", tc.t, tc.next, d)
		}
	}
	// Stepping to sigma 0 equals the x0 prediction.
	xt, v := randSlice(r, 64), randSlice(r, 64)
	a, b := make([]float32, 64), make([]float32, 64)
	PredictX0(a, xt, v, Sigma(399))
	Step(b, xt, v, Sigma(399), 0)
	if d := maxDiff(a, b); d > 1e-6 {
		t.Errorf("step to 0 differs from x0 prediction by %g", d)
	}
}

func TestSigma(t *testing.T) {
	for _, tc := range []struct {
		t    int
		want float64
	}{{0, 0}, {699, 0.699}, {399, 0.399}, {1000, 1}} {
		if got := Sigma(tc.t); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Sigma(%d)=%g, want %g", tc.t, got, tc.want)
		}
	}
}

func TestPlans(t *testing.T) {
	tests := []struct {
		n       int
		want    []int
		wantErr bool
	}{
		{0, []int{699}, false},
		{1, []int{699, 599}, false},
		{3, []int{699, 599, 499, 399}, false},
		{5, []int{699, 599, 549, 499, 449, 399}, false},
		{-1, nil, true},
		{21, nil, true},
	}
	for _, tc := range tests {
		p, err := PlanWithDrafts(tc.n)
		if (err != nil) != tc.wantErr {
			t.Fatalf("n=%d: err=%v", tc.n, err)
		}
		if tc.wantErr {
			continue
		}
		got := p.Timesteps()
		if len(got) != len(tc.want) {
			t.Fatalf("n=%d: got %v want %v", tc.n, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("n=%d: got %v want %v", tc.n, got, tc.want)
			}
		}
	}
	p := DefaultPlan()
	for _, tc := range [][2]int{{699, 599}, {599, 499}, {499, 399}, {399, 0}} {
		if got := p.Next(tc[0]); got != tc[1] {
			t.Errorf("Next(%d)=%d want %d", tc[0], got, tc[1])
		}
	}
	if err := (Plan{Base: 699, Draft: []int{599, 600}}).Validate(); err == nil {
		t.Error("non-decreasing plan accepted")
	}
	if err := (Plan{Base: 1000}).Validate(); err == nil {
		t.Error("timestep 1000 accepted")
	}
}

// The graph versions compute the same numbers as the host versions.
func TestGraphMatchesHost(t *testing.T) {
	be := testbackend.New(t)
	r := rand.New(rand.NewPCG(3, 4))
	xt, v := randSlice(r, 16), randSlice(r, 16)
	exec, err := NewExec(be, func(in []*Node) (*Node, *Node) {
		return PredictX0Graph(in[0], in[1], in[2]), StepGraph(in[0], in[1], in[2], in[3])
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(xt, v, float32(0.699), float32(0.599))
	if err != nil {
		t.Fatal(err)
	}
	wantX0, wantStep := make([]float32, 16), make([]float32, 16)
	PredictX0(wantX0, xt, v, 0.699)
	Step(wantStep, xt, v, 0.699, 0.599)
	if d := maxDiff(out[0].Value().([]float32), wantX0); d > 1e-6 {
		t.Errorf("graph x0 differs by %g", d)
	}
	if d := maxDiff(out[1].Value().([]float32), wantStep); d > 1e-6 {
		t.Errorf("graph step differs by %g", d)
	}
}

func TestSteps(t *testing.T) {
	cases := []struct {
		name  string
		plan  Plan
		want  []int
		sigma []float64 // Sigma, then SigmaNext of the last step
	}{
		{"released", DefaultPlan(), []int{699, 599, 499, 399}, []float64{0.699, 0.599, 0.499, 0.399, 0}},
		{"base only", Plan{Base: 699}, []int{699}, []float64{0.699, 0}},
		{"one draft", Plan{Base: 699, Draft: []int{599}}, []int{699, 599}, []float64{0.699, 0.599, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := c.plan.Steps()
			if len(steps) != len(c.want) {
				t.Fatalf("%d steps, want %d", len(steps), len(c.want))
			}
			for i, s := range steps {
				if s.Index != i || s.T != c.want[i] {
					t.Fatalf("step %d = %+v, want index %d, t %d", i, s, i, c.want[i])
				}
				if math.Abs(s.Sigma-c.sigma[i]) > 1e-12 || math.Abs(s.SigmaNext-c.sigma[i+1]) > 1e-12 {
					t.Fatalf("step %d sigmas %v -> %v, want %v -> %v", i, s.Sigma, s.SigmaNext, c.sigma[i], c.sigma[i+1])
				}
			}
		})
	}
}

// Walk with the exact velocity of a known (x0, noise) pair stays on the
// forward process at every step and ends on x0; it visits every step once,
// in order, and stops at the first error.
func TestWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x0, noise := randSlice(r, 64), randSlice(r, 64)
	plan := DefaultPlan()
	steps := plan.Steps()
	xt := make([]float32, len(x0))
	Noise(xt, x0, noise, steps[0].Sigma)
	var visited []int
	v := make([]float32, len(x0))
	Velocity(v, x0, noise)
	gotX0, gotNext, err := Walk(steps, xt, func(s PlanStep, xt []float32) ([]float32, []float32, error) {
		visited = append(visited, s.T)
		want := make([]float32, len(x0))
		Noise(want, x0, noise, s.Sigma)
		if d := maxDiff(xt, want); d > 1e-5 {
			t.Fatalf("at t=%d x_t is off the forward process by %g", s.T, d)
		}
		p, n := make([]float32, len(xt)), make([]float32, len(xt))
		PredictX0(p, xt, v, s.Sigma)
		Step(n, xt, v, s.Sigma, s.SigmaNext)
		return p, n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(visited) != 4 || visited[0] != 699 || visited[3] != 399 {
		t.Fatalf("visited %v, want %v", visited, plan.Timesteps())
	}
	if d := maxDiff(gotX0, x0); d > 1e-5 {
		t.Fatalf("last x0 off by %g", d)
	}
	if d := maxDiff(gotNext, x0); d > 1e-5 {
		t.Fatalf("last x_next (sigma 0) off x0 by %g", d)
	}

	calls := 0
	_, _, err = Walk(steps, xt, func(s PlanStep, xt []float32) ([]float32, []float32, error) {
		calls++
		if s.Index == 1 {
			return nil, nil, errTest
		}
		return xt, xt, nil
	})
	if err != errTest || calls != 2 {
		t.Fatalf("err %v after %d calls, want errTest after 2", err, calls)
	}
}

var errTest = errors.New("test error")
