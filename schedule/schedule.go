// Package schedule is the flow-matching noise schedule of PS-SR (method §3):
// sigma(t) = t/1000, forward process x_t = (1-sigma) x_0 + sigma noise,
// velocity v = noise - x_0, prediction x0 = x_t - sigma v and the Euler step
// x_next = x_t - (sigma_t - sigma_next) v.
//
// The formulas exist twice: on float32 slices for host-side use and tests, and
// as GoMLX graph functions so a sampling pipeline can fuse them with a network
// call on the device.
package schedule

import (
	"fmt"
	"sort"

	. "github.com/gomlx/gomlx/core/graph"
)

// NumTrainTimesteps is the number of training timesteps of the schedule.
const NumTrainTimesteps = 1000

// Released defaults of PS-SR.
const (
	BaseTimestep = 699
)

// DefaultDraftTimesteps returns the released draft timesteps [599, 499, 399].
func DefaultDraftTimesteps() []int { return []int{599, 499, 399} }

// Sigma returns the noise level of timestep t, t/1000. The release snaps t to
// a dense shifted grid; the difference is below 0.001 and is not modelled.
func Sigma(t int) float64 { return float64(t) / NumTrainTimesteps }

// Plan is an ordered list of timesteps to visit: the base step first, then
// the draft steps, strictly decreasing, all in (0, 1000).
type Plan struct {
	Base  int
	Draft []int
}

// DefaultPlan returns the released plan: base 699, drafts 599, 499, 399.
func DefaultPlan() Plan { return Plan{Base: BaseTimestep, Draft: DefaultDraftTimesteps()} }

// PlanWithDrafts returns a plan with the base at 699 and n draft steps spread
// evenly from 599 down to 399 (n=3 gives the released [599, 499, 399]; n=1
// gives [599]; n=0 gives no draft step).
func PlanWithDrafts(n int) (Plan, error) {
	if n < 0 || n > 20 {
		return Plan{}, fmt.Errorf("schedule: draft steps %d out of range [0, 20]", n)
	}
	p := Plan{Base: BaseTimestep}
	for i := 0; i < n; i++ {
		if n == 1 {
			p.Draft = append(p.Draft, 599)
			break
		}
		p.Draft = append(p.Draft, 599-i*200/(n-1))
	}
	return p, p.Validate()
}

// Validate checks that the timesteps decrease strictly and lie in (0, 1000).
func (p Plan) Validate() error {
	all := p.Timesteps()
	for i, t := range all {
		if t <= 0 || t >= NumTrainTimesteps {
			return fmt.Errorf("schedule: timestep %d out of range (0, %d)", t, NumTrainTimesteps)
		}
		if i > 0 && t >= all[i-1] {
			return fmt.Errorf("schedule: timesteps must decrease strictly, got %v", all)
		}
	}
	return nil
}

// Timesteps returns the base timestep followed by the draft timesteps.
func (p Plan) Timesteps() []int { return append([]int{p.Base}, p.Draft...) }

// PlanStep is one sampling step of a plan: its place in the plan, its timestep,
// its noise level and the noise level the step moves to (0 after the
// plan's last step: the clean sample).
type PlanStep struct {
	Index            int
	T                int
	Sigma, SigmaNext float64
}

// Steps returns the plan's sampling steps: the sigma table, from the base
// timestep's sigma down to the terminal 0 that the last step moves to.
func (p Plan) Steps() []PlanStep {
	all := p.Timesteps()
	out := make([]PlanStep, len(all))
	for i, t := range all {
		out[i] = PlanStep{Index: i, T: t, Sigma: Sigma(t)}
		if i+1 < len(all) {
			out[i].SigmaNext = Sigma(all[i+1])
		}
	}
	return out
}

// Walk is the sampling loop, the one copy that the pipeline and the
// trainer share: from x_t at steps[0], it calls step for every step in
// order with the current x_t; step runs the network and returns the
// step's x0 prediction and x_next (PredictX0 and Step, or their graph
// forms), and x_next becomes the next step's x_t. Walk returns the last
// step's x0 and x_next, or step's first error. With no steps it returns
// the zero x0 and xt unchanged.
func Walk[X any](steps []PlanStep, xt X, step func(s PlanStep, xt X) (x0, next X, err error)) (x0 X, next X, err error) {
	next = xt
	for _, s := range steps {
		if x0, next, err = step(s, next); err != nil {
			return x0, next, err
		}
	}
	return x0, next, nil
}

// Next returns the timestep that follows t in the plan, or 0 after the last.
func (p Plan) Next(t int) int {
	all := p.Timesteps()
	i := sort.Search(len(all), func(i int) bool { return all[i] <= t })
	if i+1 < len(all) && all[i] == t {
		return all[i+1]
	}
	return 0
}

// Noise computes x_t = (1-sigma) x0 + sigma noise elementwise into dst.
func Noise(dst, x0, noise []float32, sigma float64) {
	s := float32(sigma)
	for i := range dst {
		dst[i] = (1-s)*x0[i] + s*noise[i]
	}
}

// Velocity computes the training target v = noise - x0 into dst.
func Velocity(dst, x0, noise []float32) {
	for i := range dst {
		dst[i] = noise[i] - x0[i]
	}
}

// PredictX0 computes x0_hat = x_t - sigma v into dst.
func PredictX0(dst, xt, v []float32, sigma float64) {
	s := float32(sigma)
	for i := range dst {
		dst[i] = xt[i] - s*v[i]
	}
}

// Step computes x_next = x_t - (sigma - sigmaNext) v into dst.
func Step(dst, xt, v []float32, sigma, sigmaNext float64) {
	d := float32(sigma - sigmaNext)
	for i := range dst {
		dst[i] = xt[i] - d*v[i]
	}
}

// PredictX0Graph is PredictX0 in a computation graph; sigma is a scalar node.
func PredictX0Graph(xt, v, sigma *Node) *Node { return Sub(xt, Mul(v, ConvertDType(sigma, v.DType()))) }

// StepGraph is Step in a computation graph; sigma and sigmaNext are scalar nodes.
func StepGraph(xt, v, sigma, sigmaNext *Node) *Node {
	d := ConvertDType(Sub(sigma, sigmaNext), v.DType())
	return Sub(xt, Mul(v, d))
}
