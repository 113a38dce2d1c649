package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pssr/pssr/checkpoint"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/video"
)

// vfrTimes is the setpts expression of the VFR clips: 25 fps with a 0.12 s
// pause after every 4th frame (on the 1/25 s grid, so every container
// stores it exactly).
const vfrTimes = "setpts='(N*0.04+floor(N/4)*0.12)/TB'"

// makeVFRClip writes a 64x48 clip of n frames timed by vfrTimes, with a
// sine audio track, into dir; codecs are the ffmpeg codec options.
func makeVFRClip(t *testing.T, dir, name string, n int, codecs ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	args := []string{"-f", "lavfi", "-i", "testsrc2=s=64x48:r=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:d=2",
		"-map", "0:v", "-map", "1:a", "-vf", "trim=end_frame=" + strconv.Itoa(n) + "," + vfrTimes, "-fps_mode", "vfr", "-t", "2"}
	ffmpeg(t, append(append(args, codecs...), path)...)
	return path
}

// ffprobeTimes returns the sorted presentation times (seconds) of the
// decoded frames of path's first video stream (entries "frame"), or its
// first audio stream's start time (entries "audio").
func ffprobeTimes(t *testing.T, path string) (video []float64, audioStart float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	for _, l := range strings.Fields(string(out)) {
		f, err := strconv.ParseFloat(strings.Trim(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe %s: frame time %q: %v", path, l, err)
		}
		video = append(video, f)
	}
	slices.Sort(video)
	out, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=start_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	audioStart, err = strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: audio start %q: %v", path, out, err)
	}
	return video, audioStart
}

