package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/video"
)

// Kind says what an Item's files are.
type Kind string

// The kinds of training material.
const (
	// KindFrames is a real video stored as PNG/JPEG frame files.
	KindFrames Kind = "frames"
	// KindVideo is a real video file.
	KindVideo Kind = "video"
	// KindPhoto is a still photograph, used through pseudo-video motion.
	KindPhoto Kind = "photo"
)

// Item is one unit of training or validation material.
type Item struct {
	// Name identifies the item: its path relative to the data or photo
	// folder, e.g. "basketballpass-416x240/f001-f100" (a frame folder and
	// its first and last frame), "sam2-clips/01_dog.mp4" or
	// "urban100-half/img_001.png".
	Name string `json:"name"`
	// Kind says what Paths are.
	Kind Kind `json:"kind"`
	// Paths are the frame files in order (KindFrames) or the single video
	// or photo file.
	Paths []string `json:"paths"`
	// Downscale is the factor by which the item's pictures are shrunk
	// (area filter) before they are used as ground truth; 0 leaves the
	// choice to Options (Options.VideoDownscale for frames and videos,
	// Options.Downscale for photos). MakeSplit sets 2 for JPEG frame
	// folders (DAVIS) and JPEG photos, 1 for PNG ones and 0 for video
	// files.
	Downscale int `json:"downscale,omitempty"`
}

// options returns opt with the item's Downscale filled in where opt leaves
// the factor of the item's kind at 0 (an explicit Options value wins).
func (it Item) options(opt Options) Options {
	if it.Downscale <= 0 {
		return opt
	}
	switch it.Kind {
	case KindPhoto:
		if opt.Downscale <= 0 {
			opt.Downscale = it.Downscale
		}
	default:
		if opt.VideoDownscale <= 0 {
			opt.VideoDownscale = it.Downscale
		}
	}
	return opt
}

// Source returns a Source over the item, its pictures shrunk by the
// item's Downscale unless opt sets the factor of the item's kind. ctx
// bounds the decoding of video files (see NewVideoSource).
func (it Item) Source(ctx context.Context, opt Options) (Source, error) {
	opt = it.options(opt)
	switch it.Kind {
	case KindFrames:
		return NewFrameSource(it.Name, it.Paths, opt)
	case KindVideo:
		if len(it.Paths) != 1 {
			return nil, fmt.Errorf("item %s: %d paths for a video", it.Name, len(it.Paths))
		}
		return NewVideoSource(ctx, it.Paths[0], opt)
	case KindPhoto:
		if len(it.Paths) != 1 {
			return nil, fmt.Errorf("item %s: %d paths for a photo", it.Name, len(it.Paths))
		}
		return NewPhotoSource(it.Paths[0], opt), nil
	}
	return nil, fmt.Errorf("item %s: unknown kind %q", it.Name, it.Kind)
}

// Frames returns the first n frames (all when n <= 0) of a frame-folder or
// video item at ground-truth resolution: shrunk by the item's Downscale
// (area filter), as a Source of the item with zero Options would give
// them. Validation and benchmarks read held-out shots through it.
func (it Item) Frames(ctx context.Context, n int) ([]*frame.Image, error) {
	f := max(it.Downscale, 1)
	switch it.Kind {
	case KindFrames:
		paths := it.Paths
		if n > 0 && n < len(paths) {
			paths = paths[:n]
		}
		out := make([]*frame.Image, len(paths))
		for i, p := range paths {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			m, err := frame.Load(p)
			if err != nil {
				return nil, fmt.Errorf("item %s: %w", it.Name, err)
			}
			out[i] = shrink(m, f)
		}
		return out, nil
	case KindVideo:
		if len(it.Paths) != 1 {
			return nil, fmt.Errorf("item %s: %d paths for a video", it.Name, len(it.Paths))
		}
		rd, err := video.Open(ctx, it.Paths[0])
		if err != nil {
			return nil, fmt.Errorf("item %s: %w", it.Name, err)
		}
		defer rd.Close()
		var out []*frame.Image
		for n <= 0 || len(out) < n {
			m, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("item %s: frame %d: %w", it.Name, len(out)+1, err)
			}
			out = append(out, shrink(m, f))
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("item %s: %w", it.Name, ErrNoFrames)
		}
		return out, nil
	}
	return nil, fmt.Errorf("item %s: Frames of a %s item: only frame folders and videos have frames", it.Name, it.Kind)
}

