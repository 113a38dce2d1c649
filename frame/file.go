package frame

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoder registration for Load
	"image/png"
	"os"
	"path/filepath"
)

// Load reads a PNG or JPEG file.
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
// success, so a failure never leaves a partial file at path.
func SavePNG(path string, m *Image) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(tmp, m.ToNRGBA()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
