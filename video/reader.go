package video

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pssr/pssr/frame"
)

// Reader yields the frames of a video or frame folder in order. A Reader is
// not safe for concurrent use, except that Close may be called from another
// goroutine to stop a blocked Next.
type Reader interface {
	// Info describes the input.
	Info() *Info
	// Next returns the next frame, or io.EOF after the last one. An input
	// that decodes to fewer frames than Info().Frames gives an error
	// wrapping ErrTruncated instead of io.EOF.
	Next() (*frame.Image, error)
	// Close stops decoding and releases the ffmpeg process.
	Close() error
}

// Open starts reading a video file or a folder of PNG/JPEG frames. A file is
// decoded by ffmpeg into an rgb24 pipe, one frame at a time and without
// applying its display rotation (see Info.Rotation). Cancelling ctx stops
// the decoder; Next then returns the context's error.
func Open(ctx context.Context, path string) (Reader, error) {
	info, files, err := probe(ctx, path)
	if err != nil {
		return nil, err
	}
	if info.Folder {
		return &folderReader{ctx: ctx, info: info, files: files}, nil
	}
	return startFileReader(ctx, info)
}

// ffPath protects a file path from being taken for a protocol ("a:b.mp4")
// or an option ("-x.mp4") by ffmpeg.
func ffPath(path string) string {
	if strings.Contains(path, ":") || strings.HasPrefix(path, "-") {
		if abs, err := filepath.Abs(path); err == nil {
			return "file:" + abs
		}
		return "file:" + path
	}
	return path
}

// passthroughArgs returns the ffmpeg output option that passes every frame
// through with its own timestamp (no duplication or dropping to a constant
// rate): -fps_mode from ffmpeg 5.1, -vsync before.
func passthroughArgs(major, minor int) []string {
	if major < 5 || major == 5 && minor < 1 {
		return []string{"-vsync", "passthrough"}
	}
	return []string{"-fps_mode", "passthrough"}
}

// fileReader reads frames from an ffmpeg rawvideo pipe.
type fileReader struct {
	ctx    context.Context
	info   *Info
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *tailBuffer
	buf    []byte
	deep   bool        // the pipe carries rgb48le
	n      int         // frames returned
	err    error       // sticky end state (io.EOF or an error)
	closed atomic.Bool // set by Close, possibly from another goroutine

	waitOnce sync.Once
	waitErr  error
}

func startFileReader(ctx context.Context, info *Info) (*fileReader, error) {
	major, minor, err := toolVersion(ctx)
	if err != nil {
		return nil, err
	}
	// Pass every decoded frame through: no duplication or dropping to a
	// constant rate, so the frame count is the stream's.
	syncArgs := passthroughArgs(major, minor)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-noautorotate", "-i", ffPath(info.Path),
		"-map", "0:" + strconv.Itoa(info.StreamIndex), "-an", "-sn", "-dn"}
	args = append(args, syncArgs...)
	// Inputs of more than 8 bits a sample come through a 16-bit pipe.
	pipeFmt, bytesPer := "rgb24", 3
	if info.BitDepth > 8 {
		pipeFmt, bytesPer = "rgb48le", 6
	}
	args = append(args,
		// A fixed size keeps the pipe framing even if the stream changes
		// resolution midway.
		"-s", fmt.Sprintf("%dx%d", info.Width, info.Height),
		"-f", "rawvideo", "-pix_fmt", pipeFmt, "pipe:1")
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	r := &fileReader{ctx: ctx, info: info, cmd: cmd, stderr: &tailBuffer{},
		buf: make([]byte, info.Width*info.Height*bytesPer), deep: bytesPer == 6}
	cmd.Stderr = r.stderr
	cmd.WaitDelay = waitDelay
	if r.out, err = cmd.StdoutPipe(); err != nil {
		return nil, fmt.Errorf("video: open %q: %w", info.Path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("video: open %q: start ffmpeg: %w", info.Path, err)
	}
	return r, nil
}

func (r *fileReader) Info() *Info { return r.info }

func (r *fileReader) wait() error {
	r.waitOnce.Do(func() { r.waitErr = r.cmd.Wait() })
	return r.waitErr
}

