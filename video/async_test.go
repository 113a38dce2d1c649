package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pssr/pssr/frame"
)

// fakeReader yields n numbered 2x1 frames, then end (io.EOF when nil). It
// records how far ahead of the consumer it was asked for frames.
type fakeReader struct {
	n      int
	end    error
	i      int
	mu     sync.Mutex
	closed bool
	gate   chan struct{} // when set, each Next waits for a token
}

func (r *fakeReader) Info() *Info { return &Info{Path: "fake", Width: 2, Height: 1, Frames: r.n} }

func (r *fakeReader) Next() (*frame.Image, error) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.i >= r.n {
		if r.end != nil {
			return nil, r.end
		}
		return nil, io.EOF
	}
	r.i++
	f := frame.New(2, 1)
	f.Pix[0] = float32(r.i)
	return f, nil
}

func (r *fakeReader) read() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.i
}

func (r *fakeReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func TestPrefetch(t *testing.T) {
	bad := errors.New("decoder broke")
	for _, tc := range []struct {
		name  string
		n     int
		end   error
		depth int
	}{
		{"eof", 7, nil, 3},
		{"depth 0 is 1", 5, nil, 0},
		{"error after frames", 4, bad, 2},
		{"empty", 0, nil, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeReader{n: tc.n, end: tc.end}
			r := Prefetch(src, tc.depth)
			defer r.Close()
			for i := 1; i <= tc.n; i++ {
				f, err := r.Next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Pix[0] != float32(i) {
					t.Fatalf("frame %d came as %v: out of order", i, f.Pix[0])
				}
			}
			want := tc.end
			if want == nil {
				want = io.EOF
			}
			for range 2 { // the end is sticky
				if _, err := r.Next(); !errors.Is(err, want) {
					t.Fatalf("after the frames: %v, want %v", err, want)
				}
			}
		})
	}
}

// TestPrefetchRunsAhead checks that frames are decoded while the consumer
// is busy, and no more than depth (+1 in hand) ahead.
func TestPrefetchRunsAhead(t *testing.T) {
	src := &fakeReader{n: 20}
	r := Prefetch(src, 3)
	defer r.Close()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for src.read() < 5 && time.Now().Before(deadline) { // 1 taken, 3 queued, 1 waiting to be queued
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if got := src.read(); got != 5 {
		t.Fatalf("%d frames decoded with 1 consumed and depth 3, want 5", got)
	}
}

func TestPrefetchClose(t *testing.T) {
	src := &fakeReader{n: 10, gate: make(chan struct{})}
	r := Prefetch(src, 2)
	src.gate <- struct{}{}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { _, err := r.Next(); done <- err }() // blocks: the gate is shut
	time.Sleep(10 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	close(src.gate) // the goroutine's Next returns (ErrClosed) and it stops
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Next after Close: %v", err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if !src.closed {
		t.Fatal("Close did not close the underlying reader")
	}
}

// fakeWriter records frames; it fails the write of frame failAt (1-based)
// and can be slowed down.
type fakeWriter struct {
	mu      sync.Mutex
	got     []float32
	failAt  int
	delay   time.Duration
	closed  bool
	aborted bool
}

func (w *fakeWriter) Write(f *frame.Image) error {
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return fmt.Errorf("write after abort: %w", ErrClosed)
	}
	if len(w.got)+1 == w.failAt {
		w.aborted = true // a failing writer removes its output
		return errors.New("disk full")
	}
	w.got = append(w.got, f.Pix[0])
	return nil
}

func (w *fakeWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return fmt.Errorf("close after abort: %w", ErrClosed)
	}
	w.closed = true
	return nil
}

func (w *fakeWriter) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.aborted = true
	}
	return nil
}

func numbered(i int) *frame.Image {
	f := frame.New(2, 1)
	f.Pix[0] = float32(i)
	return f
}

// queueThenAbort queues n frames for fw through Background (depth 4) and
// aborts.
func queueThenAbort(t *testing.T, fw *fakeWriter, n int) Writer {
	t.Helper()
	w := Background(fw, 4)
	for i := 1; i <= n; i++ {
		if err := w.Write(numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestBackground(t *testing.T) {
	t.Run("writes in order, Close waits", func(t *testing.T) {
		fw := &fakeWriter{delay: time.Millisecond}
		w := Background(fw, 2)
		start := time.Now()
		for i := 1; i <= 6; i++ {
			if err := w.Write(numbered(i)); err != nil {
				t.Fatal(err)
			}
		}
		queued := time.Since(start)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if len(fw.got) != 6 || !fw.closed {
			t.Fatalf("wrote %v, closed %v", fw.got, fw.closed)
		}
		for i, v := range fw.got {
			if v != float32(i+1) {
				t.Fatalf("frames written as %v: out of order", fw.got)
			}
		}
		if err := w.Abort(); err != nil || fw.aborted { // Abort after Close keeps the output
			t.Fatalf("Abort after Close: %v, aborted %v", err, fw.aborted)
		}
		t.Logf("6 writes of 1 ms queued in %v", queued)
	})
	t.Run("an error reaches a later Write and Close", func(t *testing.T) {
		fw := &fakeWriter{failAt: 3}
		w := Background(fw, 1)
		var werr error
		for i := 1; i <= 50 && werr == nil; i++ {
			werr = w.Write(numbered(i))
			time.Sleep(time.Millisecond)
		}
		if werr == nil || werr.Error() != "disk full" {
			t.Fatalf("Write after the failure: %v", werr)
		}
		if err := w.Close(); err == nil || err.Error() != "disk full" {
			t.Fatalf("Close: %v", err)
		}
		if len(fw.got) != 2 || fw.closed {
			t.Fatalf("wrote %v, closed %v", fw.got, fw.closed)
		}
	})
	t.Run("Abort drops the queue", func(t *testing.T) {
		fw := &fakeWriter{delay: 20 * time.Millisecond}
		w := queueThenAbort(t, fw, 4)
		if err := w.Write(numbered(5)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Abort: %v", err)
		}
		if err := w.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Close after Abort: %v", err)
		}
		if !fw.aborted || fw.closed || len(fw.got) > 1 {
			t.Fatalf("aborted %v, closed %v, wrote %v", fw.aborted, fw.closed, fw.got)
		}
	})
	t.Run("Abort alone ends the goroutine", func(t *testing.T) {
		w := queueThenAbort(t, &fakeWriter{delay: 5 * time.Millisecond}, 3)
		select {
		case <-w.(*background).done:
		case <-time.After(5 * time.Second):
			t.Fatal("the writer's goroutine still runs after Abort")
		}
	})
}

// TestAsyncRoundTrip runs the real reader and writer through Prefetch and
// Background: the frames come out as a plain copy does.
func TestAsyncRoundTrip(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 9)
	_, want := readAll(t, clip)
	ctx := context.Background()
	r0, err := Open(ctx, clip)
	if err != nil {
		t.Fatal(err)
	}
	r := Prefetch(r0, 2)
	defer r.Close()
	out := filepath.Join(dir, "out.mkv")
	w0, err := Create(ctx, out, WriterOptions{Codec: FFV1})
	if err != nil {
		t.Fatal(err)
	}
	w := Background(w0, 2)
	defer w.Abort()
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, got := readAll(t, out)
	if len(got) != len(want) {
		t.Fatalf("%d frames back, want %d", len(got), len(want))
	}
	if i := sameRGB24(want, got); i >= 0 {
		t.Fatalf("frame %d differs", i)
	}
}
