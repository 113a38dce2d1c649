package dataset_test

import (
	"context"
	"fmt"

	"github.com/pssr/pssr/dataset"
	"github.com/pssr/pssr/degrade"
)

// Make a reproducible batch of ground-truth clips and their Real-ESRGAN
// degradations from a folder of frames.
func Example() {
	src, err := dataset.NewFolderSource("testdata/basketballpass", dataset.Options{HFlip: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := dataset.NewSampler(dataset.SamplerConfig{
		Sources: []dataset.Source{src},
		Preset:  degrade.RealESRGAN,
		Scale:   4,
		Seed:    1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	hq, lq, err := s.Batch(context.Background(), 2, 3, 32, 48)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d clips of %d frames: %dx%d ground truth, %dx%d input\n",
		len(hq), len(hq[0]), hq[0][0].W, hq[0][0].H, lq[0][0].W, lq[0][0].H)
	// Output: 2 clips of 3 frames: 48x32 ground truth, 12x8 input
}
