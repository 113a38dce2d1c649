package dataset

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"sync"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/video"
)

// Source yields training clips of ground-truth frames.
type Source interface {
	// Name identifies the source in logs and errors.
	Name() string
	// Clip returns frames consecutive frames of h x w pixels, every random
	// choice (temporal position, crop, motion, flips) drawn from r. It
	// fails when the source is too short or too small. Clip is safe for
	// concurrent use; with the same r state it returns the same clip.
	Clip(r *rand.Rand, frames, h, w int) ([]*frame.Image, error)
}

// ErrTooSmall means a source cannot provide a clip of the requested length
// or size.
var ErrTooSmall = errors.New("source too small for the requested clip")

// Options configure the sources. The zero value gives the defaults.
type Options struct {
	// HFlip, VFlip and Reverse enable random augmentations, each applied
	// to a whole clip with probability 1/2: horizontal flip, vertical flip
	// and time reversal.
	HFlip, VFlip, Reverse bool

	// MaxMemory is the size in bytes (as float32 frames) up to which a real
	// video is decoded once and held in memory; longer ones are read from
	// disk for every clip. 0 means 256 MiB.
	MaxMemory int64

	// Downscale is the factor by which photographs are shrunk (area
	// filter) before crops are taken, removing JPEG artefacts. 0 means 2
	// (or the Item's Downscale, through Item.Source).
	Downscale int
	// VideoDownscale is the factor by which the frames of real videos
	// (frame folders and video files) are shrunk (area filter, the size
	// rounded down) before crops are taken. 0 means 1, none (or the
	// Item's Downscale, through Item.Source: 2 for the DAVIS JPEGs).
	VideoDownscale int
	// Motions are the pseudo-video motions drawn from, uniformly. Empty
	// means Pan, Zoom and Jitter.
	Motions []Motion
	// MaxSpeed bounds a pan's speed in pixels per frame (of the downscaled
	// photo) along each axis; 0 means 3.
	MaxSpeed float64
	// MaxZoom bounds a zoom's relative change of scale per frame; 0 means
	// 0.01 (1% per frame).
	MaxZoom float64
	// Jitter bounds the random per-frame offset of a jitter motion in
	// pixels; 0 means 1.
	Jitter float64
	// Cache holds decoded photos shared between sources; nil means each
	// photo source keeps its own photo after the first use.
	Cache *Cache
}

func (o Options) maxMemory() int64 {
	if o.MaxMemory > 0 {
		return o.MaxMemory
	}
	return 256 << 20
}

func (o Options) videoDownscale() int { return max(o.VideoDownscale, 1) }

func frameBytes(w, h int) int64 { return int64(w) * int64(h) * 3 * 4 }

// augment applies the enabled random flips and time reversal to clip in
// place. The draws are made whether or not an augmentation is enabled, so
// enabling one does not shift the random stream of the others.
func augment(r *rand.Rand, o Options, clip []*frame.Image) {
	h, v, rev := r.IntN(2) == 1, r.IntN(2) == 1, r.IntN(2) == 1
	if o.HFlip && h {
		for _, f := range clip {
			flipH(f)
		}
	}
	if o.VFlip && v {
		for _, f := range clip {
			flipV(f)
		}
	}
	if o.Reverse && rev {
		for i, j := 0, len(clip)-1; i < j; i, j = i+1, j-1 {
			clip[i], clip[j] = clip[j], clip[i]
		}
	}
}

func flipH(m *frame.Image) {
	for y := 0; y < m.H; y++ {
		row := m.Pix[y*m.W*3 : (y+1)*m.W*3]
		for i, j := 0, m.W-1; i < j; i, j = i+1, j-1 {
			for c := range 3 {
				row[i*3+c], row[j*3+c] = row[j*3+c], row[i*3+c]
			}
		}
	}
}

func flipV(m *frame.Image) {
	n := m.W * 3
	tmp := make([]float32, n)
	for i, j := 0, m.H-1; i < j; i, j = i+1, j-1 {
		a, b := m.Pix[i*n:(i+1)*n], m.Pix[j*n:(j+1)*n]
		copy(tmp, a)
		copy(a, b)
		copy(b, tmp)
	}
}

// window draws the temporal start and the crop of a clip from a video of n
// frames of size vw x vh.
func window(r *rand.Rand, name string, n, vw, vh, frames, h, w int) (int, image.Rectangle, error) {
	if frames < 1 || h < 1 || w < 1 {
		return 0, image.Rectangle{}, fmt.Errorf("%s: clip of %d frames of %dx%d: %w", name, frames, w, h, ErrTooSmall)
	}
	if n < frames || vw < w || vh < h {
		return 0, image.Rectangle{}, fmt.Errorf("%s: %d frames of %dx%d for a clip of %d frames of %dx%d: %w", name, n, vw, vh, frames, w, h, ErrTooSmall)
	}
	t := r.IntN(n - frames + 1)
	x := r.IntN(vw - w + 1)
	y := r.IntN(vh - h + 1)
	return t, image.Rect(x, y, x+w, y+h), nil
}

// FrameSource is a real video stored as a list of PNG/JPEG frame files,
// each shrunk by Options.VideoDownscale. Clips are a random run of
// consecutive frames with one random crop, plus the augmentations of
// Options. Small videos are decoded once and kept in
// memory; larger ones are decoded from disk for every clip.
type FrameSource struct {
	name  string
	paths []string
	w, h  int
	opt   Options

	once   sync.Once
	frames []*frame.Image // nil when streamed
	err    error
}

