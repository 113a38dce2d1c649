package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/ort"
)

// TestUpscaleRuntimes upscales the sample with the active fixture model
// (random weights, a test fixture) on --runtime go, ort and ort-int8 and
// compares the outputs, and checks that each run logs its runtime.
func TestUpscaleRuntimes(t *testing.T) {
	needFFmpeg(t)
	fixture.ORT(t)
	modelPath, _ := active(t)
	dir := t.TempDir()
	outs := map[string]string{}
	for _, rt := range []string{"go", "ort", "ort-int8"} {
		out := filepath.Join(dir, rt+".mkv")
		args := append([]string{"upscale", sampleClip, out, "--codec", "ffv1", "--runtime", rt}, resumeArgs(modelPath)...)
		code, _, stderr := cli(t, args...)
		if code != 0 {
			t.Fatalf("--runtime %s: exit %d: %s", rt, code, stderr)
		}
		if !strings.Contains(stderr, "msg=runtime runtime="+rt) {
			t.Errorf("--runtime %s: no runtime=%s log line:\n%s", rt, rt, stderr)
		}
		outs[rt] = out
	}
	_, a := readAll(t, outs["go"])
	_, b := readAll(t, outs["ort"])
	if d := fixture.MaxDiff(t, a, b); d > 1.5/255 {
		t.Errorf("go and ort outputs differ by %.4g (more than one 8-bit step)", d)
	}
	_, c := readAll(t, outs["ort-int8"])
	d := fixture.MaxDiff(t, a, c)
	t.Logf("go and ort-int8 outputs differ by %.4g at most", d)
	if d > 0.1 {
		t.Errorf("go and ort-int8 outputs differ by %.4g (more than 0.1)", d)
	}
}

// TestRuntimeFlag checks --runtime's errors and auto's fallback when the
// library is missing.
func TestRuntimeFlag(t *testing.T) {
	needFFmpeg(t)
	modelPath, _ := active(t)
	dir := t.TempDir()
	base := func(out string) []string {
		return append([]string{"upscale", sampleClip, filepath.Join(dir, out), "--codec", "ffv1"}, resumeArgs(modelPath)...)
	}
	cliFails(t, append(base("bad.mkv"), "--runtime", "tpu"), []string{"--runtime", "unknown runtime"})

	t.Setenv(ort.EnvLibrary, filepath.Join(dir, "no-such-libonnxruntime.so.1"))
	cliFails(t, append(base("ort.mkv"), "--runtime", "ort"), []string{"install-onnxruntime.sh", ort.EnvLibrary})
	code, _, stderr := cli(t, append(base("auto.mkv"), "--runtime", "auto")...)
	if code != 0 {
		t.Fatalf("--runtime auto without the library: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "running on the pure-Go runtime") || !strings.Contains(stderr, "msg=runtime runtime=go") {
		t.Errorf("--runtime auto without the library: no fallback note or runtime=go line:\n%s", stderr)
	}
}
