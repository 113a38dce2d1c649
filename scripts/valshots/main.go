// Command valshots writes the validation shots of dataset.MakeSplit as
// folders of PNG frames at ground-truth resolution, for pssr bench:
//
//	go run ./scripts/valshots DATA OUT
//
// For every frame-folder or video item of the split's validation set of
// DATA (dataset.ValShots), OUT/SHOT/00001.png... holds its frames shrunk by
// the item's Downscale (the DAVIS JPEGs by 2, area filter), SHOT being the
// shot's folder or file name. A shot whose OUT/SHOT/.complete exists is
// skipped, so running it again is cheap; a shot is written to a temporary
// folder first and renamed when complete.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pssr/pssr/dataset"
	"github.com/pssr/pssr/frame"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: valshots DATA OUT")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "valshots:", err)
		os.Exit(1)
	}
}

// shotName is the folder name of a validation item under OUT.
func shotName(it dataset.Item) string {
	if it.Kind == dataset.KindFrames {
		return filepath.Base(filepath.Dir(it.Paths[0]))
	}
	b := filepath.Base(it.Paths[0])
	return strings.TrimSuffix(b, filepath.Ext(b))
}

func run(ctx context.Context, data, out string) error {
	split, err := dataset.MakeSplit(data, "")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	seen := map[string]string{}
	for _, it := range split.Val {
		if it.Kind != dataset.KindFrames && it.Kind != dataset.KindVideo {
			continue
		}
		name := shotName(it)
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("validation items %s and %s would both be written to %s", prev, it.Name, name)
		}
		seen[name] = it.Name
		dst := filepath.Join(out, name)
		if _, err := os.Stat(filepath.Join(dst, ".complete")); err == nil {
			fmt.Printf("valshots: %s already in %s\n", it.Name, dst)
			continue
		}
		frames, err := it.Frames(ctx, 0)
		if err != nil {
			return err
		}
		tmp := dst + ".part"
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("clearing %s: %w", tmp, err)
		}
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return fmt.Errorf("shot folder: %w", err)
		}
		for i, f := range frames {
			if err := frame.SavePNG(filepath.Join(tmp, fmt.Sprintf("%05d.png", i+1)), f); err != nil {
				return fmt.Errorf("shot %s frame %d: %w", it.Name, i+1, err)
			}
		}
		note := fmt.Sprintf("%s: %d frames of %dx%d, shrunk by %d\n", it.Name, len(frames), frames[0].W, frames[0].H, max(it.Downscale, 1))
		if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(note), 0o644); err != nil {
			return fmt.Errorf("shot %s: %w", it.Name, err)
		}
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("replacing %s: %w", dst, err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("shot %s: %w", it.Name, err)
		}
		fmt.Printf("valshots: %s", note)
	}
	if len(seen) == 0 {
		return fmt.Errorf("no validation shot (%s) in %s", strings.Join(dataset.ValShots, ", "), data)
	}
	return nil
}
