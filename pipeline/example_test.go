package pipeline_test

import (
	"context"
	"fmt"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
)

// Example upscales a two-frame clip x2 with PS-SR (base step, three draft
// steps, frequency update) and then, on the same compiled networks, with
// the base step alone. The model has random weights (model.Fixture sizes),
// so the frames mean nothing; a real run loads models/pssr-tiny-x2 with
// model.Load.
func Example() {
	be, _, err := backend.New("go", nil)
	if err != nil {
		panic(err)
	}
	defer be.Finalize()
	m, err := model.New(be, model.Fixture(), 1)
	if err != nil {
		panic(err)
	}
	opt := pipeline.DefaultOptions()
	opt.Scale = 2
	u, err := pipeline.New(m, opt)
	if err != nil {
		panic(err)
	}
	lq := []*frame.Image{frame.New(24, 16), frame.New(24, 16)}
	out, err := u.UpscaleClip(context.Background(), lq)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(out), "frames of", out[0].W, "x", out[0].H)

	opt.Mode = pipeline.ModeBase
	base, err := u.WithOptions(opt) // shares u's networks
	if err != nil {
		panic(err)
	}
	out, err = base.UpscaleClip(context.Background(), lq)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(out), "frames of", out[0].W, "x", out[0].H, "in mode", base.Options().Mode)
	// Output:
	// 2 frames of 48 x 32
	// 2 frames of 48 x 32 in mode base
}
