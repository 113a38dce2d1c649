package upscale

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pssr/pssr/checkpoint"
	"github.com/pssr/pssr/video"
)

// videoExts are the file extensions batch mode takes as videos.
var videoExts = []string{".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
	".flv", ".wmv", ".y4m", ".3gp", ".ogv", ".gif"}

// keptExts are the input extensions an output keeps (with the default
// codec of each); other videos get ".mp4".
var keptExts = []string{".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm"}

// IsVideoName reports whether a file name has a video extension that batch
// mode picks up.
func IsVideoName(name string) bool {
	return slices.Contains(videoExts, strings.ToLower(filepath.Ext(name)))
}

// HasVideos reports whether dir holds a video file (directly, or anywhere
// below with recursive): whether `pssr upscale DIR OUT` is a batch rather
// than a frame folder.
func HasVideos(dir string, recursive bool) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipAll
		}
		if d.IsDir() {
			if p != dir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && IsVideoName(d.Name()) && !strings.HasPrefix(d.Name(), ".") {
			found = true
		}
		return nil
	})
	return found
}

// Item is one file of a batch.
type Item struct {
	// In and Out are the input and output paths; Rel is In relative to the
	// batch's input folder.
	In, Out, Rel string
}

// OutputName returns the output name of input name for codec ("" for the
// default from the extension): the same name when its container holds the
// codec, else the name with the codec's usual extension (".mkv" for ffv1,
// ".webm" for vp9, ".mp4" for h264 and h265, none for a png folder).
func OutputName(name string, codec video.Codec) string {
	ext := strings.ToLower(filepath.Ext(name))
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	switch codec {
	case "":
		if slices.Contains(keptExts, ext) {
			return name
		}
		return stem + ".mp4"
	case video.PNG:
		return stem
	case video.FFV1:
		if ext == ".mkv" || ext == ".mov" || ext == ".avi" {
			return name
		}
		return stem + ".mkv"
	case video.VP9:
		if ext == ".webm" || ext == ".mkv" {
			return name
		}
		return stem + ".webm"
	}
	if ext == ".mp4" || ext == ".m4v" || ext == ".mkv" || ext == ".mov" {
		return name
	}
	return stem + ".mp4"
}

// PlanBatch lists the videos in inDir (and in its subfolders when
// recursive, skipping hidden ones) in name order, with outputs at the same
// relative paths under outDir (see OutputName).
func PlanBatch(inDir, outDir string, recursive bool, codec video.Codec) ([]Item, error) {
	st, err := os.Stat(inDir)
	if err != nil {
		return nil, fmt.Errorf("IN_DIR: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("IN_DIR %q is not a folder", inDir)
	}
	inAbs, err1 := filepath.Abs(inDir)
	outAbs, err2 := filepath.Abs(outDir)
	if err1 == nil && err2 == nil && (inAbs == outAbs || strings.HasPrefix(outAbs, inAbs+string(filepath.Separator)) && recursive) {
		return nil, fmt.Errorf("OUT_DIR %q is inside IN_DIR %q: the outputs would become inputs", outDir, inDir)
	}
	var items []Item
	err = filepath.WalkDir(inDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != inDir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") || !IsVideoName(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(inDir, p)
		if err != nil {
			return err
		}
		outRel := filepath.Join(filepath.Dir(rel), OutputName(filepath.Base(rel), codec))
		items = append(items, Item{In: p, Out: filepath.Join(outDir, outRel), Rel: rel})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("IN_DIR: %w", err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("IN_DIR %q holds no videos (%s)", inDir, strings.Join(videoExts, " "))
	}
	return items, nil
}

// The states of a batch item.
const (
	StateDone    = "done"
	StateSkipped = "skipped"
	StateFailed  = "failed"
)

// Status is what became of one batch item.
type Status struct {
	Item
	// State is StateDone, StateSkipped or StateFailed.
	State string
	// Result is the job's result when done.
	Result Result
	// Err is why it failed (or was skipped).
	Err error
	// Elapsed is the time spent on it.
	Elapsed time.Duration
}

// RunBatch runs every item with the settings of tmpl (its In and Out are
// replaced; checkpoints are kept and resumed), one after another, and calls
// report after each. An output that exists with no checkpoint is skipped
// (finished earlier) unless tmpl.Output.Overwrite. A failed item does not
// stop the batch; the returned error counts the failures. Cancelling ctx
// stops the batch with ctx's error.
func (e *Engine) RunBatch(ctx context.Context, items []Item, tmpl Job, report func(Status)) ([]Status, error) {
	var out []Status
	failed := 0
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		start := time.Now()
		s := Status{Item: it}
		_, errOut := os.Lstat(it.Out)
		_, errCk := os.Stat(checkpoint.DirFor(it.Out))
		if errOut == nil && errCk != nil && !tmpl.Output.Overwrite {
			s.State, s.Err = StateSkipped, errors.New("the output exists")
		} else {
			j := tmpl
			j.In, j.Out, j.Info = it.In, it.Out, nil
			j.Checkpoint, j.Resume = true, true
			j.Output.Overwrite = tmpl.Output.Overwrite || errCk == nil
			if err := os.MkdirAll(filepath.Dir(it.Out), 0o755); err != nil {
				s.State, s.Err = StateFailed, err
				failed++
			} else {
				s.Result, s.Err = e.Run(ctx, j)
				s.State = StateDone
				if s.Err != nil {
					if ctx.Err() != nil {
						return out, ctx.Err()
					}
					s.State = StateFailed
					failed++
				}
			}
		}
		s.Elapsed = time.Since(start)
		out = append(out, s)
		if report != nil {
			report(s)
		}
	}
	if failed > 0 {
		return out, fmt.Errorf("batch: %d of %d files failed", failed, len(items))
	}
	return out, nil
}