// sameTimes fails unless out shows as many frames as in, each at the same
// time (1 ms) from the start of the file and from the start of the audio.
func sameTimes(t *testing.T, in, out string) {
	t.Helper()
	want, wa := ffprobeTimes(t, in)
	got, ga := ffprobeTimes(t, out)
	if len(got) != len(want) {
		t.Fatalf("%s shows %d frames, the input %d", out, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 0.001 {
			t.Errorf("frame %d at %.6f s, the input's at %.6f s", i, got[i], want[i])
		}
		if math.Abs((got[i]-ga)-(want[i]-wa)) > 0.001 {
			t.Errorf("frame %d at %.6f s after the audio's start, the input's at %.6f s", i, got[i]-ga, want[i]-wa)
		}
	}
}

// timingOf probes path's timing.
func timingOf(t *testing.T, path string) (*video.Info, *video.Timing) {
	t.Helper()
	info, err := video.Probe(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := video.ProbeTiming(t.Context(), info)
	if err != nil {
		t.Fatal(err)
	}
	return info, tm
}

// TestUpscaleVFR upscales variable-rate clips into mp4 and mkv: the output
// keeps every frame at the input's time, with the audio, while a
// constant-rate input still gives a constant-rate output at its exact
// rate, and a PNG output warns that the timing is lost.
func TestUpscaleVFR(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	modelPath := fixtureModel(t, dir)
	mp4 := makeVFRClip(t, dir, "vfr.mp4", 12, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	mkv := makeVFRClip(t, dir, "vfr.mkv", 12, "-c:v", "ffv1", "-pix_fmt", "bgr0", "-c:a", "flac")
	cfr := filepath.Join(dir, "cfr.mkv")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=64x48:r=30000/1001", "-f", "lavfi", "-i", "sine=d=1", "-map", "0:v", "-map", "1:a",
		"-frames:v", "12", "-c:v", "ffv1", "-pix_fmt", "bgr0", "-c:a", "flac", cfr)
	for _, tc := range []struct {
		name, in, out string
		args          []string
		vfr           bool
	}{
		{"mp4 to h264 mp4", mp4, "x2.mp4", nil, true},
		{"mkv to ffv1 mkv", mkv, "x2.mkv", []string{"--codec", "ffv1"}, true},
		{"mkv to h265 mkv", mkv, "x2-h265.mkv", []string{"--codec", "h265"}, true},
		{"cfr mkv to ffv1 mkv", cfr, "cfr-x2.mkv", []string{"--codec", "ffv1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inInfo, inTiming := timingOf(t, tc.in)
			if inTiming.VFR != tc.vfr {
				t.Fatalf("input VFR %v, want %v", inTiming.VFR, tc.vfr)
			}
			out := filepath.Join(t.TempDir(), tc.out)
			code, _, stderr := cli(t, append([]string{"upscale", tc.in, out, "--model", modelPath, "--scale", "2", "--log-level", "info"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if said := strings.Contains(stderr, "variable frame rate"); said != tc.vfr {
				t.Errorf("the log tells a variable frame rate: %v, want %v: %s", said, tc.vfr, stderr)
			}
			info, tm := timingOf(t, out)
			if info.Frames != inInfo.Frames || len(tm.PTS) != len(inTiming.PTS) {
				t.Errorf("output %d frames (%d timestamps), input %d (%d)", info.Frames, len(tm.PTS), inInfo.Frames, len(inTiming.PTS))
			}
			if !info.HasAudio {
				t.Error("the output lost the audio")
			}
			sameTimes(t, tc.in, out)
			if !tc.vfr {
				if tm.VFR || info.FrameRate != inInfo.FrameRate {
					t.Errorf("a constant-rate input gave VFR %v at %s, want constant %s", tm.VFR, info.FrameRate, inInfo.FrameRate)
				}
			}
			_, lq := readAll(t, tc.in)
			_, sr := readAll(t, out)
			if len(sr) != len(lq) {
				t.Fatalf("the output decodes to %d frames, the input %d", len(sr), len(lq))
			}
			if tc.args != nil && tc.args[1] == "ffv1" {
				if d := fixture.MaxDiff(t, bicubic(lq, 2), sr); d > 1.0/255+1e-6 {
					t.Errorf("frames differ from the bicubic upsampling by %v: out of order or duplicated", d)
				}
			}
		})
	}
	t.Run("info", func(t *testing.T) {
		for _, in := range []struct {
			path string
			vfr  bool
		}{{mkv, true}, {cfr, false}} {
			code, out, stderr := cli(t, "info", in.path)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if said := strings.Contains(out, "frame rate:  variable"); said != in.vfr {
				t.Errorf("%s: info says variable %v, want %v:\n%s", in.path, said, in.vfr, out)
			}
			code, out, _ = cli(t, "info", "--json", in.path)
			var j struct {
				VFR *bool `json:"variable_frame_rate"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j.VFR == nil || *j.VFR != in.vfr {
				t.Errorf("%s: info --json: exit %d, variable_frame_rate %v, want %v:\n%s", in.path, code, j.VFR, in.vfr, out)
			}
		}
	})
	// The other commands that write a video from one keep its timing too.
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"degrade", []string{"degrade", mkv, "OUT", "--preset", "bicubic", "--scale", "2", "--codec", "ffv1"}},
		{"fuse", []string{"fuse", mkv, mkv, "OUT", "--codec", "ffv1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.mkv")
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "OUT" {
					args[i] = out
				}
			}
			if code, _, stderr := cli(t, args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if _, tm := timingOf(t, out); !tm.VFR {
				t.Error("the output has a constant rate")
			}
			sameTimes(t, mkv, out)
		})
	}
	t.Run("png", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "frames")
		code, _, stderr := cli(t, "upscale", mkv, out, "--model", modelPath, "--scale", "2")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "PNG frames carry no timestamps") {
			t.Errorf("no warning that PNG frames lose the timing: %s", stderr)
		}
		if n := len(listDir(t, out)); n != 12 {
			t.Errorf("%d PNG frames, want 12", n)
		}
	})
}

// TestUpscaleResumeKeeps interrupts and resumes upscales whose checkpoint
// must keep more than 8-bit frames or the input's timing: a 10-bit input
// into 16-bit FFV1 and into 16-bit PNG frames (the resumed output is
// bit-exact with an uninterrupted run's at 16 bits), and a variable-rate
// input (bit-exact, and the resumed output keeps its timestamps too).
func TestUpscaleResumeKeeps(t *testing.T) {
	needFFmpeg(t)
	modelPath, _ := active(t)
	dir := t.TempDir()
	deep := filepath.Join(dir, "in10.mkv")
	// A smooth gradient: 10-bit levels between the 8-bit ones.
	ffmpeg(t, "-f", "lavfi", "-i", "gradients=s=52x30:speed=0.02:r=25", "-frames:v", "8", "-c:v", "ffv1", "-pix_fmt", "gbrp10le", deep)
	vfr := makeVFRClip(t, dir, "vfr.mkv", 8, "-c:v", "ffv1", "-pix_fmt", "bgr0", "-c:a", "flac")
	for _, tc := range []struct {
		name, in string
		codec    string
		pixFmt   string // of the output and the segments
		segFmt   string
	}{
		{"10-bit", deep, "ffv1", "gbrp16le", "gbrp16le"},
		// 16-bit PNG frames (a folder reads as rgb24, at 16 bits).
		{"10-bit png", deep, "png", "rgb24", "gbrp16le"},
		{"vfr", vfr, "ffv1", "bgr0", "bgr0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(resumeArgs(modelPath), "--codec", tc.codec)
			out := t.TempDir()
			ext := ".mkv"
			if tc.codec == "png" {
				ext = ""
			}
			ref := filepath.Join(out, "ref"+ext)
			if code, _, stderr := cli(t, append([]string{"upscale", tc.in, ref}, args...)...); code != 0 {
				t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
			}
			got := filepath.Join(out, "got"+ext)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			var o, e bytes.Buffer
			go func() {
				defer close(done)
				runContext(ctx, append([]string{"upscale", tc.in, got}, args...), &o, &e)
			}()
			waitWindows(t, got, 2, done)
			cancel()
			<-done
			if _, err := os.Stat(got); err == nil {
				t.Fatal("the interrupted run wrote OUT")
			}
			segs, _ := filepath.Glob(filepath.Join(checkpoint.DirFor(got), "seg-*.mkv"))
			if len(segs) == 0 {
				t.Fatal("the interrupted run left no segment")
			}
			si, err := video.Probe(t.Context(), segs[0])
			if err != nil {
				t.Fatal(err)
			}
			if si.PixFmt != tc.segFmt {
				t.Errorf("segment pix_fmt %s, want %s", si.PixFmt, tc.segFmt)
			}
			code, _, stderr := cli(t, append([]string{"upscale", tc.in, got, "--resume", "--log-level", "info"}, args...)...)
			if code != 0 {
				t.Fatalf("--resume: exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "resuming") {
				t.Errorf("--resume did not resume: %s", stderr)
			}
			ri, want := readAll(t, ref)
			gi, have := readAll(t, got)
			if ri.PixFmt != tc.pixFmt || gi.PixFmt != tc.pixFmt {
				t.Errorf("pix_fmt %s and %s, want %s", ri.PixFmt, gi.PixFmt, tc.pixFmt)
			}
			if wantBits := map[string]int{"bgr0": 8}[tc.pixFmt]; wantBits == 0 && (ri.BitDepth != 16 || gi.BitDepth != 16) {
				t.Errorf("outputs of %d and %d bits, want 16", ri.BitDepth, gi.BitDepth)
			}
			if len(have) != len(want) || len(have) != 8 {
				t.Fatalf("resumed %d frames, uninterrupted %d, want 8", len(have), len(want))
			}
			for i := range have {
				if !slices.Equal(have[i].Pix, want[i].Pix) {
					t.Fatalf("frame %d of the resumed run differs from the uninterrupted run's", i)
				}
			}
			if tc.name == "vfr" {
				sameTimes(t, tc.in, got)
			}
		})
	}
}
