package video

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pssr/pssr/frame"
)

// vfrExpr is a setpts expression giving 25 fps with a 0.12 s pause after
// every 10th frame: a variable frame rate (on the 1/25 s grid that ffmpeg
// rounds a 25 fps source's timestamps to).
const vfrExpr = "setpts='(N*0.04+floor(N/10)*0.12)/TB'"

// vfrTime is the presentation time in seconds of frame n under vfrExpr.
func vfrTime(n int) float64 { return float64(n)*0.04 + float64(n/10)*0.12 }

// makeVFR writes a 64x48 clip of n frames timed by vfrExpr, with an audio
// track, and returns its path; codec args pick the streams' codecs.
func makeVFR(t *testing.T, dir, name string, n int, codecs ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:d=2",
		"-map", "0:v", "-map", "1:a", "-vf", "trim=end_frame=" + itoa(n) + "," + vfrExpr, "-fps_mode", "vfr", "-t", "2"}
	ffmpeg(t, append(append(args, codecs...), path)...)
	return path
}

// audioStart returns the start time (seconds) of path's first audio
// stream.
func audioStart(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=start_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: audio start %q: %v", path, out, err)
	}
	return f
}

// syncedPTS returns the presentation times of path's video frames counted
// from the start of its audio: what keeps them in sync, whatever offset
// the muxer gives the whole file.
func syncedPTS(t *testing.T, path string) []float64 {
	t.Helper()
	ts := framePTS(t, path)
	a := audioStart(t, path)
	for i := range ts {
		ts[i] -= a
	}
	return ts
}

// framePTS returns the presentation times (seconds) of the decoded frames
// of path's first video stream, sorted.
func framePTS(t *testing.T, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		f, err := strconv.ParseFloat(strings.Trim(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe %s: frame time %q: %v", path, l, err)
		}
		ts = append(ts, f)
	}
	slices.Sort(ts)
	return ts
}

func TestParseTiming(t *testing.T) {
	// packets builds ffprobe's compact lines from timestamps in ticks.
	packets := func(tb, start string, pts ...string) []byte {
		var b bytes.Buffer
		for _, p := range pts {
			b.WriteString("packet|pts=" + p + "|flags=__\n")
		}
		b.WriteString("stream|time_base=" + tb + "\nformat|start_time=" + start + "\n")
		return b.Bytes()
	}
	ticks := func(ms ...int) []string {
		var s []string
		for _, v := range ms {
			s = append(s, itoa(v))
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		out   []byte
		rate  Rational
		vfr   bool
		first int64
		n     int
	}{
		{"cfr 25", packets("1/12800", "0.000000", ticks(0, 1024, 512, 1536, 2048)...), Rational{25, 1}, false, 0, 5},
		// Matroska stores 29.97 fps in whole milliseconds: 0 33 67 100 ...
		{"ntsc in ms", packets("1/1000", "0.000000", ticks(0, 33, 67, 100, 133, 167, 200, 234, 267)...), ntsc, false, 0, 9},
		{"pause", packets("1/1000", "0.000000", ticks(0, 40, 80, 220, 260)...), Rational{25, 1}, true, 0, 5},
		{"slow drift", packets("1/1000", "0.000000", ticks(0, 41, 82, 123, 164)...), Rational{25, 1}, true, 0, 5},
		// A coarse time base: one tick off the grid is VFR.
		{"coarse", packets("1/25", "0.000000", ticks(0, 1, 3, 4)...), Rational{25, 1}, true, 0, 4},
		{"start offset", packets("1/1000", "0.100000", ticks(100, 140, 180)...), Rational{25, 1}, false, 0, 3},
		{"duplicates", packets("1/1000", "0", ticks(0, 40, 40, 120)...), Rational{25, 1}, false, 0, 4},
		{"no pts", packets("1/1000", "0", "0", "N/A", "80"), Rational{25, 1}, false, 0, 0},
		{"discarded", append([]byte("packet|pts=-1024|flags=_D\n"), packets("1/12800", "0", ticks(0, 512)...)...), Rational{25, 1}, false, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTiming(tc.out, tc.rate)
			if err != nil {
				t.Fatal(err)
			}
			if got.VFR != tc.vfr || len(got.PTS) != tc.n {
				t.Fatalf("VFR %v with %d timestamps, want %v with %d", got.VFR, len(got.PTS), tc.vfr, tc.n)
			}
			if tc.n > 0 && got.PTS[0] != tc.first {
				t.Errorf("first timestamp %d, want %d", got.PTS[0], tc.first)
			}
			if !slices.IsSorted(got.PTS) {
				t.Errorf("timestamps not in presentation order: %v", got.PTS)
			}
		})
	}
	if _, err := parseTiming([]byte("packet|pts=0|flags=K_\n"), ntsc); err == nil {
		t.Error("no time base: no error")
	}
}

