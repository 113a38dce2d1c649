// Package checkpoint makes a long upscale resumable. It keeps, in a hidden
// folder next to the output (".OUT.pssr-ckpt"), the frames of the finished
// temporal windows as lossless FFV1 segments, the cross-fade state of the
// stream after the last finished window (tiling.State, every float bit), and
// a small JSON manifest that ties them to the input, the model and the
// options (Key). Every file is written to a temporary name and renamed, and
// the manifest names only complete files, so a checkpoint survives SIGKILL,
// a power cut or a full disk at any point.
//
// A window is the unit of work: the manifest lists, per segment, the frames
// and the windows it holds, and the state file is everything needed to
// compute window Manifest.Windows onwards. A resumed run replays the
// segments into a fresh output and continues the stream from the state, so
// its output is bit-identical to an uninterrupted run's.
package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/atomicfile"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/video"
)

// Format is the version of the manifest and state layout.
const Format = 1

const (
	manifestName = "manifest.json"
	lockName     = "lock"
)

// Errors that Open returns (wrapped, with the details).
var (
	// ErrExists means a checkpoint of an interrupted run is present and the
	// caller did not ask to resume it.
	ErrExists = errors.New("a checkpoint of an interrupted run exists")
	// ErrMismatch means the checkpoint was made from another input, model
	// or set of options.
	ErrMismatch = errors.New("the checkpoint belongs to another run")
	// ErrDamaged means a file the manifest names is missing or differs.
	ErrDamaged = errors.New("the checkpoint is damaged")
	// ErrLocked means another process holds the checkpoint.
	ErrLocked = errors.New("the checkpoint is in use by another pssr process")
)

// Key identifies the work a checkpoint belongs to.
type Key struct {
	// Input is the SHA-256 of the input (HashInput).
	Input string `json:"input_sha256"`
	// Model is the SHA-256 of the model file.
	Model string `json:"model_sha256"`
	// Options is the canonical JSON of every setting that changes the
	// output (pipeline options, codec, quality, size).
	Options json.RawMessage `json:"options"`
}

// Segment is one lossless file of finished output frames.
type Segment struct {
	// Name is the file name inside the checkpoint folder.
	Name string `json:"name"`
	// Start and End are the output frames [Start, End) it holds.
	Start int `json:"start"`
	End   int `json:"end"`
	// Windows is the number of finished windows once it is complete.
	Windows int `json:"windows"`
	// SHA256 is the hash of the file.
	SHA256 string `json:"sha256"`
}

// Manifest is the checkpoint's index, manifest.json.
type Manifest struct {
	// Format is the layout version (Format).
	Format int `json:"format"`
	// Key is the work the checkpoint belongs to.
	Key Key `json:"key"`
	// FramesTotal is the input's frame count as probed (informative).
	FramesTotal int `json:"frames_total"`
	// Windows and Emitted are State.Window and State.Emitted of State.
	Windows int `json:"windows_done"`
	Emitted int `json:"frames_done"`
	// Segments hold frames [0, Emitted) in order.
	Segments []Segment `json:"segments"`
	// SegmentBits is the bits a sample of the segments keeps: 16 (FFV1
	// gbrp16le) for an output of more than 8 bits a sample, 0 for 8 (bgr0;
	// the only kind before it was recorded).
	SegmentBits int `json:"segment_bits,omitempty"`
	// State names the state file and its hash ("" before the first window).
	State       string `json:"state,omitempty"`
	StateSHA256 string `json:"state_sha256,omitempty"`
	// Updated is the time of the last commit.
	Updated time.Time `json:"updated"`
}

// DirFor returns the checkpoint folder of output path out.
func DirFor(out string) string {
	dir, base := filepath.Split(filepath.Clean(out))
	return filepath.Join(dir, "."+base+".pssr-ckpt")
}

