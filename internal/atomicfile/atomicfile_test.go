package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	for _, content := range []string{"first\n", "second, longer\n"} {
		err := Write(path, func(w io.Writer) error {
			_, err := io.WriteString(w, content)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("read %q, want %q", got, content)
		}
		if names := entries(t, dir); len(names) != 1 || names[0] != "out.txt" {
			t.Fatalf("folder holds %v", names)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Fatalf("mode %v, want 0644", st.Mode().Perm())
		}
	}
}

func TestWriteRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := Write("rel.txt", func(w io.Writer) error {
		_, err := io.WriteString(w, "x")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("rel.txt"); err != nil || string(got) != "x" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestWriteErrorLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	boom := errors.New("boom")
	var tmp string
	err := Write(path, func(w io.Writer) error {
		// The temporary file exists, hidden, while write runs.
		names := entries(t, dir)
		if len(names) != 1 || !strings.HasPrefix(names[0], ".out.txt.tmp-") {
			t.Errorf("while writing, folder holds %v", names)
		}
		if len(names) == 1 {
			tmp = names[0]
		}
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if tmp == "" {
		t.Fatal("no temporary file seen")
	}
	if names := entries(t, dir); len(names) != 0 {
		t.Fatalf("after a failed write, folder holds %v", names)
	}

	// An existing file keeps its content when a rewrite fails.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, func(w io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
		t.Fatalf("read %q, %v; want the old content", got, err)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("folder holds %v", names)
	}
}

func TestWriteFolderMissing(t *testing.T) {
	dir := t.TempDir()
	called := false
	err := Write(filepath.Join(dir, "missing", "out.txt"), func(w io.Writer) error {
		called = true
		return nil
	})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	if called {
		t.Fatal("write called without a temporary file")
	}
	if names := entries(t, dir); len(names) != 0 {
		t.Fatalf("folder holds %v", names)
	}
}

func TestWriteRenameErrorLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	// A folder at path makes the final rename fail.
	path := filepath.Join(dir, "out")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	err := Write(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "x")
		return err
	})
	if err == nil {
		t.Fatal("no error renaming over a folder")
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "out" {
		t.Fatalf("folder holds %v", names)
	}
}