// TestProbeTiming checks VFR detection on real files: a clip timed by
// vfrExpr is VFR with its exact timestamps, a constant-rate one is not.
func TestProbeTiming(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	vfr := makeVFR(t, dir, "vfr.mp4", 24, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	cfr := makeClip(t, dir, "cfr.mkv", 12)
	for _, tc := range []struct {
		path string
		vfr  bool
		n    int
	}{{vfr, true, 24}, {cfr, false, 12}} {
		info, err := Probe(context.Background(), tc.path)
		if err != nil {
			t.Fatal(err)
		}
		tm, err := ProbeTiming(context.Background(), info)
		if err != nil {
			t.Fatal(err)
		}
		if tm.VFR != tc.vfr || len(tm.PTS) != tc.n {
			t.Fatalf("%s: VFR %v with %d timestamps, want %v with %d", tc.path, tm.VFR, len(tm.PTS), tc.vfr, tc.n)
		}
		if tc.vfr {
			for i := range tm.PTS {
				if d := tm.Seconds(i) - vfrTime(i); math.Abs(d) > 1e-4 {
					t.Errorf("frame %d at %g s, want %g", i, tm.Seconds(i), vfrTime(i))
				}
			}
		}
	}
}

// TestWriteTimestamps writes the frames of VFR clips with their timing
// into each container and codec and checks that the output shows every
// frame at the input's time (1 ms), both from the start of the file and
// from the start of the audio when the output holds it (the sync), and
// decodes to the frames.
func TestWriteTimestamps(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	mkv := makeVFR(t, dir, "vfr.mkv", 24, "-c:v", "ffv1", "-pix_fmt", "bgr0", "-c:a", "flac")
	mp4 := makeVFR(t, dir, "vfr.mp4", 24, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	for _, tc := range []struct {
		in, name string
		codec    Codec
		depth    int
		audio    bool
	}{
		{mkv, "o.mkv", FFV1, 8, true},
		{mkv, "o16.mkv", FFV1, 16, true},
		{mkv, "o.webm", VP9, 8, false}, // webm cannot hold flac
		{mp4, "o.mp4", H264, 8, true},
		{mp4, "rot.mp4", H265, 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, frames := readAll(t, tc.in)
			tm, err := ProbeTiming(context.Background(), info)
			if err != nil {
				t.Fatal(err)
			}
			if !tm.VFR || len(tm.PTS) != len(frames) {
				t.Fatalf("input: VFR %v, %d timestamps for %d frames", tm.VFR, len(tm.PTS), len(frames))
			}
			out := filepath.Join(dir, tc.name)
			opt := WriterOptions{Codec: tc.codec, BitDepth: tc.depth, FrameRate: info.FrameRate, StreamsFrom: tc.in, Timestamps: tm}
			if tc.name == "rot.mp4" {
				opt.Rotation = 90 // the remux pass keeps the timing too
			}
			writeAll(t, out, opt, frames)
			check := func(what string, got, want []float64) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%d frames, want %d", len(got), len(want))
				}
				for i := range got {
					if math.Abs(got[i]-want[i]) > 0.001 {
						t.Errorf("frame %d at %.6f s %s, the input's at %.6f s", i, got[i], what, want[i])
					}
				}
			}
			check("", framePTS(t, out), framePTS(t, tc.in))
			if tc.audio {
				check("after the audio's start", syncedPTS(t, out), syncedPTS(t, tc.in))
			}
			oi, back := readAll(t, out)
			if oi.HasAudio != tc.audio {
				t.Errorf("output HasAudio %v, want %v", oi.HasAudio, tc.audio)
			}
			if tc.codec == FFV1 {
				if i := sameRGB24(frames, back); i >= 0 {
					t.Errorf("frame %d differs after the lossless round trip", i)
				}
			}
		})
	}
}

// TestWriteTimestampsCount checks that a timed writer refuses more frames
// than it has timestamps, and a Close with fewer, writing nothing.
func TestWriteTimestampsCount(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	tm := &Timing{TimeBase: Rational{1, 1000}, PTS: []int64{0, 40, 180}}
	m := frame.New(16, 16)
	for _, n := range []int{2, 4} {
		out := filepath.Join(dir, "o"+itoa(n)+".mkv")
		w, err := Create(context.Background(), out, WriterOptions{Codec: FFV1, Timestamps: tm})
		if err != nil {
			t.Fatal(err)
		}
		var werr error
		for range n {
			if werr = w.Write(m); werr != nil {
				break
			}
		}
		if werr == nil {
			werr = w.Close()
		}
		if !errors.Is(werr, ErrUnsupported) || !strings.Contains(werr.Error(), "timing has 3") {
			t.Errorf("%d frames for 3 timestamps: %v, want an error naming the count", n, werr)
		}
		if entries(t, dir) != nil {
			t.Errorf("%d frames: the folder holds %v", n, entries(t, dir))
		}
	}
	// Timestamps that do not increase are refused up front.
	_, err := Create(context.Background(), filepath.Join(dir, "bad.mkv"), WriterOptions{Codec: FFV1,
		Timestamps: &Timing{TimeBase: Rational{1, 1000}, PTS: []int64{0, 40, 40}}})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("repeated timestamps: %v, want ErrUnsupported", err)
	}
}