func (r *fileReader) Next() (*frame.Image, error) {
	op := fmt.Sprintf("read %q", r.info.Path)
	if r.closed.Load() {
		return nil, fmt.Errorf("video: %s: %w", op, ErrClosed)
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := ctxErr(r.ctx, op); err != nil {
		r.stop()
		r.err = err
		return nil, err
	}
	_, err := io.ReadFull(r.out, r.buf)
	if err == nil {
		r.n++
		if r.deep {
			return fromRGB48(r.buf, r.info.Width, r.info.Height), nil
		}
		return frame.FromRGB24(r.buf, r.info.Width, r.info.Height, nil), nil
	}
	if r.closed.Load() {
		return nil, fmt.Errorf("video: %s: %w", op, ErrClosed)
	}
	partial := errors.Is(err, io.ErrUnexpectedEOF)
	if !partial && !errors.Is(err, io.EOF) {
		// The pipe was closed under us (Close from another goroutine).
		r.stop()
		r.err = fmt.Errorf("video: %s: %w", op, err)
		if e := ctxErr(r.ctx, op); e != nil {
			r.err = e
		}
		return nil, r.err
	}
	werr := r.wait()
	if e := ctxErr(r.ctx, op); e != nil {
		r.err = e
		return nil, e
	}
	got := fmt.Sprintf("after %d of %d frames", r.n, r.info.Frames)
	why := ""
	if werr != nil {
		why = ": " + werr.Error()
	}
	switch {
	case partial:
		r.err = fmt.Errorf("video: %s: %w: the last frame is incomplete, %s%s%s", op, ErrTruncated, got, why, r.stderr.suffix("ffmpeg"))
	case r.n < r.info.Frames:
		r.err = fmt.Errorf("video: %s: %w: decoding stopped %s%s%s", op, ErrTruncated, got, why, r.stderr.suffix("ffmpeg"))
	case werr != nil:
		r.err = fmt.Errorf("video: %s: %w: decoding failed %s%s%s", op, ErrInvalidData, got, why, r.stderr.suffix("ffmpeg"))
	default:
		r.err = io.EOF
	}
	return nil, r.err
}

// stop kills ffmpeg (if still running) and reaps it.
func (r *fileReader) stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Kill() // fails harmlessly when already exited
	}
	_ = r.out.Close()
	_ = r.wait()
}

func (r *fileReader) Close() error {
	r.closed.Store(true)
	r.stop()
	return nil
}

// folderReader reads a folder's PNG/JPEG files one by one.
type folderReader struct {
	ctx    context.Context
	info   *Info
	files  []string
	i      int
	closed bool
}

func (r *folderReader) Info() *Info { return r.info }

func (r *folderReader) Next() (*frame.Image, error) {
	if r.closed {
		return nil, fmt.Errorf("video: read %q: %w", r.info.Path, ErrClosed)
	}
	if err := ctxErr(r.ctx, fmt.Sprintf("read %q", r.info.Path)); err != nil {
		return nil, err
	}
	if r.i >= len(r.files) {
		return nil, io.EOF
	}
	path := r.files[r.i]
	// The size comes from the header, before decoding: a frame far larger
	// than the first (a decompression bomb) is refused without allocating
	// its pixels.
	cfg, err := decodeConfig(path)
	if err != nil {
		return nil, fmt.Errorf("video: read folder %q: frame %d %q: %w: %w", r.info.Path, r.i+1, filepath.Base(path), ErrInvalidData, err)
	}
	if cfg.Width != r.info.Width || cfg.Height != r.info.Height {
		return nil, fmt.Errorf("video: read folder %q: frame %d %q is %dx%d, the first is %dx%d: %w",
			r.info.Path, r.i+1, filepath.Base(path), cfg.Width, cfg.Height, r.info.Width, r.info.Height, ErrFrameSize)
	}
	m, err := frame.Load(path)
	if err != nil {
		return nil, fmt.Errorf("video: read folder %q: frame %d %q: %w: %w", r.info.Path, r.i+1, filepath.Base(path), ErrInvalidData, err)
	}
	if m.W != r.info.Width || m.H != r.info.Height {
		return nil, fmt.Errorf("video: read folder %q: frame %d %q is %dx%d, the first is %dx%d: %w",
			r.info.Path, r.i+1, filepath.Base(path), m.W, m.H, r.info.Width, r.info.Height, ErrFrameSize)
	}
	r.i++
	return m, nil
}

// decodeConfig reads an image file's header: its size and format.
func decodeConfig(path string) (image.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	return cfg, err
}

func (r *folderReader) Close() error {
	r.closed = true
	return nil
}
