package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/video"
)

// The tests run the CLI in-process on tiny clips (64x48, 6 frames) made with
// ffmpeg's lavfi sources. They are not parallel: one of them changes PATH.

// cli runs pssr with args and returns the exit code and both outputs.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// cliFails runs pssr with args and fails the test unless it exits non-zero
// with a message holding each of want.
func cliFails(t *testing.T, args []string, want []string) {
	t.Helper()
	code, _, stderr := cli(t, args...)
	if code == 0 {
		t.Fatalf("exit 0, want an error")
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("message lacks %q: %s", w, stderr)
		}
	}
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	if err := video.CheckTools(); err != nil {
		t.Skip(err)
	}
}

// ffmpeg runs ffmpeg with args (quiet, overwriting) and fails the test on an
// error.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// fixtures holds the paths of the test inputs.
type fixtures struct {
	dir     string // the inputs' folder
	clip    string // 64x48, 6 frames at 30000/1001, lossless RGB, with audio
	short   string // as clip, 3 frames
	small   string // 32x24, 6 frames
	audio   string // audio only
	corrupt string // random bytes named .mp4
	broken  string // folder of 5 PNG frames, the 4th not a PNG
}

func makeFixtures(t *testing.T) fixtures {
	t.Helper()
	needFFmpeg(t)
	dir := t.TempDir()
	f := fixtures{
		dir:     dir,
		clip:    filepath.Join(dir, "clip.mkv"),
		short:   filepath.Join(dir, "short.mkv"),
		small:   filepath.Join(dir, "small.mkv"),
		audio:   filepath.Join(dir, "audio.m4a"),
		corrupt: filepath.Join(dir, "corrupt.mp4"),
		broken:  filepath.Join(dir, "broken"),
	}
	// src is a test pattern input of the given size; frames goes with the
	// output options.
	src := func(size string) []string {
		return []string{"-f", "lavfi", "-i", "testsrc2=s=" + size + ":r=30000/1001"}
	}
	frames := func(n int) []string { return []string{"-frames:v", strconv.Itoa(n)} }
	ffv1 := []string{"-c:v", "ffv1", "-pix_fmt", "bgr0"}
	ffmpeg(t, slices.Concat(src("64x48"), []string{"-f", "lavfi", "-i", "sine=d=0.5", "-map", "0:v", "-map", "1:a", "-c:a", "flac"},
		ffv1, frames(6), []string{f.clip})...)
	ffmpeg(t, slices.Concat(src("64x48"), ffv1, frames(3), []string{f.short})...)
	ffmpeg(t, slices.Concat(src("32x24"), ffv1, frames(6), []string{f.small})...)
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=0.2", f.audio)
	junk := make([]byte, 4096) // random bytes, seeded
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(f.corrupt, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.broken, 0o755); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, slices.Concat(src("64x48"), frames(5), []string{filepath.Join(f.broken, "%03d.png")})...)
	if err := os.WriteFile(filepath.Join(f.broken, "004.png"), junk[:300], 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// readAll decodes every frame of path.
func readAll(t *testing.T, path string) (*video.Info, []*frame.Image) {
	t.Helper()
	r, err := video.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var fs []*frame.Image
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Info(), fs
		}
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestInfo(t *testing.T) {
	f := makeFixtures(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"text", []string{"info", f.clip}, []string{"64x48", "30000/1001 (29.97 fps)", "frames:", " 6\n", "ffv1", "bgr0", "1 (flac)", "subtitles:", "none"}},
		{"folder", []string{"info", f.broken}, []string{"frame folder", "64x48", "25/1", " 5\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		code, out, errOut := cli(t, "info", "--json", f.clip)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var j infoJSON
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if j.Width != 64 || j.Height != 48 || j.Frames != 6 || j.FrameRateNum != 30000 || j.FrameRateDen != 1001 ||
			math.Abs(j.FPS-29.97003) > 1e-4 || j.Codec != "ffv1" || !slices.Equal(j.AudioCodecs, []string{"flac"}) {
			t.Errorf("got %+v", j)
		}
	})
}

func TestFuseSelf(t *testing.T) {
	f := makeFixtures(t)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "fused.mkv")
	code, stdout, stderr := cli(t, "fuse", f.clip, f.clip, out, "--codec", "ffv1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "fuse") || !strings.Contains(stderr, "6 frames") || stdout != "" {
		t.Errorf("progress: stdout %q, stderr %q", stdout, stderr)
	}
	inInfo, in := readAll(t, f.clip)
	outInfo, got := readAll(t, out)
	if d := fixture.MaxDiff(t, in, got); d > 1.0/255+1e-6 {
		t.Errorf("fusing a clip with itself changed it by %v (> 1/255)", d)
	}
	if outInfo.FrameRate != inInfo.FrameRate || outInfo.Codec != "ffv1" || !outInfo.HasAudio {
		t.Errorf("output %+v, input %+v", outInfo, inInfo)
	}

	// --quiet silences the progress bar; --overwrite replaces OUT.
	code, _, stderr = cli(t, "fuse", "-q", "--overwrite", "--alpha", "0.5", f.clip, f.clip, out)
	if code != 0 || stderr != "" {
		t.Errorf("quiet overwrite: exit %d, stderr %q", code, stderr)
	}
	if names := listDir(t, outDir); !slices.Equal(names, []string{"fused.mkv"}) {
		t.Errorf("output folder holds %v", names)
	}
}

