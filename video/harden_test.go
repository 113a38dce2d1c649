package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/testimg"
)

// noiseFrames returns n frames of seeded random noise, which no codec
// compresses much.
func noiseFrames(n, w, h int) []*frame.Image {
	rng := rand.New(rand.NewPCG(7, 8))
	out := make([]*frame.Image, n)
	for i := range out {
		m := frame.New(w, h)
		for j := range m.Pix {
			m.Pix[j] = float32(rng.IntN(256)) / 255
		}
		out[i] = m
	}
	return out
}

// smallDisk mounts a tmpfs of the given size for the test, or skips the
// test when that is not possible (not root, no mount permission).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestFullDisk writes more than a 64 KB disk holds: the writer must fail
// (ffmpeg 5.1 exits 0 after "Error writing trailer ... No space left on
// device" for Matroska), remove its temporary file, and leave an existing
// OUT that --overwrite would replace as it was.
func TestFullDisk(t *testing.T) {
	needTools(t)
	frames := noiseFrames(8, 192, 144) // far more than 64 KB in any codec
	for _, tc := range []struct {
		name string
		opt  WriterOptions
	}{
		{"out.mkv", WriterOptions{Codec: FFV1}},
		{"out.mp4", WriterOptions{Codec: H264}},
		{"out.webm", WriterOptions{Codec: VP9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := smallDisk(t, "64k")
			out := filepath.Join(dir, tc.name)
			keep := []byte("a good earlier output")
			if err := os.WriteFile(out, keep, 0o644); err != nil {
				t.Fatal(err)
			}
			opt := tc.opt
			opt.Overwrite = true
			w, err := Create(context.Background(), out, opt)
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for _, m := range frames {
				if werr = w.Write(m); werr != nil {
					break
				}
			}
			cerr := w.Close()
			if werr == nil && cerr == nil {
				t.Fatal("writing past a full disk succeeded")
			}
			err = errors.Join(werr, cerr)
			if msg := err.Error(); !strings.Contains(msg, "No space left") && !errors.Is(err, ErrTruncated) {
				t.Errorf("error does not say the disk is full or the file incomplete: %v", err)
			}
			if b, _ := os.ReadFile(out); !bytes.Equal(b, keep) {
				t.Errorf("the existing output was replaced (%d bytes)", len(b))
			}
			if got := entries(t, dir); !slices.Equal(got, []string{tc.name}) {
				t.Errorf("folder holds %v, want only the old output", got)
			}
		})
	}
}

// TestVerifyTruncated checks the verification itself on a file cut short
// after a successful encode: it must not pass for a partial file.
func TestVerifyTruncated(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.mkv")
	writeAll(t, path, WriterOptions{Codec: FFV1}, noiseFrames(4, 64, 48))
	if err := verifyVideo(context.Background(), path, 4); err != nil {
		t.Fatalf("complete file: %v", err)
	}
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verifyVideo(context.Background(), path, 4); !errors.Is(err, ErrTruncated) {
		t.Fatalf("half a file: err = %v, want ErrTruncated", err)
	}
}

// TestOutputFormats checks that the output is decided up front: a .png
// output is one PNG image, and an extension no video can go into is
// refused by CheckOutput and Create before anything is written.
func TestOutputFormats(t *testing.T) {
	needTools(t)
	frames := noiseFrames(2, 32, 24)
	t.Run("single png", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "o.png")
		writeAll(t, out, WriterOptions{Frames: 1}, frames[:1])
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := png.Decode(f)
		if err != nil {
			t.Fatalf("o.png is not a PNG image: %v", err)
		}
		if m.Bounds() != image.Rect(0, 0, 32, 24) {
			t.Errorf("o.png is %v", m.Bounds())
		}
		if got := entries(t, dir); !slices.Equal(got, []string{"o.png"}) {
			t.Errorf("folder holds %v", got)
		}
	})
	t.Run("png with several frames", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "o.png")
		if err := CheckOutput(out, WriterOptions{Frames: 2}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "one frame") {
			t.Errorf("CheckOutput: %v", err)
		}
		// Without a known count the second frame is refused.
		w, err := Create(context.Background(), out, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(frames[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(frames[1]); !errors.Is(err, ErrUnsupported) {
			t.Errorf("second frame: %v", err)
		}
		if w.Close() == nil {
			t.Error("Close succeeded after the refused frame")
		}
		if got := entries(t, dir); len(got) != 0 {
			t.Errorf("folder holds %v", got)
		}
	})
	for _, name := range []string{"o.jpg", "o.gif", "o.y4m", "o.wav", "o.txt", "o.jpeg"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, name)
			if err := CheckOutput(out, WriterOptions{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), filepath.Ext(name)) {
				t.Errorf("CheckOutput: %v, want ErrUnsupported naming %s", err, filepath.Ext(name))
			}
			w, err := Create(context.Background(), out, WriterOptions{})
			if !errors.Is(err, ErrUnsupported) {
				if w != nil {
					w.Abort()
				}
				t.Errorf("Create: %v, want ErrUnsupported", err)
			}
			if got := entries(t, dir); len(got) != 0 {
				t.Errorf("folder holds %v", got)
			}
		})
	}
}

