package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/video"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	if err := video.CheckTools(); err != nil {
		t.Skip(err)
	}
}

// randomFrame returns a w x h frame of random 8-bit levels.
func randomFrame(rng *rand.Rand, w, h int) *frame.Image {
	f := frame.New(w, h)
	for i := range f.Pix {
		f.Pix[i] = float32(rng.IntN(256)) / 255
	}
	return f
}

// commitOne writes n frames into c and commits a state at window.
func commitOne(t *testing.T, c *Checkpoint, rng *rand.Rand, n, window int) *tiling.State {
	t.Helper()
	for range n {
		if err := c.Write(randomFrame(rng, 6, 4)); err != nil {
			t.Fatal(err)
		}
	}
	sum := frame.New(6, 4)
	for i := range sum.Pix {
		sum.Pix[i] = rng.Float32() * 0.7 // not 8-bit levels: the state keeps every bit
	}
	emitted := c.Manifest().Emitted + n
	st := &tiling.State{Window: window, Emitted: emitted, Last: tiling.Span{Start: emitted - 1, End: emitted + 1},
		Pending: []tiling.Pending{{Sum: sum, WSum: 1.0 / 3}}}
	if err := c.Commit(st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCheckpoint(t *testing.T) {
	needFFmpeg(t)
	out := filepath.Join(t.TempDir(), "out.mkv")
	key := Key{Input: "aa", Model: "bb", Options: []byte(`{"scale":2,"alpha":1}`)}
	opt := Options{Width: 6, Height: 4, FrameRate: video.Rational{Num: 25, Den: 1}, FramesTotal: 9}
	rng := rand.New(rand.NewPCG(1, 2))

	c, st, err := Open(t.Context(), out, key, opt)
	if err != nil || st != nil {
		t.Fatalf("fresh Open: %v, %v", st, err)
	}
	// A second process (here: a second Open) cannot take it.
	if _, _, err := Open(t.Context(), out, key, opt); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	commitOne(t, c, rng, 3, 1)
	want := commitOne(t, c, rng, 2, 2)
	// Frames after the last commit are not part of the checkpoint.
	if err := c.Write(randomFrame(rng, 6, 4)); err != nil {
		t.Fatal(err)
	}
	c.Close()

	if _, _, err := Open(t.Context(), out, key, opt); !errors.Is(err, ErrExists) {
		t.Fatalf("Open without Resume: %v, want ErrExists", err)
	}
	opt.Resume = true
	c, st, err = Open(t.Context(), out, key, opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Window != 2 || st.Emitted != 5 || st.Last != want.Last || len(st.Pending) != 1 ||
		st.Pending[0].WSum != want.Pending[0].WSum || !slices.Equal(st.Pending[0].Sum.Pix, want.Pending[0].Sum.Pix) {
		t.Fatalf("resumed state %+v, want %+v", st, want)
	}
	if segs := c.Segments(); len(segs) != 2 {
		t.Fatalf("segments %v, want 2", segs)
	}
	ents, _ := os.ReadDir(c.Dir())
	if len(ents) != 5 { // manifest, lock, 2 segments, 1 state
		t.Errorf("checkpoint folder holds %d files, want 5 (no stray or stale files)", len(ents))
	}
	c.Close()

	for _, tc := range []struct {
		name string
		key  Key
		want string
	}{
		{"input", Key{Input: "ax", Model: "bb", Options: key.Options}, "another input"},
		{"model", Key{Input: "aa", Model: "bx", Options: key.Options}, "another model"},
		{"options", Key{Input: "aa", Model: "bb", Options: []byte(`{"scale":4,"alpha":1}`)}, `other options: scale 2 (now 4)`},
	} {
		_, _, err := Open(t.Context(), out, tc.key, opt)
		if !errors.Is(err, ErrMismatch) || !contains(err.Error(), tc.want) {
			t.Errorf("other %s: %v, want ErrMismatch naming %q", tc.name, err, tc.want)
		}
	}

	// A damaged segment is refused.
	seg := filepath.Join(DirFor(out), "seg-00000000.mkv")
	data, _ := os.ReadFile(seg)
	data[len(data)/2] ^= 1
	os.WriteFile(seg, data, 0o644)
	if _, _, err := Open(t.Context(), out, key, opt); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged segment: %v, want ErrDamaged", err)
	}

	// Remove deletes it; a checkpoint without a finished window is not kept.
	os.RemoveAll(DirFor(out))
	c, _, err = Open(t.Context(), out, key, opt)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := os.Stat(DirFor(out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty checkpoint was kept: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestSegmentBits checks that a deep output's segments are 16-bit FFV1
// and that a checkpoint whose segments keep fewer bits than the output
// needs (an older pssr's 8-bit segments) is refused by name.
func TestSegmentBits(t *testing.T) {
	needFFmpeg(t)
	out := filepath.Join(t.TempDir(), "out.mkv")
	key := Key{Input: "aa", Model: "bb", Options: []byte(`{"scale":2}`)}
	eight := Options{Width: 6, Height: 4, FrameRate: video.Rational{Num: 25, Den: 1}, FramesTotal: 4}
	deep := eight
	deep.SampleBits = 16
	rng := rand.New(rand.NewPCG(3, 4))
	c, _, err := Open(t.Context(), out, key, eight)
	if err != nil {
		t.Fatal(err)
	}
	commitOne(t, c, rng, 2, 1)
	if m := c.Manifest(); m.SegmentBits != 0 {
		t.Errorf("8-bit output: segment_bits %d, want 0 (unset)", m.SegmentBits)
	}
	c.Close()
	deep.Resume = true
	_, _, err = Open(t.Context(), out, key, deep)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "keep 8 bits a sample, this output needs 16") {
		t.Fatalf("8-bit segments for a 16-bit output: %v, want ErrMismatch naming the bits", err)
	}
	if err := os.RemoveAll(DirFor(out)); err != nil {
		t.Fatal(err)
	}

	deep.Resume = false
	c, _, err = Open(t.Context(), out, key, deep)
	if err != nil {
		t.Fatal(err)
	}
	commitOne(t, c, rng, 2, 1)
	if m := c.Manifest(); m.SegmentBits != 16 {
		t.Errorf("16-bit output: segment_bits %d, want 16", m.SegmentBits)
	}
	info, err := video.Probe(t.Context(), c.Segments()[0])
	if err != nil {
		t.Fatal(err)
	}
	if info.PixFmt != "gbrp16le" {
		t.Errorf("16-bit output: segment pix_fmt %s, want gbrp16le", info.PixFmt)
	}
	c.Close()
	deep.Resume = true
	c, st, err := Open(t.Context(), out, key, deep)
	if err != nil || st == nil {
		t.Fatalf("resume of 16-bit segments: %v, %v", st, err)
	}
	c.Close()
}

// TestWriteFloats checks the buffered float writer against binary.Write
// across its buffer's boundary, and the reader against both.
func TestWriteFloats(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096, 4097, 10001} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)*0.37 - 11
		}
		var got, want bytes.Buffer
		if err := writeFloats(&got, v); err != nil {
			t.Fatal(err)
		}
		if err := binary.Write(&want, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%d floats: %d bytes written, differ from binary.Write's %d", n, got.Len(), want.Len())
		}
		back := make([]float32, n)
		if err := readFloats(&got, back); err != nil || !slices.Equal(back, v) {
			t.Fatalf("%d floats: read back differ (%v)", n, err)
		}
		if n > 0 {
			if err := readFloats(bytes.NewReader(want.Bytes()[:4*n-1]), back); err == nil {
				t.Fatalf("%d floats: a truncated state read without error", n)
			}
		}
	}
}
