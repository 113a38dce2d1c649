package testbackend

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
)

func TestNewFinalizesAtCleanup(t *testing.T) {
	var be backends.Backend
	t.Run("use", func(t *testing.T) {
		be = New(t)
		if be.IsFinalized() {
			t.Fatal("finalized before the test ended")
		}
		if !strings.Contains(be.Name(), "(go)") {
			t.Errorf("backend %q, want SimpleGo (go)", be.Name())
		}
	})
	if be == nil || !be.IsFinalized() {
		t.Error("backend not finalized when its test ended")
	}
}
