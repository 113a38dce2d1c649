package dataset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// Name identifies the item, e.g. "basketballpass-416x240/f001-f070".
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Paths are the frame files in order (KindFrames) or the single video
	// or photo file.
	Paths []string `json:"paths"`
}

// Source returns a Source over the item. ctx bounds the decoding of video
// files (see NewVideoSource).
func (it Item) Source(ctx context.Context, opt Options) (Source, error) {
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

// Split divides the material into training and validation items.
type Split struct {
	Train, Val []Item
}

// HeldOutVideos returns the names of the frame folders and video files
// (without extension) of the data folder that MakeSplit puts entirely in
// the validation/test set: the 720p baseball clip.
func HeldOutVideos() []string { return []string{"baseball-1280x720"} }

// ValPhotos returns the names (file name without extension) of the
// photographs MakeSplit holds out for validation: one landscape-format
// KDE Plasma photo and one mountain landscape from the Lomiri set.
func ValPhotos() []string { return []string{"Kite", "aitzgorri_by_Aitzol_Berasategi"} }

// TrainFrames returns how many leading frames of an n-frame folder are
// training frames under MakeSplit's rule: floor(0.7·n). For the 100-frame
// BasketballPass folder that is f001-f070; f071-f100 are validation.
func TrainFrames(n int) int { return n * 7 / 10 }

var videoExts = []string{".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v"}

func isVideoFile(name string) bool {
	return slices.Contains(videoExts, strings.ToLower(filepath.Ext(name)))
}

func stem(path string) string {
	b := filepath.Base(path)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

// MakeSplit lists the material and divides it by a fixed, deterministic
// rule (the file system is only listed, nothing is decoded):
//
//   - every folder of PNG/JPEG frames directly inside dataDir is split in
//     time: its first TrainFrames(n) frames (natural order) are one
//     training item, the rest one validation item, so the two never share a
//     frame (BasketballPass: f001-f070 train, f071-f100 validation);
//   - folders and video files named in HeldOutVideos (the baseball 720p
//     clip) go entirely to validation (it is the test clip);
//   - other video files directly inside dataDir are training items whole;
//   - every PNG/JPEG photograph anywhere under photoDir is a training item,
//     except those named in ValPhotos, which are validation items.
//
// Items are listed in lexical path order. An empty dataDir or photoDir is
// skipped; a missing one is an error.
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

func splitData(s *Split, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("split: %w", err)
	}
	held := HeldOutVideos()
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follow links
		if err != nil {
			return fmt.Errorf("split: %w", err)
		}
		switch {
		case info.IsDir():
			frames, err := LoadFrames(path)
			if errors.Is(err, ErrNoFrames) {
				continue
			}
			if err != nil {
				return fmt.Errorf("split: %w", err)
			}
			if slices.Contains(held, name) {
				s.Val = append(s.Val, framesItem(name, frames))
				continue
			}
			n := TrainFrames(len(frames))
			if n > 0 {
				s.Train = append(s.Train, framesItem(name, frames[:n]))
			}
			if n < len(frames) {
				s.Val = append(s.Val, framesItem(name, frames[n:]))
			}
		case info.Mode().IsRegular() && isVideoFile(name):
			it := Item{Name: name, Kind: KindVideo, Paths: []string{path}}
			if slices.Contains(held, stem(name)) {
				s.Val = append(s.Val, it)
			} else {
				s.Train = append(s.Train, it)
			}
		}
	}
	return nil
}

func framesItem(folder string, frames []string) Item {
	return Item{
		Name:  fmt.Sprintf("%s/%s-%s", folder, stem(frames[0]), stem(frames[len(frames)-1])),
		Kind:  KindFrames,
		Paths: slices.Clone(frames),
	}
}

func splitPhotos(s *Split, dir string) error {
	val := ValPhotos()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && path != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isImageFile(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		it := Item{Name: filepath.ToSlash(rel), Kind: KindPhoto, Paths: []string{path}}
		if slices.Contains(val, stem(path)) {
			s.Val = append(s.Val, it)
		} else {
			s.Train = append(s.Train, it)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("split photos: %w", err)
	}
	return nil
}

// Disjoint checks that no file is in both the training and the validation
// set (comparing cleaned absolute paths) and that no photo name is in both.
func (s Split) Disjoint() error {
	key := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return filepath.Clean(p)
	}
	train := map[string]bool{}
	trainPhotos := map[string]bool{}
	for _, it := range s.Train {
		for _, p := range it.Paths {
			train[key(p)] = true
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
		if it.Kind == KindPhoto && trainPhotos[stem(it.Paths[0])] {
			return fmt.Errorf("split: photo %s is in both the training and the validation set", stem(it.Paths[0]))
		}
	}
	return nil
}
