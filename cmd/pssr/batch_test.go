package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pssr/pssr/internal/fixture"
)

// TestUpscaleBatch upscales a folder with two good videos (one in a
// subfolder), a corrupt one and a text file: the good ones are written
// under their names, the corrupt one is reported and the exit status is 1;
// a second run skips the finished outputs.
func TestUpscaleBatch(t *testing.T) {
	needFFmpeg(t)
	modelPath := fixture.Model(t, t.TempDir(), false)
	in := t.TempDir()
	if err := os.Mkdir(filepath.Join(in, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, "-i", sampleClip, "-frames:v", "4", "-c:v", "libx264", "-c:a", "copy", filepath.Join(in, "a.mp4"))
	ffmpeg(t, "-i", sampleClip, "-frames:v", "3", "-c:v", "ffv1", filepath.Join(in, "sub", "b.mkv"))
	if err := os.WriteFile(filepath.Join(in, "bad.mp4"), []byte("not a video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "notes.txt"), []byte("ignored"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"upscale", in, out, "--model", modelPath, "--scale", "2", "--codec", "ffv1", "-q"}

	// Not recursive: sub/b.mkv is left out.
	code, stdout, _ := cli(t, args...)
	if code != 1 {
		t.Fatalf("exit %d with a corrupt file, want 1: %s", code, stdout)
	}
	for _, want := range []string{"done     a.mp4 -> " + filepath.Join(out, "a.mkv"), "FAILED   bad.mp4:", "batch: 2 files: 1 done, 0 skipped, 1 failed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "b.mkv") {
		t.Errorf("a run without --recursive went into sub/:\n%s", stdout)
	}

	code, stdout, _ = cli(t, append(args, "--recursive")...)
	if code != 1 {
		t.Fatalf("exit %d with a corrupt file, want 1: %s", code, stdout)
	}
	for _, want := range []string{"skipped  a.mp4", "done     " + filepath.Join("sub", "b.mkv"), "FAILED   bad.mp4:", "batch: 3 files: 1 done, 1 skipped, 1 failed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for name, frames := range map[string]int{"a.mkv": 4, filepath.Join("sub", "b.mkv"): 3} {
		info, fs := readAll(t, filepath.Join(out, name))
		if len(fs) != frames || info.Width != 208 || info.Height != 120 || info.Codec != "ffv1" {
			t.Errorf("%s: %d frames of %dx%d %s, want %d of 208x120 ffv1", name, len(fs), info.Width, info.Height, info.Codec, frames)
		}
	}
	if names := listDir(t, out); strings.Join(names, " ") != "a.mkv sub" {
		t.Errorf("OUT_DIR holds %v, want a.mkv and sub (no failed output, no checkpoint)", names)
	}
}
