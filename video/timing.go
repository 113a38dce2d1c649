package video

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Timing is the presentation timing of a video stream's frames, from its
// packets' timestamps (ProbeTiming).
type Timing struct {
	// TimeBase is the unit of PTS in seconds (the stream's time base, such
	// as 1/12800 or 1/1000).
	TimeBase Rational
	// PTS are the frames' presentation timestamps in TimeBase units, in
	// presentation order (frame i of a Reader is at PTS[i]), relative to
	// the start of the file (the earliest timestamp of any of its streams),
	// so that the audio keeps its offset. Nil when the stream's packets
	// carry no timestamps.
	PTS []int64
	// VFR reports a variable frame rate: some timestamp lies more than
	// VFRTolerance (or more than half a TimeBase unit, when that is
	// larger) off the constant-rate grid of Info.FrameRate that starts at
	// the first frame. It is false when PTS is nil or not strictly
	// increasing (a stream whose timing cannot be kept as it is).
	VFR bool
}

// VFRTolerance is how far a frame's timestamp may lie off the constant-rate
// grid before a stream counts as variable-rate: 1 ms, above the rounding of
// millisecond time bases (Matroska stores 29.97 fps as 33 and 34 ms frames).
const VFRTolerance = 0.001

// Seconds returns PTS[i] in seconds.
func (t *Timing) Seconds(i int) float64 {
	return float64(t.PTS[i]) * float64(t.TimeBase.Num) / float64(t.TimeBase.Den)
}

// ProbeTiming reads the presentation timestamps of info's video stream
// from its packets (the file is demuxed, not decoded) and tells whether
// its frame rate is variable. Packets that the demuxer marks as discarded
// (an edit list's leading frames) are left out. A frame folder has no
// timestamps: it gives a Timing with nil PTS and VFR false.
func ProbeTiming(ctx context.Context, info *Info) (*Timing, error) {
	if info.Folder {
		return &Timing{TimeBase: Rational{folderRate.Den, folderRate.Num}}, nil
	}
	op := fmt.Sprintf("probe timing of %q", info.Path)
	cmd := exec.CommandContext(ctx, "ffprobe", "-hide_banner", "-v", "error",
		"-select_streams", strconv.Itoa(info.StreamIndex),
		"-show_entries", "packet=pts,flags:stream=time_base:format=start_time",
		"-of", "compact", "-i", ffPath(info.Path))
	var stdout bytes.Buffer
	stderr := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = waitDelay
	if err := cmd.Run(); err != nil {
		if e := ctxErr(ctx, op); e != nil {
			return nil, e
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("video: %s: %w", op, ErrFFmpegNotFound)
		}
		return nil, fmt.Errorf("video: %s: %w: ffprobe failed: %v%s", op, ErrInvalidData, err, stderr.suffix("ffprobe"))
	}
	t, err := parseTiming(stdout.Bytes(), info.FrameRate)
	if err != nil {
		return nil, fmt.Errorf("video: %s: %w: %v", op, ErrInvalidData, err)
	}
	return t, nil
}

// parseTiming reads ffprobe's compact packet/stream/format lines and fills
// a Timing, judging VFR against the nominal rate.
func parseTiming(out []byte, rate Rational) (*Timing, error) {
	t := &Timing{}
	var pts []int64
	missing := false
	start := 0.0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		section, rest, _ := strings.Cut(sc.Text(), "|")
		fields := map[string]string{}
		for _, kv := range strings.Split(rest, "|") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				fields[k] = v
			}
		}
		switch section {
		case "packet":
			if strings.Contains(fields["flags"], "D") {
				continue
			}
			v, err := strconv.ParseInt(fields["pts"], 10, 64)
			if err != nil { // "N/A": no timestamp
				missing = true
				continue
			}
			pts = append(pts, v)
		case "stream":
			tb, err := ParseRational(fields["time_base"])
			if err != nil || !tb.Valid() {
				return nil, fmt.Errorf("bad stream time base %q", fields["time_base"])
			}
			t.TimeBase = tb
		case "format":
			start = parseFloat(fields["start_time"])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !t.TimeBase.Valid() {
		return nil, errors.New("ffprobe gave no time base for the video stream")
	}
	if missing || len(pts) == 0 {
		return t, nil
	}
	slices.Sort(pts)
	off := int64(math.Round(start * float64(t.TimeBase.Den) / float64(t.TimeBase.Num)))
	for i := range pts {
		pts[i] -= off
	}
	t.PTS = pts
	t.VFR = isVFR(t, rate)
	return t, nil
}