// TestNonRegularOutput checks that Overwrite never replaces a device, a
// FIFO or a link.
func TestNonRegularOutput(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.mkv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target.mkv")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.mkv")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"character device", "/dev/null", "character device"},
		{"fifo", fifo, "FIFO"},
		{"symbolic link", link, "symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := os.Lstat(tc.path)
			if err != nil {
				t.Skip(err)
			}
			for _, codec := range []Codec{FFV1, PNG} {
				err := CheckOutput(tc.path, WriterOptions{Codec: codec, Overwrite: true})
				if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: CheckOutput: %v, want ErrExists naming a %s", codec, err, tc.want)
				}
			}
			after, err := os.Lstat(tc.path)
			if err != nil || after.Mode() != before.Mode() {
				t.Errorf("the %s was changed: %v %v", tc.name, after, err)
			}
		})
	}
}

// TestOtherWriters checks the temporary outputs named after their
// process: a live writer's makes a second writer fail up front, a dead
// one's is removed.
func TestOtherWriters(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	// A process that has exited: its id is free until reused.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	stale := filepath.Join(dir, fmt.Sprintf(".out.tmp-pid%d-123", dead))
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "000001.png"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Create(context.Background(), out, WriterOptions{Codec: PNG})
	if err != nil {
		t.Fatalf("Create with a stale temporary output: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale temporary output is still there: %v", err)
	}
	// w is live (this process): a second writer of the same output is
	// refused before it starts.
	_, err = Create(context.Background(), out, WriterOptions{Codec: PNG})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("second writer: %v, want ErrBusy naming pid %d", err, os.Getpid())
	}
	if err := w.Write(frame.New(8, 8)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"out"}) {
		t.Errorf("folder holds %v", got)
	}
}

// TestNonFiniteFrames checks that a frame with NaN or infinite samples is
// refused instead of being written as black.
func TestNonFiniteFrames(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Create(context.Background(), filepath.Join(dir, "out"), WriterOptions{Codec: PNG})
			if err != nil {
				t.Fatal(err)
			}
			m := frame.New(8, 8)
			m.Pix[17] = v
			if err := w.Write(m); !errors.Is(err, ErrInvalidData) || !strings.Contains(err.Error(), "NaN") {
				t.Errorf("Write: %v, want ErrInvalidData about NaN", err)
			}
			if w.Close() == nil {
				t.Error("Close succeeded")
			}
			if got := entries(t, dir); len(got) != 0 {
				t.Errorf("folder holds %v", got)
			}
		})
	}
}

// TestFolderBombFrame puts a decompression bomb (a 20000x20000 PNG of
// about 50 KB) after a small first frame: the reader must refuse it from
// its header, before decoding it.
func TestFolderBombFrame(t *testing.T) {
	dir := t.TempDir()
	if err := frame.SavePNG(filepath.Join(dir, "001.png"), frame.New(16, 16)); err != nil {
		t.Fatal(err)
	}
	if err := testimg.WriteBomb(filepath.Join(dir, "002.png"), 20000, 20000); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = r.Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrameSize) || !strings.Contains(err.Error(), "20000x20000") {
		t.Fatalf("bomb frame: %v, want ErrFrameSize naming 20000x20000", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("refusing the bomb allocated %d MB", grew>>20)
	}
}

// TestProbeBadFrameRate gives the last-resort rate computation a stream
// without a rate and a denormal duration, and ParseRational rates that do
// not fit ffmpeg's 32-bit rationals.
func TestProbeBadFrameRate(t *testing.T) {
	p := &probeOut{Streams: []probeStream{{CodecType: "video", CodecName: "h264", Width: 64, Height: 48,
		RFrameRate: "0/0", AvgFrameRate: "0/0", NbFrames: "3", Duration: "1e-320"}}}
	p.Format.Duration = "1e-320"
	info, err := infoFromProbe("x.mp4", p, nil)
	if !errors.Is(err, ErrInvalidData) || !strings.Contains(err.Error(), "frame rate") {
		t.Errorf("infoFromProbe: %+v, %v; want ErrInvalidData about the frame rate", info, err)
	}
	for _, s := range []string{"-9223372036854775808/1000", "9223372036854775807/1", "4294967296", "1e300", "1/4294967296"} {
		if r, err := ParseRational(s); err == nil {
			t.Errorf("ParseRational(%q) = %v, want an error", s, r)
		}
	}
}

