package model

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDefaultPathFor: the model for the scale when present, else the x4
// model, else an error; $PSSR_MODEL overrides both.
func TestDefaultPathFor(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.Mkdir(models, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("PSSR_MODEL", "")
	if _, err := DefaultPathFor(2); err == nil {
		t.Fatal("no model installed: no error")
	}
	touch := func(name string) string {
		p := filepath.Join(models, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	x4 := touch(DefaultName)
	for _, tc := range []struct {
		scale int
		want  string
	}{{4, x4}, {2, x4}} {
		if got, err := DefaultPathFor(tc.scale); err != nil || !sameFile(t, got, tc.want) {
			t.Errorf("only x4 installed, scale %d: %q, %v; want %q", tc.scale, got, err, tc.want)
		}
	}
	x2 := touch(DefaultNameFor(2))
	for _, tc := range []struct {
		scale int
		want  string
	}{{4, x4}, {2, x2}} {
		if got, err := DefaultPathFor(tc.scale); err != nil || !sameFile(t, got, tc.want) {
			t.Errorf("x2 and x4 installed, scale %d: %q, %v; want %q", tc.scale, got, err, tc.want)
		}
	}
	t.Setenv("PSSR_MODEL", x4)
	if got, err := DefaultPathFor(2); err != nil || !sameFile(t, got, x4) {
		t.Errorf("$PSSR_MODEL set: %q, %v; want %q", got, err, x4)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}
