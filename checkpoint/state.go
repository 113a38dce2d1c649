package checkpoint

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/tiling"
)

// stateMagic starts a state file.
const stateMagic = "PSSRSTATE1\n"

// The state file, little-endian after the magic: window, emitted, last
// start, last end and the pending count as int64; then per pending frame
// its width and height (int64), the weight sum (float64 bits) and the
// W·H·3 float32 samples, bit for bit.

// writeState serialises st.
func writeState(w io.Writer, st *tiling.State) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(stateMagic); err != nil {
		return err
	}
	hdr := []int64{int64(st.Window), int64(st.Emitted), int64(st.Last.Start), int64(st.Last.End), int64(len(st.Pending))}
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return err
	}
	for _, p := range st.Pending {
		if err := binary.Write(bw, binary.LittleEndian, []int64{int64(p.Sum.W), int64(p.Sum.H)}); err != nil {
			return err
		}
		if err := binary.Write(bw, binary.LittleEndian, math.Float64bits(p.WSum)); err != nil {
			return err
		}
		if err := writeFloats(bw, p.Sum.Pix[:p.Sum.W*p.Sum.H*3]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// readFloats fills v with little-endian float32s read through a small
// buffer (binary.Read would first read all of a frame into a new slice).
func readFloats(r io.Reader, v []float32) error {
	var buf [16 << 10]byte
	for len(v) > 0 {
		n := min(len(v), len(buf)/4)
		if _, err := io.ReadFull(r, buf[:4*n]); err != nil {
			return err
		}
		for i := range v[:n] {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		v = v[n:]
	}
	return nil
}

// writeFloats writes v as little-endian float32s through a small buffer
// (binary.Write would first encode all of a frame into a new slice).
func writeFloats(w io.Writer, v []float32) error {
	var buf [16 << 10]byte
	for len(v) > 0 {
		n := min(len(v), len(buf)/4)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

// readState reads a state file written by writeState.
func readState(path string) (*tiling.State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(stateMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != stateMagic {
		return nil, fmt.Errorf("%s is not a pssr state file", path)
	}
	hdr := make([]int64, 5)
	if err := binary.Read(r, binary.LittleEndian, hdr); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	const maxPending = 1 << 16
	if hdr[4] < 0 || hdr[4] > maxPending {
		return nil, fmt.Errorf("state %s: %d pending frames", path, hdr[4])
	}
	st := &tiling.State{Window: int(hdr[0]), Emitted: int(hdr[1]), Last: tiling.Span{Start: int(hdr[2]), End: int(hdr[3])},
		Pending: make([]tiling.Pending, hdr[4])}
	for i := range st.Pending {
		wh := make([]int64, 2)
		if err := binary.Read(r, binary.LittleEndian, wh); err != nil {
			return nil, fmt.Errorf("state %s: frame %d: %w", path, i, err)
		}
		if wh[0] <= 0 || wh[1] <= 0 || wh[0]*wh[1] > 1<<28 {
			return nil, fmt.Errorf("state %s: frame %d is %dx%d", path, i, wh[0], wh[1])
		}
		var bits uint64
		if err := binary.Read(r, binary.LittleEndian, &bits); err != nil {
			return nil, fmt.Errorf("state %s: frame %d: %w", path, i, err)
		}
		img := frame.New(int(wh[0]), int(wh[1]))
		if err := readFloats(r, img.Pix); err != nil {
			return nil, fmt.Errorf("state %s: frame %d: %w", path, i, err)
		}
		st.Pending[i] = tiling.Pending{Sum: img, WSum: math.Float64frombits(bits)}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("state %s: trailing data", path)
	}
	return st, nil
}