// shrink returns m shrunk by the integer factor f (area filter, the size
// rounded down), or m itself when f <= 1.
func shrink(m *frame.Image, f int) *frame.Image {
	if f <= 1 {
		return m
	}
	return frame.Resize(m, m.W/f, m.H/f, frame.Area)
}

// Split divides the material into training and validation items.
type Split struct {
	Train, Val []Item
}

// ValShots are the shots MakeSplit holds out for validation, whole: a shot
// is a frame folder or a video file (named without its extension), given
// by its trailing path components. No frame of these ever enters
// training; every other shot trains whole. They are the 720p baseball clip
// (sport, people) and two DAVIS-2016 sequences of other content: a swan on
// water (nature, slow motion) and cars at a roundabout (urban traffic).
var ValShots = []string{
	"baseball-1280x720",
	"davis2016-480p/blackswan",
	"davis2016-480p/car-roundabout",
}

// ValPhotos returns the names (file name without extension) of the
// photographs MakeSplit holds out for validation: one landscape-format
// KDE Plasma photo and one mountain landscape from the Lomiri set.
func ValPhotos() []string { return []string{"Kite", "aitzgorri_by_Aitzol_Berasategi"} }

// IsValShot reports whether the frame folder or video file at path is one
// of ValShots: whether path, cleaned and made absolute, without a video
// extension, ends with the path components of an entry ("…/davis2016-480p/
// blackswan" is, ".../blackswan2" and ".../other/blackswan" are not).
func IsValShot(path string) bool {
	p := filepath.ToSlash(filepath.Clean(path))
	if a, err := filepath.Abs(path); err == nil {
		p = filepath.ToSlash(a)
	}
	if isVideoFile(p) {
		p = strings.TrimSuffix(p, filepath.Ext(p))
	}
	for _, s := range ValShots {
		if p == s || strings.HasSuffix(p, "/"+s) {
			return true
		}
	}
	return false
}

var videoExts = []string{".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v"}

func isVideoFile(name string) bool {
	return slices.Contains(videoExts, strings.ToLower(filepath.Ext(name)))
}

func isJPEG(name string) bool {
	e := strings.ToLower(filepath.Ext(name))
	return e == ".jpg" || e == ".jpeg"
}

// downscaleFor is the ground-truth factor MakeSplit gives a picture file:
// 2 for JPEG (removing most compression artefacts), 1 for lossless files.
func downscaleFor(path string) int {
	if isJPEG(path) {
		return 2
	}
	return 1
}

