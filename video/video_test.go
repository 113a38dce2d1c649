package video

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pssr/pssr/frame"
)

var ntsc = Rational{30000, 1001}

// needTools skips the test when ffmpeg is not installed.
func needTools(t *testing.T) {
	t.Helper()
	if err := CheckTools(); err != nil {
		t.Skip(err)
	}
}

// ffmpeg runs the ffmpeg command line, failing the test on error.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// makeClip writes a 64x48 test clip of n frames at 30000/1001 with a sine
// audio track (AAC) into dir and returns its path.
func makeClip(t *testing.T, dir, name string, n int, extra ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30000/1001",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-frames:v", itoa(n), "-t", "0.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-c:a", "aac"}
	args = append(args, extra...)
	ffmpeg(t, append(args, path)...)
	return path
}

func itoa(n int) string { return strconv.Itoa(n) }

// readAll decodes every frame of path.
func readAll(t *testing.T, path string) (*Info, []*frame.Image) {
	t.Helper()
	r, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var frames []*frame.Image
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(frames), err)
		}
		frames = append(frames, m)
	}
	return r.Info(), frames
}

// writeAll encodes frames to path.
func writeAll(t *testing.T, path string, opt WriterOptions, frames []*frame.Image) {
	t.Helper()
	w, err := Create(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range frames {
		if err := w.Write(m); err != nil {
			t.Fatalf("write frame %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// sameRGB24 reports the first frame that differs in its 8-bit bytes, or -1.
func sameRGB24(a, b []*frame.Image) int {
	for i := range a {
		if i >= len(b) || !bytes.Equal(a[i].ToRGB24(nil), b[i].ToRGB24(nil)) {
			return i
		}
	}
	if len(a) != len(b) {
		return len(a)
	}
	return -1
}

// meanAbsDiff is the mean absolute difference of two frames in 8-bit units.
func meanAbsDiff(a, b *frame.Image) float64 {
	var s float64
	for i := range a.Pix {
		d := float64(a.Pix[i] - b.Pix[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return s / float64(len(a.Pix)) * 255
}

// entries lists dir's names (hidden ones included).
func entries(t *testing.T, dir string) []string {
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

func TestProbe(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 12)
	info, err := Probe(context.Background(), clip)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 64 || info.Height != 48 || info.FrameRate != ntsc || info.Frames != 12 ||
		info.Codec != "h264" || info.PixFmt != "yuv420p" || info.Rotation != 0 || info.Folder ||
		!info.HasAudio || !slices.Equal(info.AudioCodecs, []string{"aac"}) || info.HasSubtitles {
		t.Fatalf("info = %+v", info)
	}
	if info.Duration < 0.39 || info.Duration > 0.6 {
		t.Errorf("duration %v", info.Duration)
	}
	// A name ffmpeg could take for a protocol or an option.
	odd := filepath.Join(dir, "-x:y.mp4")
	if err := os.Link(clip, odd); err != nil {
		t.Fatal(err)
	}
	if info, frames := readAll(t, odd); info.Frames != 12 || len(frames) != 12 {
		t.Fatalf("%s: %d frames, info %+v", odd, len(frames), info)
	}
	// Matroska has no frame count in its header: packets are counted.
	mkv := filepath.Join(dir, "in.mkv")
	ffmpeg(t, "-i", clip, "-c", "copy", mkv)
	if info, err = Probe(context.Background(), mkv); err != nil {
		t.Fatal(err)
	}
	if info.Frames != 12 || info.FrameRate != ntsc {
		t.Fatalf("mkv info = %+v", info)
	}
}

// TestLosslessRoundTrip reads a clip, writes it as FFV1 with the clip's
// audio, and reads it back bit-exact.
func TestLosslessRoundTrip(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 12)
	in, frames := readAll(t, clip)
	if len(frames) != 12 {
		t.Fatalf("read %d frames, want 12", len(frames))
	}
	out := filepath.Join(dir, "out.mkv")
	writeAll(t, out, WriterOptions{Codec: FFV1, FrameRate: in.FrameRate, StreamsFrom: clip}, frames)
	info, back := readAll(t, out)
	if i := sameRGB24(frames, back); i >= 0 {
		t.Fatalf("frame %d differs after the round trip (%d vs %d frames)", i, len(frames), len(back))
	}
	if info.Frames != 12 || info.FrameRate != ntsc || info.Codec != "ffv1" ||
		!info.HasAudio || !slices.Equal(info.AudioCodecs, []string{"aac"}) {
		t.Fatalf("output info = %+v", info)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"in.mp4", "out.mkv"}) {
		t.Errorf("folder holds %v", got)
	}
}

// TestCodecs encodes with each lossy codec and checks size, count, rate,
// pixel format, quality and which source streams were kept.
func TestCodecs(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 12)
	_, frames := readAll(t, clip)
	odd := make([]*frame.Image, len(frames))
	for i, m := range frames {
		odd[i] = m.Crop(image.Rect(0, 0, 63, 47))
	}
	for _, tc := range []struct {
		name, file string
		codec      Codec
		frames     []*frame.Image
		pixFmt     string
		audio      bool
		warn       string
	}{
		{"h264 even", "a.mp4", "", frames, "yuv420p", true, ""},
		{"h264 odd size", "b.mov", H264, odd, "yuv444p", true, ""},
		{"h265", "c.mkv", H265, frames, "yuv420p", true, ""},
		{"vp9 webm skips aac", "d.webm", "", frames, "yuv420p", false, "audio stream skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			out := filepath.Join(dir, tc.file)
			writeAll(t, out, WriterOptions{Codec: tc.codec, FrameRate: ntsc, StreamsFrom: clip,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}, tc.frames)
			info, back := readAll(t, out)
			if info.Frames != len(tc.frames) || len(back) != len(tc.frames) || info.FrameRate != ntsc ||
				info.Width != tc.frames[0].W || info.Height != tc.frames[0].H || info.PixFmt != tc.pixFmt || info.HasAudio != tc.audio {
				t.Fatalf("read %d frames, info = %+v", len(back), info)
			}
			for i := range back {
				if d := meanAbsDiff(tc.frames[i], back[i]); d > 6 {
					t.Errorf("frame %d: mean error %.2f/255", i, d)
				}
			}
			if !strings.Contains(logs.String(), tc.warn) {
				t.Errorf("log %q lacks %q", logs.String(), tc.warn)
			}
		})
	}
}

func TestFolderRoundTrip(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 12)
	_, frames := readAll(t, clip)
	out := filepath.Join(dir, "frames")
	if CodecForPath(out) != PNG {
		t.Fatalf("CodecForPath(%q) = %q", out, CodecForPath(out))
	}
	writeAll(t, out, WriterOptions{StreamsFrom: clip}, frames)
	names := entries(t, out)
	if len(names) != 12 || names[0] != "000001.png" || names[11] != "000012.png" {
		t.Fatalf("folder holds %v", names)
	}
	// Stray files are ignored; a hidden temporary is not a frame.
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(out, ".000013.png.tmp1"), []byte("x"), 0o644)
	info, back := readAll(t, out)
	if !info.Folder || info.Frames != 12 || info.FrameRate != (Rational{25, 1}) || info.Width != 64 || info.Height != 48 || info.Codec != "png" {
		t.Fatalf("info = %+v", info)
	}
	if i := sameRGB24(frames, back); i >= 0 {
		t.Fatalf("frame %d differs", i)
	}
	// A folder (renamed out of natural order) back to a lossless video.
	for i, n := range []string{"1", "2", "10"} {
		if err := frame.SavePNG(filepath.Join(dir, "seq", "f"+n+".png"), frames[i]); errors.Is(err, fs.ErrNotExist) {
			os.Mkdir(filepath.Join(dir, "seq"), 0o755)
			if err := frame.SavePNG(filepath.Join(dir, "seq", "f"+n+".png"), frames[i]); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	_, seq := readAll(t, filepath.Join(dir, "seq"))
	if i := sameRGB24(frames[:3], seq); i >= 0 {
		t.Fatalf("natural order: frame %d differs", i)
	}
	vid := filepath.Join(dir, "seq.mkv")
	writeAll(t, vid, WriterOptions{Codec: FFV1}, seq)
	info, back = readAll(t, vid)
	if i := sameRGB24(seq, back); i >= 0 || info.FrameRate != (Rational{25, 1}) || info.HasAudio {
		t.Fatalf("frame %d differs, info %+v", i, info)
	}
	// Overwrite replaces a frame folder; it refuses one with other files.
	writeAll(t, out+"2", WriterOptions{}, frames[:2])
	writeAll(t, out+"2", WriterOptions{Overwrite: true}, frames[:3])
	if n := len(entries(t, out+"2")); n != 3 {
		t.Fatalf("overwritten folder holds %d files", n)
	}
	if _, err := Create(context.Background(), out, WriterOptions{Overwrite: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite of a folder with notes.txt: %v", err)
	}
}

func TestRotation(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 6)
	major, _, err := toolVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, rot := range []int{90, 180, 270} {
		// An input carrying rotation metadata, made the way this ffmpeg
		// version stores it.
		in, outArgs := rotationArgs(major, ctMP4, rot)
		src := filepath.Join(dir, "rot"+itoa(rot)+".mp4")
		args := append(in, "-i", clip, "-c", "copy")
		ffmpeg(t, append(append(args, outArgs...), src)...)
		info, frames := readAll(t, src)
		if info.Rotation != rot {
			t.Fatalf("input rotation %d, want %d", info.Rotation, rot)
		}
		if frames[0].W != 64 || frames[0].H != 48 {
			t.Fatalf("frames were rotated: %dx%d", frames[0].W, frames[0].H)
		}
		for _, name := range []string{"out.mp4", "out.mkv"} {
			out := filepath.Join(dir, itoa(rot)+name)
			writeAll(t, out, WriterOptions{FrameRate: info.FrameRate, Rotation: info.Rotation}, frames)
			got, err := Probe(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rotation != rot || got.Width != 64 || got.Height != 48 {
				t.Errorf("%s: rotation %d size %dx%d, want %d 64x48", name, got.Rotation, got.Width, got.Height, rot)
			}
		}
	}
}

func TestInputErrors(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 12)
	data, _ := os.ReadFile(clip)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noise := make([]byte, 20000)
	for i := range noise {
		noise[i] = byte(rand.IntN(256))
	}
	audio := filepath.Join(dir, "audio.m4a")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=0.3", "-c:a", "aac", audio)
	// A file with its index up front, cut: probing works, decoding stops.
	long := filepath.Join(dir, "long.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "100", "-c:v", "libx264",
		"-preset", "ultrafast", "-g", "5", "-movflags", "+faststart", long)
	longData, _ := os.ReadFile(long)
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	badFolder := filepath.Join(dir, "bad")
	os.Mkdir(badFolder, 0o755)
	os.WriteFile(filepath.Join(badFolder, "1.png"), noise, 0o644)

	for _, tc := range []struct {
		name, path string
		want       error
		msg        string
		atNext     bool // Open succeeds, reading fails
	}{
		{"missing", filepath.Join(dir, "nope.mp4"), ErrNotFound, "nope.mp4", false},
		{"missing is fs.ErrNotExist", filepath.Join(dir, "nope.mp4"), fs.ErrNotExist, "no such", false},
		{"random bytes", write("noise.mp4", noise), ErrInvalidData, "noise.mp4", false},
		{"random bytes other ext", write("noise.bin", noise), ErrInvalidData, "noise.bin", false},
		{"empty file", write("empty.mp4", nil), ErrInvalidData, "empty.mp4", false},
		{"first half of an mp4", write("half.mp4", data[:len(data)/2]), ErrTruncated, "moov", false},
		{"cut faststart mp4", write("cut.mp4", longData[:len(longData)*6/10]), ErrTruncated, "of 100 frames", true},
		{"audio only", audio, ErrNoFrames, "no video stream", false},
		{"empty folder", filepath.Join(dir, "empty"), ErrNoFrames, "empty", false},
		{"unreadable frame in folder", badFolder, ErrInvalidData, "1.png", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(context.Background(), tc.path)
			if tc.atNext {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer r.Close()
				n := 0
				for err == nil {
					_, err = r.Next()
					n++
				}
				if n > 100 {
					t.Errorf("read %d frames", n)
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 3)
	orig, _ := os.ReadFile(clip)
	old := filepath.Join(dir, "old.mp4")
	os.WriteFile(old, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link.mp4")
	if err := os.Symlink(clip, link); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, _ := filepath.Rel(wd, clip)
	folderMP4 := filepath.Join(dir, "folder.mp4")
	if err := os.Mkdir(folderMP4, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		opt  WriterOptions
		want error
	}{
		{"output is the input", clip, WriterOptions{StreamsFrom: clip, Overwrite: true}, ErrSameFile},
		{"output is the input, other spelling", filepath.Join(dir, ".", "x", "..", "in.mp4"), WriterOptions{StreamsFrom: rel, Overwrite: true}, ErrSameFile},
		{"output links to the input", link, WriterOptions{StreamsFrom: clip, Overwrite: true}, ErrSameFile},
		{"existing output", old, WriterOptions{}, ErrExists},
		{"existing output is fs.ErrExist", old, WriterOptions{}, fs.ErrExist},
		{"h264 in webm", filepath.Join(dir, "x.webm"), WriterOptions{Codec: H264}, ErrUnsupported},
		{"ffv1 in mp4", filepath.Join(dir, "x.mp4"), WriterOptions{Codec: FFV1}, ErrUnsupported},
		{"unknown codec", filepath.Join(dir, "x.mp4"), WriterOptions{Codec: "av2"}, ErrUnsupported},
		{"missing streams source", filepath.Join(dir, "x.mp4"), WriterOptions{StreamsFrom: filepath.Join(dir, "gone.mp4")}, ErrNotFound},
		{"file over a folder", folderMP4, WriterOptions{Codec: H264, Overwrite: true}, ErrExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Create(context.Background(), tc.path, tc.opt)
			if !errors.Is(err, tc.want) {
				if w != nil {
					w.Abort()
				}
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if b, _ := os.ReadFile(clip); !bytes.Equal(b, orig) {
		t.Fatal("input changed")
	}
	if b, _ := os.ReadFile(old); string(b) != "keep" {
		t.Fatal("existing output changed")
	}
	// Overwrite replaces it.
	_, frames := readAll(t, clip)
	writeAll(t, old, WriterOptions{Overwrite: true}, frames)
	if info, err := Probe(context.Background(), old); err != nil || info.Frames != 3 {
		t.Fatalf("overwritten output: %v %+v", err, info)
	}
	// Close without frames, a wrong frame size, writes after Close.
	out := filepath.Join(dir, "none.mp4")
	w, err := Create(context.Background(), out, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrNoFrames) {
		t.Fatalf("Close without frames: %v", err)
	}
	w, err = Create(context.Background(), out, WriterOptions{Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(frame.New(32, 32)); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("wrong size: %v", err)
	}
	if err := w.Write(frames[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(frames[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"folder.mp4", "in.mp4", "link.mp4", "none.mp4", "old.mp4"}) {
		t.Errorf("folder holds %v", got)
	}
}

// TestAbortAndCancel checks that Abort and a cancelled context leave
// nothing behind, for files and folders.
func TestAbortAndCancel(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	clip := makeClip(t, src, "in.mp4", 4)
	_, frames := readAll(t, clip)
	for _, name := range []string{"out.mp4", "out.mkv", "frames"} {
		for _, how := range []string{"abort", "cancel", "cancel then close", "cancel before write"} {
			t.Run(name+" "+how, func(t *testing.T) {
				dir := t.TempDir()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w, err := Create(ctx, filepath.Join(dir, name), WriterOptions{StreamsFrom: clip})
				if err != nil {
					t.Fatal(err)
				}
				if how == "cancel before write" {
					cancel()
					if err := w.Write(frames[0]); !errors.Is(err, context.Canceled) {
						t.Errorf("Write after cancel: %v", err)
					}
				} else {
					for _, m := range frames[:3] {
						if err := w.Write(m); err != nil {
							t.Fatal(err)
						}
					}
				}
				switch how {
				case "abort":
					if err := w.Abort(); err != nil {
						t.Fatal(err)
					}
					if err := w.Close(); !errors.Is(err, ErrClosed) {
						t.Errorf("Close after Abort: %v", err)
					}
				case "cancel then close":
					cancel()
					if err := w.Close(); !errors.Is(err, context.Canceled) {
						t.Errorf("Close after cancel: %v", err)
					}
				case "cancel":
					cancel() // and never touch w again
				}
				deadline := time.Now().Add(5 * time.Second)
				for len(entries(t, dir)) > 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if got := entries(t, dir); len(got) > 0 {
					t.Fatalf("left behind: %v", got)
				}
			})
		}
	}
}

func TestReaderCancelAndClose(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 12)
	before := runtime.NumGoroutine()
	for range 3 {
		r, err := Open(context.Background(), clip)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Open(ctx, clip)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := r.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	r.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines, %d before", n, before)
	}
}

func TestRational(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rational
	}{
		{"30000/1001", Rational{30000, 1001}},
		{"60/2", Rational{30, 1}},
		{"25", Rational{25, 1}},
		{"29.97", Rational{2997, 100}},
		{"23.976", Rational{2997, 125}},
	} {
		got, err := ParseRational(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRational(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "1/0", "a/b"} {
		if _, err := ParseRational(bad); err == nil {
			t.Errorf("ParseRational(%q) succeeded", bad)
		}
	}
	if s := ntsc.String(); s != "30000/1001" {
		t.Errorf("String = %q", s)
	}
	if f := ntsc.Float(); f < 29.97 || f > 29.98 {
		t.Errorf("Float = %v", f)
	}
}

func TestHelpers(t *testing.T) {
	names := []string{"f10.png", "f2.png", "f1.png", "f02.png", "g.png", "f.png"}
	sortNatural(names)
	if want := []string{"f.png", "f1.png", "f02.png", "f2.png", "f10.png", "g.png"}; !slices.Equal(names, want) {
		t.Errorf("sortNatural = %v, want %v", names, want)
	}
	for path, want := range map[string]Codec{"a.mp4": H264, "a.MKV": H264, "a.mov": H264, "a.webm": VP9, "frames": PNG, "out/": PNG, t.TempDir(): PNG} {
		if got := CodecForPath(path); got != want {
			t.Errorf("CodecForPath(%q) = %q, want %q", path, got, want)
		}
	}
	for s, want := range map[string][2]int{"ffmpeg version 5.1.9-0+deb12u1 Copyright": {5, 1}, "ffmpeg version n7.1 Copyright": {7, 1},
		"ffmpeg version N-112345-gabc": {99, 0}, "ffmpeg version 4.4.2-0ubuntu0.22.04.1": {4, 4}} {
		if a, b := parseVersion(s); a != want[0] || b != want[1] {
			t.Errorf("parseVersion(%q) = %d.%d", s, a, b)
		}
	}
	for in, want := range map[float64]int{0: 0, 90: 90, -90: 270, -180: 180, 180: 180, 270: 270, 360: 0, 89.9: 90} {
		if got := normRotation(in); got != want {
			t.Errorf("normRotation(%v) = %d, want %d", in, got, want)
		}
	}
	var tb tailBuffer
	for range 1000 {
		tb.Write([]byte("some line of ffmpeg output\n"))
	}
	tb.Write([]byte("the last line\n"))
	if l := tb.Lines(2); len(l) != 2 || l[1] != "the last line" {
		t.Errorf("Lines = %q", l)
	}
}

func TestCheckToolsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if err := CheckTools(); !errors.Is(err, ErrFFmpegNotFound) {
		t.Fatalf("CheckTools = %v", err)
	}
	if _, err := Probe(context.Background(), t.TempDir()); !errors.Is(err, ErrNoFrames) {
		// A folder needs no ffmpeg.
		t.Fatalf("probe of an empty folder: %v", err)
	}
	f := filepath.Join(t.TempDir(), "a.mp4")
	os.WriteFile(f, []byte("x"), 0o644)
	if _, err := Open(context.Background(), f); !errors.Is(err, ErrFFmpegNotFound) {
		t.Fatalf("Open without ffmpeg: %v", err)
	}
}

// TestStreamCopy checks which audio and subtitle streams each container
// keeps, and that skipped ones are logged, not fatal.
func TestStreamCopy(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	clip := makeClip(t, dir, "in.mp4", 4)
	srt := filepath.Join(dir, "s.srt")
	os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:00,100\nhello\n"), 0o644)
	srcMKV := filepath.Join(dir, "src.mkv") // aac + subrip + an attachment
	ffmpeg(t, "-i", clip, "-i", srt, "-map", "0", "-map", "1", "-c", "copy",
		"-attach", srt, "-metadata:s:t", "mimetype=text/plain", srcMKV)
	srcMP4 := filepath.Join(dir, "src.mp4") // opus + mov_text
	ffmpeg(t, "-i", clip, "-i", srt, "-map", "0", "-map", "1", "-c:v", "copy", "-c:a", "libopus", "-c:s", "mov_text", srcMP4)
	_, frames := readAll(t, clip)
	for _, tc := range []struct {
		src, out    string
		codec       Codec
		audio, subs []string
		warn        []string
	}{
		{srcMKV, "a.mkv", FFV1, []string{"aac"}, []string{"subrip"}, nil},
		{srcMKV, "b.mp4", H264, []string{"aac"}, nil, []string{"subtitle stream skipped"}},
		{srcMKV, "c.webm", VP9, nil, nil, []string{"audio stream skipped", "subtitle stream skipped"}},
		{srcMP4, "d.mp4", H264, []string{"opus"}, []string{"mov_text"}, nil},
		{srcMP4, "e.mkv", FFV1, []string{"opus"}, nil, []string{"subtitle stream skipped"}},
		{srcMP4, "f.webm", VP9, []string{"opus"}, nil, []string{"subtitle stream skipped"}},
	} {
		t.Run(tc.out, func(t *testing.T) {
			var logs bytes.Buffer
			out := filepath.Join(dir, tc.out)
			writeAll(t, out, WriterOptions{Codec: tc.codec, StreamsFrom: tc.src, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, frames)
			info, err := Probe(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(info.AudioCodecs, tc.audio) || !slices.Equal(info.SubtitleCodecs, tc.subs) || info.Frames != 4 {
				t.Errorf("audio %v subtitles %v frames %d; want %v %v 4", info.AudioCodecs, info.SubtitleCodecs, info.Frames, tc.audio, tc.subs)
			}
			for _, w := range tc.warn {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log %q lacks %q", logs.String(), w)
				}
			}
			if len(tc.warn) == 0 && logs.Len() > 0 {
				t.Errorf("unexpected log %q", logs.String())
			}
			if tc.src == srcMKV && tc.codec == FFV1 {
				out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "t", "-show_entries", "stream=index", "-of", "csv", out).Output()
				if err != nil || !strings.Contains(string(out), "stream") {
					t.Errorf("attachment not kept: %v %q", err, out)
				}
			}
		})
	}
}
