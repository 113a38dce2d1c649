package degrade

import (
	"bytes"
	"fmt"
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
	return frame.FromImage(img), nil
}
