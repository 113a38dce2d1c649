package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestPlainLines(t *testing.T) {
	type step struct {
		wait   time.Duration // clock advance before Add
		frames int
	}
	tests := []struct {
		name  string
		total int
		quiet bool
		steps []step
		want  []string // expected lines, in order, Finish's included
	}{
		{
			name:  "known total, throttled",
			total: 20,
			steps: []step{{2 * time.Second, 4}, {2 * time.Second, 4}, {3 * time.Second, 4}, {10 * time.Second, 8}},
			want: []string{
				"enc: 4/20 frames (20%), 2.00 fps, elapsed 2s, ETA 8s",
				"enc: 12/20 frames (60%), 1.71 fps, elapsed 7s, ETA 4.7s",
				"enc: 20/20 frames (100%), 1.18 fps, elapsed 17s, ETA 0s",
				"enc: done, 20 frames in 17s (1.18 fps)",
			},
		},
		{
			name:  "unknown total",
			total: -1,
			steps: []step{{time.Second, 3}, {time.Second, 1}, {5 * time.Second, 3}},
			want: []string{
				"enc: 3 frames, 3.00 fps, elapsed 1s",
				"enc: 7 frames, 1.00 fps, elapsed 7s",
				"enc: done, 7 frames in 7s (1.00 fps)",
			},
		},
		{
			name:  "stopped early",
			total: 10,
			steps: []step{{time.Second, 2}, {time.Second, 2}},
			want: []string{
				"enc: 2/10 frames (20%), 2.00 fps, elapsed 1s, ETA 4s",
				"enc: stopped at 4/10 frames after 2s (2.00 fps)",
			},
		},
		{
			name:  "quiet",
			total: 10,
			quiet: true,
			steps: []step{{time.Second, 5}, {10 * time.Second, 5}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			clock := &fakeClock{t: time.Unix(1000, 0)}
			b := newBar(&buf, tc.total, "enc", tc.quiet, clock.now, 5*time.Second)
			for _, s := range tc.steps {
				clock.advance(s.wait)
				b.Add(s.frames)
			}
			b.Finish()
			b.Finish() // second call is a no-op
			b.Add(1)   // ignored after Finish
			got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				got = nil
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("output:\n%s\nwant:\n%s", buf.String(), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestNewNonTerminal checks that New falls back to plain lines when the writer
// is not a terminal.
func TestNewNonTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 3, "upscale", false)
	if b.bar != nil {
		t.Fatal("a bytes.Buffer must not get the terminal bar")
	}
	b.Add(2)
	b.Add(1)
	b.Finish()
	out := buf.String()
	for _, want := range []string{"upscale: 2/3 frames (66%)", "fps", "ETA", "upscale: done, 3 frames in"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d lines, want 2 (first Add, then Finish; the second Add is throttled):\n%s", n, out)
	}
}

// TestComputedETA follows a run of 8 frames in two windows of 5 (10 frames
// of work), where no frame is written until the second window is done: the
// ETA must follow the computation, not the frames written (which gave "?"
// or hours, then a jump).
func TestComputedETA(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	b := newBar(&buf, 8, "upscale", false, clock.now, time.Second)
	b.SetWork(10)
	clock.advance(10 * time.Second)
	b.Computed(5) // the first window: half the work, nothing written yet
	clock.advance(10 * time.Second)
	b.Computed(5)
	b.Add(8)
	b.Finish()
	want := []string{
		"upscale: 50% computed, 0/8 frames written, 0.40 fps, elapsed 10s, ETA 10s",
		"upscale: 100% computed, 0/8 frames written, 0.40 fps, elapsed 20s, ETA 0s",
		"upscale: done, 8 frames in 20s (0.40 fps)",
	}
	if got := strings.TrimSuffix(buf.String(), "\n"); got != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
