package degrade

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"

	"github.com/pssr/pssr/frame"
)

// JPEG compresses m at the given quality (1..100) with the standard library
// encoder (4:2:0 chroma subsampling, like OpenCV's default) and decodes it
// again, all in memory. Samples are clamped and rounded to 8 bits on the way.
func JPEG(m *frame.Image, quality int) (*frame.Image, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m.ToNRGBA(), &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("jpeg encode at quality %d: %w", quality, err)
	}
	img, err := jpeg.Decode(&buf)
	if err != nil {
		return nil, fmt.Errorf("jpeg decode: %w", err)
	}
	return fromDecoded(img), nil
}

// fromDecoded converts a decoded JPEG to a frame, with a fast path for the
// YCbCr images the decoder returns for colour input.
func fromDecoded(img image.Image) *frame.Image {
	yc, ok := img.(*image.YCbCr)
	if !ok {
		return frame.FromImage(img)
	}
	b := yc.Rect
	out := frame.New(b.Dx(), b.Dy())
	for y := 0; y < out.H; y++ {
		for x := 0; x < out.W; x++ {
			yi := yc.YOffset(b.Min.X+x, b.Min.Y+y)
			ci := yc.COffset(b.Min.X+x, b.Min.Y+y)
			r, g, bb := color.YCbCrToRGB(yc.Y[yi], yc.Cb[ci], yc.Cr[ci])
			o := (y*out.W + x) * 3
			out.Pix[o] = float32(r) / 255
			out.Pix[o+1] = float32(g) / 255
			out.Pix[o+2] = float32(bb) / 255
		}
	}
	return out
}
