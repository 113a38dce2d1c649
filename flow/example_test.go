package flow_test

import (
	"fmt"
	"math"

	"github.com/pssr/pssr/flow"
)

// Estimate the flow between two planes of a smooth pattern that moved 2.5
// pixels right and 1 pixel up, then warp the second plane back onto the first.
func ExampleDense() {
	const w, h = 64, 48
	pattern := func(x, y float64) float32 {
		return float32(0.5 + 0.2*math.Sin(0.35*x+0.2*y) + 0.2*math.Cos(0.15*x-0.4*y))
	}
	prev := make([]float32, w*h)
	next := make([]float32, w*h)
	for y := range h {
		for x := range w {
			prev[y*w+x] = pattern(float64(x), float64(y))
			next[y*w+x] = pattern(float64(x)-2.5, float64(y)+1)
		}
	}
	u, v := flow.Dense(prev, next, w, h, flow.Options{})
	c := (h/2)*w + w/2
	fmt.Printf("flow at centre: (%.2f, %.2f)\n", u[c], v[c])

	back := flow.Warp(next, w, h, u, v)
	fmt.Printf("warp error at centre: %.2f\n", math.Abs(float64(back[c]-prev[c])))
	// Output:
	// flow at centre: (2.50, -1.00)
	// warp error at centre: 0.00
}
