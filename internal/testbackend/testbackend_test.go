package testbackend

import (
	"strings"
	"testing"

	"github.com/gomlx/compute"
)

func TestNewFinalizesAtCleanup(t *testing.T) {
	var be compute.Backend
	t.Run("use", func(t *testing.T) {
		be = New(t)
		if be.IsFinalized() {
			t.Fatal("finalized before the test ended")
		}
		if !strings.Contains(be.Name(), "Go Backend") {
			t.Errorf("backend %q, want the Go backend", be.Name())
		}
	})
	if be == nil || !be.IsFinalized() {
		t.Error("backend not finalized when its test ended")
	}
}
