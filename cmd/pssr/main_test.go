package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pssr/pssr/internal/fixture"
)

// shared is a folder for what several tests reuse, removed after the tests.
var shared string

// TestMain lets the tests start the test binary itself as a pssr process
// (for SIGKILL): with PSSR_TEST_MAIN=1 it runs the CLI with its arguments
// instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("PSSR_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	var err error
	if shared, err = os.MkdirTemp("", "pssr-cmd-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(shared)
	os.Exit(code)
}

var (
	activeOnce      sync.Once
	activeModelPath string
	activeRefPath   string
	activeErr       error
)

// active returns the active fixture model (random weights, every layer
// live: a test fixture, not a trained model) and the FFV1 output of an
// uninterrupted `pssr upscale` of the sample with it and resumeArgs, made
// once for all the tests that compare against it.
func active(t *testing.T) (modelPath, ref string) {
	t.Helper()
	activeOnce.Do(func() {
		activeModelPath = fixture.Model(t, shared, true)
		activeRefPath = filepath.Join(shared, "ref.mkv")
		var o, e bytes.Buffer
		args := append([]string{"upscale", sampleClip, activeRefPath, "--codec", "ffv1"}, resumeArgs(activeModelPath)...)
		if code := run(args, &o, &e); code != 0 {
			activeErr = fmt.Errorf("uninterrupted run: exit %d: %s", code, e.String())
		}
	})
	if activeErr != nil {
		t.Fatal(activeErr)
	}
	return activeModelPath, activeRefPath
}