// Options configure Open.
type Options struct {
	// Resume continues a checkpoint found at DirFor(out); without it an
	// existing checkpoint with finished windows is an error (ErrExists).
	Resume bool
	// Every is the least time between two commits; 0 commits after every
	// window. Frames emitted between commits go to the same segment.
	Every time.Duration
	// FramesTotal is recorded in the manifest.
	FramesTotal int
	// Width, Height and FrameRate describe the output frames (for the
	// segment files).
	Width, Height int
	FrameRate     video.Rational
	// SampleBits is the bits a sample of the output keeps
	// (video.WriterOptions.SampleBits): above 8, the segments are 16-bit
	// FFV1, so that replaying them gives a 10-bit or 16-bit output the same
	// samples as an uninterrupted run's. 0 means 8.
	SampleBits int
	// Logger receives progress messages; nil means slog.Default().
	Logger *slog.Logger
}

// Checkpoint is an open, locked checkpoint folder. It is not safe for
// concurrent use.
type Checkpoint struct {
	ctx  context.Context
	dir  string
	key  Key
	opt  Options
	lock *os.File
	m    Manifest
	log  *slog.Logger

	seg      video.Writer // the segment being written, nil between commits
	segName  string
	segStart int
	segN     int
	last     time.Time
}

// Open opens or creates the checkpoint of output out for the work key and
// locks it for this process; cancelling ctx abandons the open segment. It returns the state to resume from, or nil to
// start from the first frame (no checkpoint, or one without a finished
// window). A checkpoint with finished windows is refused without
// opt.Resume (ErrExists), when its key differs from key (ErrMismatch, naming
// what differs) and when one of its files is missing or altered
// (ErrDamaged). Files the manifest does not name (left by an interrupted
// commit) are removed.
func Open(ctx context.Context, out string, key Key, opt Options) (*Checkpoint, *tiling.State, error) {
	c := &Checkpoint{ctx: ctx, dir: DirFor(out), key: key, opt: opt, log: opt.Logger}
	if c.log == nil {
		c.log = slog.Default()
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(c.dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("checkpoint %s: %w (%v)", c.dir, ErrLocked, err)
	}
	c.lock = lock
	st, err := c.load()
	if err != nil {
		c.unlock()
		return nil, nil, err
	}
	return c, st, nil
}

// load reads the manifest and state, checks them and removes stray files.
func (c *Checkpoint) load() (*tiling.State, error) {
	fresh := Manifest{Format: Format, Key: c.key, FramesTotal: c.opt.FramesTotal, SegmentBits: c.segmentBits()}
	data, err := os.ReadFile(filepath.Join(c.dir, manifestName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.m = fresh
		return nil, c.clean()
	case err != nil:
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: manifest: %v", c.dir, ErrDamaged, err)
	}
	if m.Windows == 0 { // nothing finished: start over
		c.m = fresh
		return nil, c.clean()
	}
	if !c.opt.Resume {
		return nil, fmt.Errorf("checkpoint %s: %w (%d of %d frames done): continue it with --resume, or delete the folder to start over",
			c.dir, ErrExists, m.Emitted, m.FramesTotal)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("checkpoint %s: %w: format %d, this pssr reads %d", c.dir, ErrMismatch, m.Format, Format)
	}
	if err := compareKeys(m.Key, c.key); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: %v; delete the folder to start over", c.dir, ErrMismatch, err)
	}
	if have, want := max(m.SegmentBits, 8), max(c.segmentBits(), 8); have != want {
		return nil, fmt.Errorf("checkpoint %s: %w: its segments keep %d bits a sample, this output needs %d (a checkpoint of an older pssr); delete the folder to start over",
			c.dir, ErrMismatch, have, want)
	}
	next := 0
	for _, s := range m.Segments {
		if s.Start != next || s.End <= s.Start {
			return nil, fmt.Errorf("checkpoint %s: %w: segment %s holds frames [%d, %d), expected from %d", c.dir, ErrDamaged, s.Name, s.Start, s.End, next)
		}
		if err := checkFile(c.dir, s.Name, s.SHA256); err != nil {
			return nil, err
		}
		next = s.End
	}
	if next != m.Emitted {
		return nil, fmt.Errorf("checkpoint %s: %w: segments hold %d frames, the manifest says %d", c.dir, ErrDamaged, next, m.Emitted)
	}
	if err := checkFile(c.dir, m.State, m.StateSHA256); err != nil {
		return nil, err
	}
	st, err := readState(filepath.Join(c.dir, m.State))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: %v", c.dir, ErrDamaged, err)
	}
	if st.Window != m.Windows || st.Emitted != m.Emitted {
		return nil, fmt.Errorf("checkpoint %s: %w: the state is at window %d, frame %d; the manifest at %d, %d", c.dir, ErrDamaged, st.Window, st.Emitted, m.Windows, m.Emitted)
	}
	c.m = m
	c.log.Info("checkpoint: resuming", "dir", c.dir, "windows_done", m.Windows, "frames_done", m.Emitted, "frames_total", m.FramesTotal)
	return st, c.clean()
}