// isVFR reports whether t's timestamps, strictly increasing, leave the
// constant-rate grid of rate by more than the tolerance.
func isVFR(t *Timing, rate Rational) bool {
	for i := 1; i < len(t.PTS); i++ {
		if t.PTS[i] <= t.PTS[i-1] {
			return false // duplicate timestamps: not keepable as they are
		}
	}
	if !rate.Valid() {
		return len(t.PTS) > 2
	}
	tol := max(VFRTolerance, 0.5*float64(t.TimeBase.Num)/float64(t.TimeBase.Den)+1e-9)
	t0 := t.Seconds(0)
	for i := 1; i < len(t.PTS); i++ {
		want := float64(i) * float64(rate.Den) / float64(rate.Num)
		if math.Abs(t.Seconds(i)-t0-want) > tol {
			return true
		}
	}
	return false
}

// micros returns PTS[i] in whole microseconds (rounded).
func (t *Timing) micros(i int) int64 {
	return int64(math.Round(float64(t.PTS[i]) * 1e6 * float64(t.TimeBase.Num) / float64(t.TimeBase.Den)))
}

// check reports why t cannot time a variable-rate output, or nil.
func (t *Timing) check() error {
	if !t.TimeBase.Valid() {
		return fmt.Errorf("time base %s", t.TimeBase)
	}
	if len(t.PTS) == 0 {
		return errors.New("no timestamps")
	}
	for i := 1; i < len(t.PTS); i++ {
		if t.micros(i) <= t.micros(i-1) {
			return fmt.Errorf("timestamps of frames %d and %d are not increasing (%d, %d in %s units)", i, i+1, t.PTS[i-1], t.PTS[i], t.TimeBase)
		}
	}
	return nil
}

// encTimeBase returns the encoder time base for t's timestamps: the
// stream's own, so that the microsecond timestamps of the Matroska pipe
// round back to its exact ticks, or 1/1000000 when the stream's is finer.
func (t *Timing) encTimeBase() Rational {
	if float64(t.TimeBase.Num)/float64(t.TimeBase.Den) < 1e-6 {
		return Rational{1, 1000000}
	}
	return t.TimeBase
}

// verifyTiming checks that the video stream of a finished output shows its
// frames at the times of want, to VFRTolerance, counted from the first
// frame (a muxer may shift the whole file, audio too, to start at 0).
func verifyTiming(ctx context.Context, path string, want *Timing) error {
	info, err := Probe(ctx, path)
	if err != nil {
		return err
	}
	got, err := ProbeTiming(ctx, info)
	if err != nil {
		return err
	}
	if len(got.PTS) != len(want.PTS) {
		return fmt.Errorf("%w: the finished file has %d timestamped frames, %d were written", ErrTruncated, len(got.PTS), len(want.PTS))
	}
	g0, w0 := got.Seconds(0), want.Seconds(0)
	for i := range got.PTS {
		if d := (got.Seconds(i) - g0) - (want.Seconds(i) - w0); math.Abs(d) > VFRTolerance+1e-6 {
			return fmt.Errorf("%w: frame %d of the finished file is at %.6f s, the input's at %.6f s (from the first frame)",
				ErrInvalidData, i+1, got.Seconds(i)-g0, want.Seconds(i)-w0)
		}
	}
	return nil
}