func TestDegrade(t *testing.T) {
	f := makeFixtures(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "bicubic.mkv")
	if code, _, stderr := cli(t, "degrade", f.clip, out, "--preset", "bicubic", "--codec", "ffv1", "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	info, frames := readAll(t, out)
	if info.Width != 16 || info.Height != 12 || len(frames) != 6 || info.Frames != 6 ||
		info.FrameRate != (video.Rational{Num: 30000, Den: 1001}) {
		t.Errorf("bicubic x4: got %dx%d, %d frames (%d announced) at %s; want 16x12, 6 frames at 30000/1001",
			info.Width, info.Height, len(frames), info.Frames, info.FrameRate)
	}

	// The same seed gives identical frames; realbasicvsr is streamed in
	// several chunks here.
	tests := []struct {
		name string
		args []string
	}{
		{"realesrgan", []string{"--preset", "realesrgan", "--seed", "7"}},
		{"realbasicvsr", []string{"--preset", "realbasicvsr", "--seed", "7", "--scale", "2", "--chunk", "4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs [][]*frame.Image
			for i, seed := range []string{"7", "7", "8"} {
				out := filepath.Join(t.TempDir(), "lq.mkv")
				args := append([]string{"degrade", f.clip, out, "--codec", "ffv1", "-q"}, tc.args...)
				args = append(args, "--seed", seed)
				if code, _, stderr := cli(t, args...); code != 0 {
					t.Fatalf("run %d: exit %d: %s", i, code, stderr)
				}
				_, fr := readAll(t, out)
				runs = append(runs, fr)
			}
			if d := fixture.MaxDiff(t, runs[0], runs[1]); d != 0 {
				t.Errorf("same seed: outputs differ by %v", d)
			}
			if d := fixture.MaxDiff(t, runs[0], runs[2]); d == 0 {
				t.Errorf("seeds 7 and 8 gave identical outputs")
			}
		})
	}
}

func TestEvalSelf(t *testing.T) {
	f := makeFixtures(t)
	dir := t.TempDir()
	js, cs := filepath.Join(dir, "summary.json"), filepath.Join(dir, "frames.csv")
	code, out, stderr := cli(t, "eval", "--gt", f.clip, "--pred", f.clip, "--json", js, "--csv", cs, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"PSNR", "100.000", "SSIM", "MS-SSIM", "GMSD", "LPIPS", "0.0000", "NIQE", "warp error",
		"temporal diff", "HF ratio", "6 frames", "NIQE needs frames of at least 96x96"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep evalReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.PSNR != 100 || rep.SSIM != 1 || rep.Frames != 6 || rep.CappedPSNR != 6 || rep.Space != "Y" || rep.Crop != 4 {
		t.Errorf("summary %+v", rep.Summary)
	}
	// LPIPS of identical frames is 0; the 56x40 cropped frames are too small
	// for NIQE.
	if rep.LPIPSFrames != 6 || rep.LPIPS != 0 || rep.NIQEFrames != 0 {
		t.Errorf("perceptual summary: LPIPS %g over %d frames, NIQE over %d", rep.LPIPS, rep.LPIPSFrames, rep.NIQEFrames)
	}
	cf, err := os.Open(cs)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rows, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[0][0] != "frame" || rows[1][1] != "100" {
		t.Errorf("csv rows %v", rows)
	}
	if i := slices.Index(rows[0], "lpips"); i < 0 || rows[1][i] != "0" || !slices.Contains(rows[0], "niqe") {
		t.Errorf("csv header %v, first row %v: want an lpips column of 0 and a niqe column", rows[0], rows[1])
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"frames.csv", "summary.json"}) {
		t.Errorf("report folder holds %v", names)
	}

	// Without LPIPS the row says n/a and the JSON counts no frame.
	code, out, stderr = cli(t, "eval", "--gt", f.clip, "--pred", f.clip, "--no-lpips", "--no-niqe", "-q")
	if code != 0 || !strings.Contains(out, "LPIPS") || !strings.Contains(out, "n/a") {
		t.Errorf("--no-lpips: exit %d: %s%s", code, out, stderr)
	}

	// RGB and no crop.
	code, out, stderr = cli(t, "eval", "--gt", f.clip, "--pred", f.clip, "--rgb", "--crop", "0", "-q")
	if code != 0 || !strings.Contains(out, "RGB, crop 0") {
		t.Errorf("--rgb: exit %d: %s%s", code, out, stderr)
	}
}

func TestErrors(t *testing.T) {
	f := makeFixtures(t)
	missing := filepath.Join(f.dir, "missing.mp4")
	link := filepath.Join(f.dir, "link.mkv")
	if err := os.Link(f.clip, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string // OUT, where there is one, is written as "OUT"
		want []string
	}{
		{"info missing", []string{"info", missing}, []string{"missing.mp4", "no such file"}},
		{"info corrupt", []string{"info", f.corrupt}, []string{"corrupt.mp4", "not a readable video"}},
		{"info audio only", []string{"info", f.audio}, []string{"audio.m4a", "no video"}},
		{"info no args", []string{"info"}, []string{"accepts 1 arg"}},

		{"fuse missing", []string{"fuse", missing, f.clip, "OUT"}, []string{"CONSISTENT", "no such file"}},
		{"fuse corrupt", []string{"fuse", f.clip, f.corrupt, "OUT"}, []string{"SHARP", "not a readable video"}},
		{"fuse audio only", []string{"fuse", f.audio, f.clip, "OUT"}, []string{"CONSISTENT", "no video"}},
		{"fuse size mismatch", []string{"fuse", f.clip, f.small, "OUT"}, []string{"sizes differ", "64x48", "32x24"}},
		{"fuse count mismatch", []string{"fuse", f.clip, f.short, "OUT"}, []string{"counts differ", "6 frames", "has 3"}},
		{"fuse out is input", []string{"fuse", f.clip, f.small, f.small}, []string{"overwrite an input"}},
		{"fuse out is a link to input", []string{"fuse", f.clip, f.clip, link, "--overwrite"}, []string{"overwrite an input"}},
		{"fuse out exists", []string{"fuse", f.clip, f.clip, f.short}, []string{"already exists", "--overwrite"}},
		{"fuse crf", []string{"fuse", f.clip, f.clip, "OUT", "--crf", "99"}, []string{"--crf 99", "out of range"}},
		{"fuse alpha", []string{"fuse", f.clip, f.clip, "OUT", "--alpha", "-1"}, []string{"--alpha", "alpha must be in [0, 2]"}},
		{"fuse order", []string{"fuse", f.clip, f.clip, "OUT", "--order", "9"}, []string{"--order"}},
		{"fuse codec", []string{"fuse", f.clip, f.clip, "OUT", "--codec", "av1"}, []string{"--codec", "av1"}},
		{"fuse codec container", []string{"fuse", f.clip, f.clip, "OUT.mp4", "--codec", "ffv1"}, []string{"cannot hold ffv1", "--codec"}},
		{"fuse bad frame", []string{"fuse", f.broken, f.broken, "OUT"}, []string{"CONSISTENT, frame 4", "004.png"}},

		{"degrade missing", []string{"degrade", missing, "OUT", "--preset", "bicubic"}, []string{"missing.mp4", "no such file"}},
		{"degrade corrupt", []string{"degrade", f.corrupt, "OUT", "--preset", "bicubic"}, []string{"not a readable video"}},
		{"degrade audio only", []string{"degrade", f.audio, "OUT", "--preset", "bicubic"}, []string{"no video"}},
		{"degrade out is input", []string{"degrade", f.clip, f.clip, "--preset", "bicubic", "--overwrite"}, []string{"overwrite an input"}},
		{"degrade scale", []string{"degrade", f.clip, "OUT", "--preset", "bicubic", "--scale", "3"}, []string{"--scale 3"}},
		{"degrade preset", []string{"degrade", f.clip, "OUT", "--preset", "sharpen"}, []string{"--preset", "sharpen", "realesrgan"}},
		{"degrade no preset", []string{"degrade", f.clip, "OUT"}, []string{"preset", "not set"}},
		{"degrade crf", []string{"degrade", f.clip, "OUT", "--preset", "bicubic", "--crf", "-1"}, []string{"--crf -1"}},
		// The 4th frame fails after the first chunk was written: nothing
		// may be left at OUT.
		{"degrade bad frame", []string{"degrade", f.broken, "OUT", "--preset", "bicubic", "--chunk", "2"}, []string{"IN, frame 4", "004.png"}},

		{"eval missing", []string{"eval", "--gt", f.clip, "--pred", missing}, []string{"--pred", "no such file"}},
		{"eval corrupt", []string{"eval", "--gt", f.corrupt, "--pred", f.clip}, []string{"--gt", "not a readable video"}},
		{"eval audio only", []string{"eval", "--gt", f.clip, "--pred", f.audio}, []string{"--pred", "no video"}},
		{"eval size mismatch", []string{"eval", "--gt", f.clip, "--pred", f.small}, []string{"sizes differ", "64x48", "32x24"}},
		{"eval count mismatch", []string{"eval", "--gt", f.short, "--pred", f.clip}, []string{"counts differ", "3 frames", "has 6"}},
		{"eval json is input", []string{"eval", "--gt", f.clip, "--pred", f.clip, "--json", f.clip}, []string{"--json", "overwrite an input"}},
		{"eval crop", []string{"eval", "--gt", f.clip, "--pred", f.clip, "--crop", "20"}, []string{"--crop 20", "11x11"}},
		{"eval y and rgb", []string{"eval", "--gt", f.clip, "--pred", f.clip, "--y", "--rgb"}, []string{"y", "rgb"}},
		{"eval no gt", []string{"eval", "--pred", f.clip}, []string{"gt", "not set"}},
	}
	before := listDir(t, f.dir)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			args := slices.Clone(tc.args)
			for i, a := range args {
				if strings.HasPrefix(a, "OUT") {
					args[i] = filepath.Join(outDir, "out"+strings.TrimPrefix(a, "OUT"))
					if filepath.Ext(args[i]) == "" {
						args[i] += ".mkv"
					}
				}
			}
			cliFails(t, append(args, "-q"), tc.want)
			if names := listDir(t, outDir); len(names) != 0 {
				t.Errorf("output folder holds %v after the failure", names)
			}
			if names := listDir(t, f.dir); !slices.Equal(names, before) {
				t.Errorf("input folder changed: %v, was %v", names, before)
			}
		})
	}
}

func TestFFmpegMissing(t *testing.T) {
	f := makeFixtures(t)
	t.Setenv("PATH", t.TempDir())
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out.mkv")
	tests := [][]string{
		{"info", f.clip},
		{"fuse", f.clip, f.clip, out},
		{"degrade", f.clip, out, "--preset", "bicubic"},
		{"eval", "--gt", f.clip, "--pred", f.clip},
	}
	for _, args := range tests {
		t.Run(args[0], func(t *testing.T) {
			code, _, stderr := cli(t, args...)
			if code == 0 || !strings.Contains(stderr, "ffmpeg") {
				t.Errorf("exit %d, stderr %q; want an error mentioning ffmpeg", code, stderr)
			}
		})
	}
	if names := listDir(t, outDir); len(names) != 0 {
		t.Errorf("output folder holds %v", names)
	}
}
