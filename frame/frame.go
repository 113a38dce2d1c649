// Package frame holds the in-memory picture type that every stage of pssr
// passes around: an RGB image with float32 samples in [0, 1].
//
// Pixels are stored interleaved and row-major (H, W, 3), the channels-last
// layout that the networks take, so a frame converts to a tensor without a copy
// of its structure.
package frame

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// Image is an RGB picture with float32 samples, nominally in [0, 1].
// Pix[(y*W+x)*3+c] is channel c (0=R, 1=G, 2=B) of pixel (x, y).
type Image struct {
	W, H int
	Pix  []float32
}

// New returns a black image of the given size.
func New(w, h int) *Image {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("frame.New: negative size %dx%d", w, h))
	}
	return &Image{W: w, H: h, Pix: make([]float32, w*h*3)}
}

// Bounds returns the image rectangle, (0,0)-(W,H).
func (m *Image) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At returns channel c of pixel (x, y).
func (m *Image) At(x, y, c int) float32 { return m.Pix[(y*m.W+x)*3+c] }

// Set sets channel c of pixel (x, y).
func (m *Image) Set(x, y, c int, v float32) { m.Pix[(y*m.W+x)*3+c] = v }

// Clone returns a deep copy of m.
func (m *Image) Clone() *Image {
	out := &Image{W: m.W, H: m.H, Pix: make([]float32, len(m.Pix))}
	copy(out.Pix, m.Pix)
	return out
}

// SameSize reports whether a and b have the same width and height.
func SameSize(a, b *Image) bool { return a.W == b.W && a.H == b.H }

// Clamp limits every sample of m to [0, 1] in place and returns m.
func (m *Image) Clamp() *Image {
	for i, v := range m.Pix {
		if v < 0 {
			m.Pix[i] = 0
		} else if v > 1 {
			m.Pix[i] = 1
		} else if v != v { // NaN
			m.Pix[i] = 0
		}
	}
	return m
}

// To8 converts a [0,1] sample to an 8-bit level: v*255 rounded half away
// from zero and clamped to [0, 255], with NaN giving 0. ToRGB24 and ToNRGBA
// quantise with it.
func To8(v float32) uint8 {
	f := math.Round(float64(v) * 255)
	if f < 0 || f != f {
		return 0
	}
	if f > 255 {
		return 255
	}
	return uint8(f)
}

// FromRGB24 fills dst (allocated when nil or of another size) from packed
// 8-bit RGB bytes, as ffmpeg's rgb24 pixel format writes them.
func FromRGB24(buf []byte, w, h int, dst *Image) *Image {
	if len(buf) < w*h*3 {
		panic(fmt.Sprintf("frame.FromRGB24: %d bytes for %dx%d", len(buf), w, h))
	}
	if dst == nil || dst.W != w || dst.H != h {
		dst = New(w, h)
	}
	for i := range dst.Pix {
		dst.Pix[i] = float32(buf[i]) / 255
	}
	return dst
}

// ToRGB24 writes m as packed 8-bit RGB into dst (grown when too small) and
// returns it. Samples are rounded and clamped to [0, 255].
func (m *Image) ToRGB24(dst []byte) []byte {
	n := m.W * m.H * 3
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	for i, v := range m.Pix {
		dst[i] = To8(v)
	}
	return dst
}

// FromImage converts any image.Image to an Image (alpha is ignored).
// NRGBA, RGBA and YCbCr (what the JPEG decoder returns for colour pictures)
// are converted directly; other types go through color.NRGBAModel.
func FromImage(src image.Image) *Image {
	b := src.Bounds()
	m := New(b.Dx(), b.Dy())
	switch s := src.(type) {
	case *image.NRGBA:
		m.from4(s.Pix, s.Stride)
		return m
	case *image.RGBA:
		m.from4(s.Pix, s.Stride)
		return m
	case *image.RGBA64:
		m.from8(s.Pix, s.Stride)
		return m
	case *image.NRGBA64:
		m.from8(s.Pix, s.Stride)
		return m
	case *image.YCbCr:
		for y := 0; y < m.H; y++ {
			for x := 0; x < m.W; x++ {
				yi := s.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := s.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
				o := (y*m.W + x) * 3
				m.Pix[o] = float32(r) / 255
				m.Pix[o+1] = float32(g) / 255
				m.Pix[o+2] = float32(bl) / 255
			}
		}
		return m
	}
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			c := color.NRGBAModel.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			o := (y*m.W + x) * 3
			m.Pix[o] = float32(c.R) / 255
			m.Pix[o+1] = float32(c.G) / 255
			m.Pix[o+2] = float32(c.B) / 255
		}
	}
	return m
}

