package video

import (
	"encoding/binary"
	"image/color"
	"math"
	"strconv"
	"strings"

	"github.com/pssr/pssr/frame"
)

// bitDepth returns the bits per sample of an ffmpeg pixel format name:
// "yuv420p10le" 10, "rgb48le" 16, "p010le" 10, "yuv420p" 8.
func bitDepth(pixFmt string) int {
	f := strings.TrimSuffix(strings.TrimSuffix(pixFmt, "le"), "be")
	if f == pixFmt {
		return 8 // no endianness: 8-bit samples
	}
	i := len(f)
	for i > 0 && f[i-1] >= '0' && f[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(f[i:])
	switch {
	case err != nil:
		return 8
	case n == 48 || n == 64: // rgb48, rgba64: 16 bits a sample
		return 16
	case n > 16:
		return 8
	}
	return max(n, 8)
}

// modelDepth returns the bits per sample of a decoded image's colour model.
func modelDepth(m color.Model) int {
	switch m {
	case color.RGBA64Model, color.NRGBA64Model, color.Gray16Model, color.Alpha16Model:
		return 16
	}
	return 8
}

// fromRGB48 converts packed little-endian 16-bit RGB to a frame.
func fromRGB48(buf []byte, w, h int) *frame.Image {
	m := frame.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(binary.LittleEndian.Uint16(buf[2*i:])) / 65535
	}
	return m
}

// toRGB48 writes m as packed little-endian 16-bit RGB into dst (grown when
// too small), clamping to [0, 1] and rounding.
func toRGB48(m *frame.Image, dst []byte) []byte {
	n := 2 * len(m.Pix)
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	for i, v := range m.Pix {
		v = min(max(v, 0), 1)
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(math.Round(float64(v)*65535)))
	}
	return dst
}
