// Package progress reports how far frame processing has got: frames done out
// of the total, frames per second and the estimated time left.
//
// On a terminal it draws a live bar (github.com/schollz/progressbar/v3). On
// anything else (a file, a pipe, a CI log) it writes a plain line at most once
// every few seconds, so logs stay readable:
//
//	upscale: 12/100 frames (12%), 2.40 fps, elapsed 5s, ETA 37s
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// LogInterval is the least time between two plain progress lines.
const LogInterval = 5 * time.Second

// Bar tracks frames processed and reports them on a writer. Its methods are
// safe for concurrent use. The zero value is not usable; call New.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	desc     string
	total    int // <= 0: unknown
	quiet    bool
	bar      *progressbar.ProgressBar // terminal mode; nil otherwise
	now      func() time.Time
	interval time.Duration
	start    time.Time
	lastLine time.Time
	done     int // frames written
	work     int // units of computation in the whole run; 0: not set
	computed int // units of computation done
	finished bool
}

// New returns a bar for total frames (-1 when the total is unknown) written to
// w, labelled desc. With quiet set it prints nothing. When w is a terminal the
// bar is redrawn in place; otherwise plain lines are written at most once per
// LogInterval, plus a summary line on Finish.
func New(w io.Writer, total int, desc string, quiet bool) *Bar {
	b := newBar(w, total, desc, quiet, time.Now, LogInterval)
	if !quiet && isTerminal(w) {
		max := int64(total)
		if total <= 0 {
			max = -1
		}
		b.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetItsString("frames"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(total > 0),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return b
}

// newBar builds a plain (non-terminal) bar with an injectable clock.
func newBar(w io.Writer, total int, desc string, quiet bool, now func() time.Time, interval time.Duration) *Bar {
	if total <= 0 {
		total = -1
	}
	return &Bar{w: w, desc: desc, total: total, quiet: quiet, now: now, interval: interval, start: now()}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// SetWork sets how many units of computation the whole run takes (for
// upscale: the frames of every temporal window, overlaps counted in each
// window). Once set, the fraction done, the rate and the ETA follow the
// larger of the frames written and the computation done (Computed), so
// the estimate is sound before the first frames are written: a window's
// frames are written only once the next window has been computed.
func (b *Bar) SetWork(units int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.work = max(units, 0)
}

// Computed records that units more units of computation are done (see
// SetWork).
func (b *Bar) Computed(units int) {
	if units <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.computed += units
	b.reportLocked()
}

// fractionLocked is the part of the run done, in [0, 1], or -1 when the
// total is unknown.
func (b *Bar) fractionLocked() float64 {
	if b.total <= 0 {
		return -1
	}
	f := float64(b.done) / float64(b.total)
	if b.work > 0 {
		f = max(f, float64(b.computed)/float64(b.work))
	}
	return min(f, 1)
}

// Add records that frames more frames are done.
func (b *Bar) Add(frames int) {
	if frames <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.done += frames
	b.reportLocked()
}

// reportLocked redraws the bar or writes a line when one is due.
func (b *Bar) reportLocked() {
	switch {
	case b.quiet:
	case b.bar != nil:
		if b.total > 0 && b.done > b.total {
			// More frames than announced: grow the bar rather than fail.
			b.total = b.done
			b.bar.ChangeMax(b.done)
		}
		// Drawing errors must not stop the work.
		if f := b.fractionLocked(); f >= 0 && b.work > 0 {
			_ = b.bar.Set(max(b.done, int(f*float64(b.total))))
		} else {
			_ = b.bar.Set(b.done)
		}
	default:
		now := b.now()
		if b.lastLine.IsZero() || now.Sub(b.lastLine) >= b.interval {
			b.lastLine = now
			fmt.Fprintln(b.w, b.line(now))
		}
	}
}

// Finish completes the bar: the terminal bar is drawn full (or left where it
// stopped, if fewer frames than the total were added) and ended with a
// newline; in plain mode a summary line is written. Later calls do nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	switch {
	case b.quiet:
	case b.bar != nil:
		if b.total > 0 && b.done < b.total {
			// Stopped early: keep the count true instead of filling the bar.
			_ = b.bar.Exit()
			return
		}
		_ = b.bar.Finish()
	default:
		elapsed := b.now().Sub(b.start)
		if b.total > 0 && b.done < b.total {
			fmt.Fprintf(b.w, "%s: stopped at %d/%d frames after %s (%s fps)\n",
				b.desc, b.done, b.total, round(elapsed), fps(b.done, elapsed))
			return
		}
		fmt.Fprintf(b.w, "%s: done, %d frames in %s (%s fps)\n", b.desc, b.done, round(elapsed), fps(b.done, elapsed))
	}
}

// line formats one plain progress line.
func (b *Bar) line(now time.Time) string {
	elapsed := now.Sub(b.start)
	rate := fps(b.done, elapsed)
	if b.total <= 0 {
		return fmt.Sprintf("%s: %d frames, %s fps, elapsed %s", b.desc, b.done, rate, round(elapsed))
	}
	f := b.fractionLocked()
	eta := "?"
	if f > 0 && elapsed > 0 {
		eta = round(time.Duration(float64(elapsed) * (1 - f) / f))
	}
	if b.work > 0 {
		// The rate of the computation, in frames of the output; frames
		// are written only when their window is done, so the share
		// computed and the frames written are two numbers.
		rate = fps(int(f*float64(b.total)), elapsed)
		return fmt.Sprintf("%s: %d%% computed, %d/%d frames written, %s fps, elapsed %s, ETA %s",
			b.desc, int(100*f+1e-9), b.done, b.total, rate, round(elapsed), eta)
	}
	return fmt.Sprintf("%s: %d/%d frames (%d%%), %s fps, elapsed %s, ETA %s",
		b.desc, b.done, b.total, int(100*f+1e-9), rate, round(elapsed), eta)
}

// fps formats frames per second over elapsed.
func fps(frames int, elapsed time.Duration) string {
	if elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(frames)/elapsed.Seconds())
}

// round formats d to whole seconds (tenths below ten seconds).
func round(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