// segmentBits returns Manifest.SegmentBits for this output: 16 for an
// output of more than 8 bits a sample, else 0.
func (c *Checkpoint) segmentBits() int {
	if c.opt.SampleBits > 8 {
		return 16
	}
	return 0
}

// compareKeys names the parts of have that differ from want.
func compareKeys(have, want Key) error {
	var diffs []string
	if have.Input != want.Input {
		diffs = append(diffs, fmt.Sprintf("another input (sha256 %.12s, this input %.12s)", have.Input, want.Input))
	}
	if have.Model != want.Model {
		diffs = append(diffs, fmt.Sprintf("another model (sha256 %.12s, this model %.12s)", have.Model, want.Model))
	}
	var a, b map[string]any
	if json.Unmarshal(have.Options, &a) == nil && json.Unmarshal(want.Options, &b) == nil {
		var keys []string
		for k := range a {
			if _, ok := b[k]; !ok || !jsonEqual(a[k], b[k]) {
				keys = append(keys, fmt.Sprintf("%s %s (now %s)", k, jsonText(a[k]), jsonText(b[k])))
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				keys = append(keys, fmt.Sprintf("%s unset (now %s)", k, jsonText(b[k])))
			}
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			diffs = append(diffs, "other options: "+strings.Join(keys, ", "))
		}
	} else if string(have.Options) != string(want.Options) {
		diffs = append(diffs, "other options")
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("it was made from %s", strings.Join(diffs, "; "))
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonEqual(a, b any) bool { return jsonText(a) == jsonText(b) }

// checkFile verifies that dir/name exists with the given SHA-256.
func checkFile(dir, name, sum string) error {
	if name == "" || name != filepath.Base(name) {
		return fmt.Errorf("checkpoint %s: %w: bad file name %q", dir, ErrDamaged, name)
	}
	got, err := HashFile(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w: %v", dir, ErrDamaged, err)
	}
	if got != sum {
		return fmt.Errorf("checkpoint %s: %w: %s has sha256 %.12s, the manifest says %.12s", dir, ErrDamaged, name, got, sum)
	}
	return nil
}

// clean removes the files of the folder the manifest does not name.
func (c *Checkpoint) clean() error {
	keep := map[string]bool{manifestName: true, lockName: true, c.m.State: true}
	for _, s := range c.m.Segments {
		keep[s.Name] = true
	}
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(c.dir, e.Name())); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
	}
	return nil
}

// Dir returns the checkpoint folder.
func (c *Checkpoint) Dir() string { return c.dir }

// Manifest returns a copy of the manifest as last committed.
func (c *Checkpoint) Manifest() Manifest {
	m := c.m
	m.Segments = slices.Clone(c.m.Segments)
	return m
}

// Segments returns the paths of the committed segments, in frame order.
func (c *Checkpoint) Segments() []string {
	p := make([]string, len(c.m.Segments))
	for i, s := range c.m.Segments {
		p[i] = filepath.Join(c.dir, s.Name)
	}
	return p
}

