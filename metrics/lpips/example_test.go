package lpips_test

import (
	"fmt"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/gomlx/compute/gobackend"

	"github.com/pssr/pssr/metrics/lpips"
)

// readRGB decodes a PNG into interleaved RGB samples in [0, 1].
func readRGB(path string) (pix []float32, w, h int) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		log.Fatal(err)
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			pix = append(pix, float32(r>>8)/255, float32(g>>8)/255, float32(bl>>8)/255)
		}
	}
	return pix, b.Dx(), b.Dy()
}

func Example() {
	backend, err := gobackend.New("")
	if err != nil {
		log.Fatal(err)
	}
	m, err := lpips.Load(backend, filepath.Join("..", "..", "models", "perceptual", lpips.DefaultName))
	if err != nil {
		log.Fatal(err)
	}
	ref, w, h := readRGB("testdata/ex_ref.png")
	dist, _, _ := readRGB("testdata/ex_p1.png")
	d, err := m.Distance(ref, dist, w, h)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LPIPS = %.4f\n", d)
	// Output: LPIPS = 0.1479
}
