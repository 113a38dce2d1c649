package degrade_test

import (
	"context"
	"fmt"

	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/frame"
)

// Degrade a two-frame clip with the second-order Real-ESRGAN pipeline at
// scale 4. The same seed always gives the same low-quality frames.
func Example() {
	hq := []*frame.Image{frame.New(130, 98), frame.New(130, 98)}
	for _, f := range hq {
		for i := range f.Pix {
			f.Pix[i] = float32(i%255) / 255
		}
	}
	d, err := degrade.New(degrade.RealESRGAN, 4, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	lq, params, err := d.ClipParams(context.Background(), hq)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d frames of %dx%d, %d parameter draws\n", len(lq), lq[0].W, lq[0].H, len(params))
	// Output: 2 frames of 32x24, 2 parameter draws
}