// Write appends a finished output frame to the current segment. Call it for
// every frame the stream emits after the resume point, in order.
func (c *Checkpoint) Write(f *frame.Image) error {
	if c.seg == nil {
		c.segStart = c.m.Emitted
		c.segN = 0
		c.segName = fmt.Sprintf("seg-%08d.mkv", c.segStart)
		w, err := video.Create(c.ctx, filepath.Join(c.dir, c.segName), video.WriterOptions{
			Codec: video.FFV1, Width: c.opt.Width, Height: c.opt.Height, FrameRate: c.opt.FrameRate,
			BitDepth: max(c.segmentBits(), 8), Overwrite: true, Logger: c.log,
		})
		if err != nil {
			return fmt.Errorf("checkpoint: segment: %w", err)
		}
		c.seg = w
	}
	if err := c.seg.Write(f); err != nil {
		return fmt.Errorf("checkpoint: segment %s: %w", c.segName, err)
	}
	c.segN++
	return nil
}

// Commit records st, the stream's state after a finished window: it
// completes the current segment, writes the state and then the manifest.
// It does nothing when the last commit is more recent than Options.Every
// (the frames stay in the open segment for a later commit).
func (c *Checkpoint) Commit(st *tiling.State) error {
	if c.opt.Every > 0 && !c.last.IsZero() && time.Since(c.last) < c.opt.Every {
		return nil
	}
	if st.Emitted != c.m.Emitted+c.segN {
		return fmt.Errorf("checkpoint: the stream emitted %d frames, the checkpoint holds %d", st.Emitted, c.m.Emitted+c.segN)
	}
	m := c.Manifest()
	if c.seg != nil {
		err := c.seg.Close()
		c.seg = nil
		if err != nil {
			return fmt.Errorf("checkpoint: segment %s: %w", c.segName, err)
		}
		sum, err := HashFile(filepath.Join(c.dir, c.segName))
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		m.Segments = append(m.Segments, Segment{Name: c.segName, Start: c.segStart, End: c.segStart + c.segN, Windows: st.Window, SHA256: sum})
	}
	name := fmt.Sprintf("state-%06d.bin", st.Window)
	h := sha256.New()
	if err := atomicfile.Write(filepath.Join(c.dir, name), func(w io.Writer) error {
		return writeState(io.MultiWriter(w, h), st)
	}); err != nil {
		return fmt.Errorf("checkpoint: state: %w", err)
	}
	oldState := m.State
	m.Windows, m.Emitted = st.Window, st.Emitted
	m.State, m.StateSHA256 = name, hex.EncodeToString(h.Sum(nil))
	m.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(c.dir, manifestName), func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("checkpoint: manifest: %w", err)
	}
	c.m = m
	c.last = time.Now()
	if oldState != "" && oldState != name {
		os.Remove(filepath.Join(c.dir, oldState))
	}
	c.log.Debug("checkpoint: committed", "windows_done", m.Windows, "frames_done", m.Emitted)
	return nil
}

// Close abandons the open segment and unlocks the checkpoint, which stays
// on disk for a later resume; a checkpoint without a finished window is
// removed.
func (c *Checkpoint) Close() error {
	if c.seg != nil {
		c.seg.Abort()
		c.seg = nil
	}
	if c.lock == nil {
		return nil
	}
	if c.m.Windows == 0 {
		return c.Remove()
	}
	c.unlock()
	return nil
}

// Remove deletes the checkpoint (once the output is complete) and unlocks it.
func (c *Checkpoint) Remove() error {
	if c.seg != nil {
		c.seg.Abort()
		c.seg = nil
	}
	err := os.RemoveAll(c.dir)
	c.unlock()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (c *Checkpoint) unlock() {
	if c.lock != nil {
		c.lock.Close() // releases the flock
		c.lock = nil
	}
}

// HashFile returns the hex SHA-256 of a file's content.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashInput returns the hex SHA-256 of an input video, or of a frame
// folder's file names and contents (in name order).
func HashInput(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return HashFile(path)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range ents { // ReadDir sorts by name
		if !e.Type().IsRegular() {
			continue
		}
		sum, err := HashFile(filepath.Join(path, e.Name()))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %s\n", sum, e.Name())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
