package frame

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoder registration for Load
	"image/png"
	"io"
	"os"

	"github.com/pssr/pssr/internal/atomicfile"
)

// Load reads a PNG or JPEG file; 16-bit PNGs keep their 16 bits.
func Load(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return FromImage(img), nil
}

// SavePNG writes m as an 8-bit PNG, through a temporary file renamed on
// success (atomicfile.Write), so a failure never leaves a partial file at
// path.
func SavePNG(path string, m *Image) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(w, m.ToNRGBA()); err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		return nil
	})
}

// SavePNG16 writes m as a 16-bit RGB PNG (rgb48), like SavePNG.
func SavePNG16(path string, m *Image) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(w, m.ToRGBA64()); err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		return nil
	})
}
