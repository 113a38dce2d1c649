package niqe_test

import (
	"fmt"
	"image/png"
	"log"
	"math"
	"os"

	"github.com/pssr/pssr/metrics/niqe"
)

func Example() {
	f, err := os.Open("../../testdata/basketballpass/f071.png")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		log.Fatal(err)
	}
	// Rounded BT.601 luma on the 8-bit scale, the input published scores use.
	b := img.Bounds()
	y := make([]float64, 0, b.Dx()*b.Dy())
	for py := b.Min.Y; py < b.Max.Y; py++ {
		for px := b.Min.X; px < b.Max.X; px++ {
			r, g, bl, _ := img.At(px, py).RGBA()
			y = append(y, math.Round(16+(65.481*float64(r>>8)+128.553*float64(g>>8)+24.966*float64(bl>>8))/255))
		}
	}
	m, err := niqe.Pristine()
	if err != nil {
		log.Fatal(err)
	}
	s, err := m.Score(y, b.Dx(), b.Dy())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("NIQE %.2f\n", s)
	// Output: NIQE 4.31
}
