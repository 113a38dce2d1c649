// Package testimg makes hostile images for tests.
package testimg

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"os"
)

// WriteBomb writes a valid PNG of w x h black pixels, 1-bit greyscale, to
// path: a decompression bomb. Its file is tiny (about 50 KB for 20000 x
// 20000) while decoding it as RGB takes 3 bytes a pixel (12 as float32).
func WriteBomb(path string, w, h int) error {
	var png bytes.Buffer
	png.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		png.Write(n[:])
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		png.WriteString(typ)
		png.Write(data)
		binary.BigEndian.PutUint32(n[:], c.Sum32())
		png.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8] = 1 // bit depth; colour type 0 (greyscale), deflate, filter 0, no interlace
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	z, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		return err
	}
	row := make([]byte, 1+(w+7)/8) // filter byte 0, then zero bits
	for range h {
		if _, err := z.Write(row); err != nil {
			return err
		}
	}
	if err := z.Close(); err != nil {
		return err
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return os.WriteFile(path, png.Bytes(), 0o644)
}