// NewFrameSource returns a source over the given frame files, in order. The
// frames must all have the size of the first, which is read now; pixels are
// read on the first Clip. The source's size is the frames' size divided by
// Options.VideoDownscale (rounded down).
func NewFrameSource(name string, paths []string, opt Options) (*FrameSource, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("frame source %s: %w", name, ErrNoFrames)
	}
	w, h, err := imageSize(paths[0])
	if err != nil {
		return nil, fmt.Errorf("frame source %s: %w", name, err)
	}
	f := opt.videoDownscale()
	if w/f < 1 || h/f < 1 {
		return nil, fmt.Errorf("frame source %s: %dx%d frames shrunk by %d: %w", name, w, h, f, ErrTooSmall)
	}
	return &FrameSource{name: name, paths: paths, w: w / f, h: h / f, opt: opt}, nil
}

// NewFolderSource is NewFrameSource over the frames LoadFrames finds in
// dir, named after dir.
func NewFolderSource(dir string, opt Options) (*FrameSource, error) {
	paths, err := LoadFrames(dir)
	if err != nil {
		return nil, err
	}
	return NewFrameSource(dir, paths, opt)
}

// Name returns the source's name.
func (s *FrameSource) Name() string { return s.name }

// Len returns the number of frames.
func (s *FrameSource) Len() int { return len(s.paths) }

// Size returns the frame size (after Options.VideoDownscale).
func (s *FrameSource) Size() (w, h int) { return s.w, s.h }

func (s *FrameSource) load(i int) (*frame.Image, error) {
	m, err := frame.Load(s.paths[i])
	if err != nil {
		return nil, fmt.Errorf("frame source %s: %w", s.name, err)
	}
	m = shrink(m, s.opt.videoDownscale())
	if m.W != s.w || m.H != s.h {
		return nil, fmt.Errorf("frame source %s: %s is %dx%d after shrinking by %d, the first frame %dx%d",
			s.name, s.paths[i], m.W, m.H, s.opt.videoDownscale(), s.w, s.h)
	}
	return m, nil
}

// Clip implements Source.
func (s *FrameSource) Clip(r *rand.Rand, frames, h, w int) ([]*frame.Image, error) {
	t, rect, err := window(r, s.name, len(s.paths), s.w, s.h, frames, h, w)
	if err != nil {
		return nil, err
	}
	s.once.Do(func() {
		if frameBytes(s.w, s.h)*int64(len(s.paths)) > s.opt.maxMemory() {
			return
		}
		all := make([]*frame.Image, len(s.paths))
		for i := range all {
			if all[i], s.err = s.load(i); s.err != nil {
				return
			}
		}
		s.frames = all
	})
	if s.err != nil {
		return nil, s.err
	}
	clip := make([]*frame.Image, frames)
	for i := range clip {
		var f *frame.Image
		if s.frames != nil {
			f = s.frames[t+i]
		} else if f, err = s.load(t + i); err != nil {
			return nil, err
		}
		clip[i] = f.Crop(rect)
	}
	augment(r, s.opt, clip)
	return clip, nil
}

// VideoSource is a real video file decoded with package video (ffmpeg),
// each frame shrunk by Options.VideoDownscale. Clips are drawn as for
// FrameSource. A video whose decoded frames fit in
// Options.MaxMemory is decoded once by NewVideoSource; a larger one is
// decoded from its start up to the clip for every Clip, which is slow for
// clips late in long videos.
type VideoSource struct {
	ctx    context.Context
	path   string
	n      int
	w, h   int
	opt    Options
	frames []*frame.Image // nil when streamed
}

// NewVideoSource probes the video at path and, when it is small enough,
// decodes all its frames. ctx bounds this decoding and every later
// streamed decoding.
func NewVideoSource(ctx context.Context, path string, opt Options) (*VideoSource, error) {
	info, err := video.Probe(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("video source %s: %w", path, err)
	}
	f := opt.videoDownscale()
	if info.Width/f < 1 || info.Height/f < 1 {
		return nil, fmt.Errorf("video source %s: %dx%d frames shrunk by %d: %w", path, info.Width, info.Height, f, ErrTooSmall)
	}
	s := &VideoSource{ctx: ctx, path: path, n: info.Frames, w: info.Width / f, h: info.Height / f, opt: opt}
	if frameBytes(s.w, s.h)*int64(s.n) > opt.maxMemory() {
		return s, nil
	}
	rd, err := video.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("video source %s: %w", path, err)
	}
	defer rd.Close()
	var all []*frame.Image
	for {
		fr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("video source %s: %w", path, err)
		}
		all = append(all, shrink(fr, f))
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("video source %s: %w", path, ErrNoFrames)
	}
	s.frames, s.n = all, len(all)
	return s, nil
}

// Name returns the video's path.
func (s *VideoSource) Name() string { return s.path }

// Len returns the number of frames (as probed, or as decoded when held in
// memory).
func (s *VideoSource) Len() int { return s.n }

// Clip implements Source.
func (s *VideoSource) Clip(r *rand.Rand, frames, h, w int) ([]*frame.Image, error) {
	t, rect, err := window(r, s.path, s.n, s.w, s.h, frames, h, w)
	if err != nil {
		return nil, err
	}
	clip := make([]*frame.Image, 0, frames)
	if s.frames != nil {
		for i := range frames {
			clip = append(clip, s.frames[t+i].Crop(rect))
		}
	} else {
		rd, err := video.Open(s.ctx, s.path)
		if err != nil {
			return nil, fmt.Errorf("video source %s: %w", s.path, err)
		}
		defer rd.Close()
		for i := 0; i < t+frames; i++ {
			f, err := rd.Next()
			if err != nil {
				return nil, fmt.Errorf("video source %s: frame %d: %w", s.path, i, err)
			}
			if i >= t {
				clip = append(clip, shrink(f, s.opt.videoDownscale()).Crop(rect))
			}
		}
	}
	augment(r, s.opt, clip)
	return clip, nil
}