// from8 fills m from 8-byte-per-pixel samples laid out R, G, B, A, each
// 16-bit big-endian (the layout of image.RGBA64 and image.NRGBA64),
// ignoring A: 16-bit PNGs keep their precision.
func (m *Image) from8(pix []uint8, stride int) {
	for y := 0; y < m.H; y++ {
		row := pix[y*stride:]
		for x := 0; x < m.W; x++ {
			o := (y*m.W + x) * 3
			p := row[8*x:]
			m.Pix[o] = float32(uint16(p[0])<<8|uint16(p[1])) / 65535
			m.Pix[o+1] = float32(uint16(p[2])<<8|uint16(p[3])) / 65535
			m.Pix[o+2] = float32(uint16(p[4])<<8|uint16(p[5])) / 65535
		}
	}
}

// ToRGBA64 converts m to an opaque 16-bit image.RGBA64, clamping to [0, 1]
// and rounding.
func (m *Image) ToRGBA64() *image.RGBA64 {
	out := image.NewRGBA64(image.Rect(0, 0, m.W, m.H))
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			o := (y*m.W + x) * 3
			p := out.Pix[y*out.Stride+8*x:]
			for c := range 3 {
				v := uint16(math.Round(float64(min(max(m.Pix[o+c], 0), 1)) * 65535))
				p[2*c], p[2*c+1] = byte(v>>8), byte(v)
			}
			p[6], p[7] = 0xff, 0xff
		}
	}
	return out
}

// from4 fills m from 4-byte-per-pixel samples laid out R, G, B, A (the
// layout of image.NRGBA and image.RGBA), ignoring A.
func (m *Image) from4(pix []uint8, stride int) {
	for y := 0; y < m.H; y++ {
		row := pix[y*stride:]
		for x := 0; x < m.W; x++ {
			o := (y*m.W + x) * 3
			m.Pix[o] = float32(row[4*x]) / 255
			m.Pix[o+1] = float32(row[4*x+1]) / 255
			m.Pix[o+2] = float32(row[4*x+2]) / 255
		}
	}
}

// ToNRGBA converts m to an 8-bit opaque image.NRGBA.
func (m *Image) ToNRGBA() *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			o := (y*m.W + x) * 3
			p := y*out.Stride + 4*x
			out.Pix[p] = To8(m.Pix[o])
			out.Pix[p+1] = To8(m.Pix[o+1])
			out.Pix[p+2] = To8(m.Pix[o+2])
			out.Pix[p+3] = 255
		}
	}
	return out
}

// Crop returns a copy of the rectangle r of m (r must lie inside m).
func (m *Image) Crop(r image.Rectangle) *Image {
	if !r.In(m.Bounds()) {
		panic(fmt.Sprintf("frame.Crop: %v outside %v", r, m.Bounds()))
	}
	out := New(r.Dx(), r.Dy())
	for y := 0; y < out.H; y++ {
		copy(out.Pix[y*out.W*3:(y+1)*out.W*3], m.Pix[((r.Min.Y+y)*m.W+r.Min.X)*3:])
	}
	return out
}

// PadReplicate returns m extended to w x h by repeating its last row and
// column (the replicate padding the networks need). w and h must be at least
// m's size.
func (m *Image) PadReplicate(w, h int) *Image {
	if w < m.W || h < m.H {
		panic(fmt.Sprintf("frame.PadReplicate: %dx%d smaller than %dx%d", w, h, m.W, m.H))
	}
	out := New(w, h)
	for y := 0; y < h; y++ {
		sy := min(y, m.H-1)
		for x := 0; x < w; x++ {
			sx := min(x, m.W-1)
			copy(out.Pix[(y*w+x)*3:(y*w+x)*3+3], m.Pix[(sy*m.W+sx)*3:])
		}
	}
	return out
}