// TestToolVersionInterrupted checks that an interrupt during the ffmpeg
// version check is reported as one (the CLI exits 130 for it), not as
// ffmpeg failing.
func TestToolVersionInterrupted(t *testing.T) {
	needTools(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := toolVersion(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("toolVersion: %v, want context.Canceled", err)
	}
}

// TestAlphaReported checks that inputs with transparency say so (reading
// drops the alpha channel): a folder of RGBA PNGs and a video with an
// alpha pixel format, against opaque ones.
func TestAlphaReported(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		args  []string // ffmpeg output options; "" name means a folder
		alpha bool
	}{
		{"rgba-frames", []string{"-pix_fmt", "rgba", "%03d.png"}, true},
		{"rgb-frames", []string{"-pix_fmt", "rgb24", "%03d.png"}, false},
		{"rgba.mkv", []string{"-c:v", "png", "-pix_fmt", "rgba"}, true},
		{"yuva.webm", []string{"-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p"}, true},
		{"yuv.mkv", []string{"-c:v", "ffv1", "-pix_fmt", "yuv420p"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			args := []string{"-f", "lavfi", "-i", "testsrc2=s=32x24", "-frames:v", "2"}
			if strings.HasSuffix(tc.name, "-frames") {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
				ffmpeg(t, append(args, append(tc.args[:2:2], filepath.Join(path, tc.args[2]))...)...)
			} else {
				ffmpeg(t, append(append(args, tc.args...), path)...)
			}
			info, err := Probe(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if info.HasAlpha != tc.alpha {
				t.Errorf("HasAlpha = %v (pix_fmt %s), want %v", info.HasAlpha, info.PixFmt, tc.alpha)
			}
		})
	}
}

// TestFolderBombFirstFrame makes a decompression bomb the first frame of a
// folder: Probe and Open refuse it from its header, for every command.
func TestFolderBombFirstFrame(t *testing.T) {
	dir := t.TempDir()
	if err := testimg.WriteBomb(filepath.Join(dir, "001.png"), 20000, 20000); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "20000x20000") {
		t.Errorf("Open: %v, want ErrUnsupported naming 20000x20000", err)
	}
}

// TestTenBit reads a 10-bit input with more than 8 bits of precision and
// keeps 10 bits where the codec can (h265, vp9, ffv1, png), not h264.
func TestTenBit(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in10.mkv")
	// A smooth gradient: 10-bit levels between the 8-bit ones.
	ffmpeg(t, "-f", "lavfi", "-i", "gradients=s=64x48:speed=0.01", "-frames:v", "2", "-c:v", "ffv1", "-pix_fmt", "gbrp10le", in)
	info, frames := readAll(t, in)
	if info.BitDepth != 10 {
		t.Fatalf("BitDepth %d (pix_fmt %s), want 10", info.BitDepth, info.PixFmt)
	}
	between := 0
	for _, v := range frames[0].Pix {
		if q := v * 255; math.Abs(float64(q-float32(math.Round(float64(q))))) > 0.1 {
			between++
		}
	}
	if between < len(frames[0].Pix)/10 {
		t.Errorf("only %d of %d samples fall between 8-bit levels: read as 8 bits", between, len(frames[0].Pix))
	}
	for _, tc := range []struct {
		name   string
		codec  Codec
		pixFmt string
	}{
		{"o.mkv", FFV1, "gbrp16le"},
		{"o.mp4", H265, "yuv420p10le"},
		{"o.webm", VP9, "yuv420p10le"},
		{"h264.mp4", H264, "yuv420p"},
		{"frames", PNG, "rgb24"}, // a folder reads as rgb24 at 16 bits (BitDepth 16)
	} {
		t.Run(string(tc.codec), func(t *testing.T) {
			out := filepath.Join(dir, tc.name)
			writeAll(t, out, WriterOptions{Codec: tc.codec, BitDepth: info.BitDepth}, frames)
			got, back := readAll(t, out)
			if got.PixFmt != tc.pixFmt {
				t.Errorf("pix_fmt %s, want %s", got.PixFmt, tc.pixFmt)
			}
			if tc.codec == PNG && got.BitDepth != 16 {
				t.Errorf("PNG frames of %d bits, want 16", got.BitDepth)
			}
			if tc.codec == FFV1 || tc.codec == PNG {
				var worst float64
				for i := range back[0].Pix {
					worst = max(worst, math.Abs(float64(back[0].Pix[i]-frames[0].Pix[i])))
				}
				if worst > 1.0/65535 {
					t.Errorf("%s round trip differs by %g", tc.codec, worst)
				}
			}
		})
	}
}

func TestBitDepth(t *testing.T) {
	for f, want := range map[string]int{"yuv420p": 8, "yuvj420p": 8, "nv12": 8, "rgb24": 8, "yuv420p10le": 10, "yuv422p12be": 12,
		"p010le": 10, "rgb48le": 16, "rgba64be": 16, "gray16le": 16, "bgr565le": 8, "yuv420p9le": 9, "x2rgb10le": 10, "": 8} {
		if got := bitDepth(f); got != want {
			t.Errorf("bitDepth(%q) = %d, want %d", f, got, want)
		}
	}
}
