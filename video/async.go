package video

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pssr/pssr/frame"
)

// Prefetch returns a Reader that decodes r's frames on its own goroutine,
// up to depth frames ahead of the caller (at least 1), so that decoding and
// the conversion to float frames overlap the caller's work. It yields the
// same frames and the same final error (io.EOF, or the error that ended r)
// in the same order as r. Close stops the goroutine and closes r; it may be
// called from another goroutine to stop a blocked Next. Memory grows by at
// most depth+1 frames.
func Prefetch(r Reader, depth int) Reader {
	p := &prefetcher{r: r, ch: make(chan result, max(depth, 1)), stop: make(chan struct{})}
	go p.loop()
	return p
}

// result is one Next of the underlying reader.
type result struct {
	f   *frame.Image
	err error
}

type prefetcher struct {
	r      Reader
	ch     chan result
	stop   chan struct{}
	once   sync.Once
	closed atomic.Bool
	end    error // the sticky final error, once received
}

func (p *prefetcher) loop() {
	defer close(p.ch)
	for {
		f, err := p.r.Next()
		select {
		case p.ch <- result{f, err}:
		case <-p.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *prefetcher) Info() *Info { return p.r.Info() }

func (p *prefetcher) Next() (*frame.Image, error) {
	if p.closed.Load() {
		return nil, fmt.Errorf("video: read %q: %w", p.r.Info().Path, ErrClosed)
	}
	if p.end != nil {
		return nil, p.end
	}
	res, ok := <-p.ch
	if !ok { // stopped by Close
		p.end = fmt.Errorf("video: read %q: %w", p.r.Info().Path, ErrClosed)
		return nil, p.end
	}
	if res.err != nil {
		p.end = res.err
	}
	return res.f, res.err
}

func (p *prefetcher) Close() error {
	var err error
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.stop)
		err = p.r.Close() // unblocks a Next of the goroutine
	})
	return err
}

// Background returns a Writer that passes the frames given to Write on to
// w from its own goroutine, queueing at most depth of them (at least 1), so
// that the conversion to bytes and the encoding overlap the caller's work.
// A queued frame must not be modified until it is written; the pipeline
// and the tiling stream never touch a frame after emitting it. Write fails
// with the first error of an earlier frame once w has returned one (the
// output is then already removed); Close writes the queued frames, then
// closes w; Abort drops them and aborts w. Memory grows by at most depth+1
// frames. Like w, it is not safe for concurrent use but for Abort.
func Background(w Writer, depth int) Writer {
	b := &background{w: w, ch: make(chan *frame.Image, max(depth, 1)), done: make(chan struct{}), abort: make(chan struct{})}
	go b.loop()
	return b
}

type background struct {
	w     Writer
	ch    chan *frame.Image
	done  chan struct{} // closed when the goroutine ends
	abort chan struct{} // closed by Abort
	once  sync.Once     // guards abort
	mu    sync.Mutex
	err   error // the first error of w.Write
	shut  bool  // Close was called
}

// loop writes the queued frames until Close closes the queue or Abort is
// called (without a Close after it: the goroutine still ends).
func (b *background) loop() {
	defer close(b.done)
	for {
		var f *frame.Image
		select {
		case <-b.abort:
			return
		case g, ok := <-b.ch:
			if !ok {
				return
			}
			f = g
		}
		if b.failed() != nil {
			continue // drain: the output is gone
		}
		if err := b.w.Write(f); err != nil {
			b.mu.Lock()
			b.err = err
			b.mu.Unlock()
		}
	}
}

func (b *background) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *background) Write(f *frame.Image) error {
	if b.shut {
		return fmt.Errorf("video: write: %w", ErrClosed)
	}
	if err := b.failed(); err != nil {
		return err
	}
	select {
	case <-b.abort:
		return fmt.Errorf("video: write: aborted: %w", ErrClosed)
	default:
	}
	select {
	case b.ch <- f:
		return nil
	case <-b.abort:
		return fmt.Errorf("video: write: aborted: %w", ErrClosed)
	}
}

// finish stops accepting frames and waits for the goroutine.
func (b *background) finish() {
	if !b.shut {
		b.shut = true
		close(b.ch)
	}
	<-b.done
}

func (b *background) Close() error {
	if b.shut {
		<-b.done
		return errors.Join(b.failed(), b.w.Close())
	}
	b.finish()
	if err := b.failed(); err != nil {
		_ = b.w.Abort()
		return err
	}
	return b.w.Close()
}

func (b *background) Abort() error {
	b.once.Do(func() { close(b.abort) })
	err := b.w.Abort() // an encoder stuck on a full pipe returns
	return err
}