func stem(path string) string {
	b := filepath.Base(path)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

// maxDepth bounds how deep MakeSplit looks below the data and photo
// folders (links are followed, so this also stops link cycles).
const maxDepth = 8

// MakeSplit lists the material and divides it by a fixed, deterministic
// rule on whole shots (the file system is only listed, nothing is
// decoded):
//
//   - every folder of PNG/JPEG frames at any depth under dataDir is one
//     shot (DAVIS-2016: one folder per sequence), every video file one
//     shot;
//   - a shot IsValShot names (ValShots: the baseball clip and the DAVIS
//     sequences blackswan and car-roundabout) is one validation item;
//     every other shot is one training item, whole (BasketballPass trains
//     on all 100 frames), so a shot is never on both sides;
//   - every PNG/JPEG photograph anywhere under photoDir is a training
//     item, except those named in ValPhotos, which are validation items;
//   - JPEG frames and photographs get Downscale 2, lossless ones 1.
//
// Whichever of the shots are present are split; a data folder holding
// only some of them (or none of the validation shots, leaving Val without
// frames) is fine. Links are followed; hidden files and folders are
// skipped. Items are listed in lexical path order. An empty dataDir or
// photoDir is skipped; a missing one is an error.
func MakeSplit(dataDir, photoDir string) (Split, error) {
	var s Split
	if dataDir != "" {
		if err := splitData(&s, dataDir); err != nil {
			return Split{}, err
		}
	}
	if photoDir != "" {
		if err := splitPhotos(&s, photoDir); err != nil {
			return Split{}, err
		}
	}
	return s, s.Disjoint()
}

// walk calls fn for every non-hidden entry below dir, in lexical order,
// following links, with its path relative to root; a folder's entries come
// right after it. Folders deeper than maxDepth are not entered.
func walk(root, dir string, depth int, fn func(path, rel string, info fs.FileInfo) error) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path) // follow links
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if err := fn(path, filepath.ToSlash(rel), info); err != nil {
			return err
		}
		if info.IsDir() && depth < maxDepth {
			if err := walk(root, path, depth+1, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func splitData(s *Split, dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("split: data folder: %w", err)
	}
	err := walk(dir, dir, 0, func(path, rel string, info fs.FileInfo) error {
		var it Item
		switch {
		case info.IsDir():
			frames, err := LoadFrames(path)
			if errors.Is(err, ErrNoFrames) {
				return nil
			}
			if err != nil {
				return err
			}
			it = framesItem(rel, frames)
		case info.Mode().IsRegular() && isVideoFile(path):
			it = Item{Name: rel, Kind: KindVideo, Paths: []string{path}}
		default:
			return nil
		}
		if IsValShot(path) {
			s.Val = append(s.Val, it)
		} else {
			s.Train = append(s.Train, it)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("split %s: %w", dir, err)
	}
	return nil
}

func framesItem(folder string, frames []string) Item {
	return Item{
		Name:      fmt.Sprintf("%s/%s-%s", folder, stem(frames[0]), stem(frames[len(frames)-1])),
		Kind:      KindFrames,
		Paths:     slices.Clone(frames),
		Downscale: downscaleFor(frames[0]),
	}
}

func splitPhotos(s *Split, dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("split: photo folder: %w", err)
	}
	val := ValPhotos()
	err := walk(dir, dir, 0, func(path, rel string, info fs.FileInfo) error {
		if !info.Mode().IsRegular() || !isImageFile(path) {
			return nil
		}
		it := Item{Name: rel, Kind: KindPhoto, Paths: []string{path}, Downscale: downscaleFor(path)}
		if slices.Contains(val, stem(path)) {
			s.Val = append(s.Val, it)
		} else {
			s.Train = append(s.Train, it)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("split photos %s: %w", dir, err)
	}
	return nil
}

// Disjoint checks that the split keeps whole shots apart: no file is in
// both the training and the validation set (comparing cleaned absolute
// paths), no shot (a frame folder, or a video file without its extension:
// "clip.mp4" and the folder "clip" are one shot) has frames on both sides,
// no training item is one of ValShots, and no photo name is in both.
func (s Split) Disjoint() error {
	key := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return filepath.Clean(p)
	}
	shots := func(it Item) []string {
		var out []string
		switch it.Kind {
		case KindFrames:
			for _, p := range it.Paths {
				out = append(out, key(filepath.Dir(p)))
			}
		case KindVideo:
			for _, p := range it.Paths {
				out = append(out, strings.TrimSuffix(key(p), filepath.Ext(p)))
			}
		}
		return out
	}
	train := map[string]bool{}
	trainShots := map[string]bool{}
	trainPhotos := map[string]bool{}
	for _, it := range s.Train {
		for _, p := range it.Paths {
			train[key(p)] = true
		}
		for _, sh := range shots(it) {
			if IsValShot(sh) {
				return fmt.Errorf("split: %s (item %s) is a validation shot in the training set", sh, it.Name)
			}
			trainShots[sh] = true
		}
		if it.Kind == KindPhoto {
			trainPhotos[stem(it.Paths[0])] = true
		}
	}
	for _, it := range s.Val {
		for _, p := range it.Paths {
			if train[key(p)] {
				return fmt.Errorf("split: %s is in both the training and the validation set", p)
			}
		}
		for _, sh := range shots(it) {
			if trainShots[sh] {
				return fmt.Errorf("split: shot %s (item %s) has frames in both the training and the validation set", sh, it.Name)
			}
		}
		if it.Kind == KindPhoto && trainPhotos[stem(it.Paths[0])] {
			return fmt.Errorf("split: photo %s is in both the training and the validation set", stem(it.Paths[0]))
		}
	}
	return nil
}
