package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pssr/pssr/frame"
)

// WriterOptions configure Create.
type WriterOptions struct {
	// Codec is the output encoding; "" picks CodecForPath(path).
	Codec Codec
	// CRF is the constant-quality level for H264, H265 and VP9 (lower is
	// better); 0 means the codec's default (18, 20, 30). FFV1 and PNG are
	// lossless and ignore it.
	CRF int
	// Width and Height fix the frame size; 0 takes it from the first frame.
	// Every frame must have this size.
	Width, Height int
	// FrameRate is the exact output rate; the zero value means 25/1.
	FrameRate Rational
	// Rotation is the display rotation (counter-clockwise degrees, a
	// multiple of 90) stored as metadata, as Info.Rotation reports it;
	// frames are not rotated. It is added by a stream-copy remux after
	// encoding (an extra pass over the output file). MP4/MOV store it as a
	// display matrix; Matroska/WebM also get a ROTATE tag, which Probe reads
	// back but players ignore (ffmpeg before 6 has no other way to store it
	// there). A PNG folder cannot store it (a warning is logged).
	Rotation int
	// StreamsFrom is an input whose audio and subtitle streams are copied,
	// without re-encoding, into the output; "" for none. Streams the output
	// container cannot hold are skipped with a warning. PNG output takes no
	// streams.
	StreamsFrom string
	// Overwrite allows replacing an existing output. An existing folder is
	// replaced only if it holds nothing but PNG/JPEG frames, and nothing
	// that is not a regular file or a folder (a device, a FIFO, a link) is
	// ever replaced.
	Overwrite bool
	// BitDepth is the input's bits per sample (Info.BitDepth); above 8,
	// H265 and VP9 write 10-bit 4:2:0 (4:4:4 for odd sizes) and FFV1
	// 16-bit RGB, from a 16-bit pipe, and PNG writes 16-bit RGB (rgb48)
	// frames. H264 stays 8-bit.
	BitDepth int
	// Timestamps, when not nil, time the frames of a video output: frame i
	// is shown at Timestamps.PTS[i] (relative to the start of the file, as
	// ProbeTiming gives them for StreamsFrom), so that a variable-rate
	// input keeps its timing and its audio stays in sync. The frames then
	// reach ffmpeg in a minimal Matroska stream with one timestamp per
	// frame and are encoded without duplication or dropping; FrameRate is
	// only the nominal rate. Exactly len(PTS) frames must be written, and
	// Close checks the output's timestamps against them (to 1 ms). Nil
	// keeps the constant-rate path: a raw pipe at FrameRate. A PNG folder
	// or image has no timestamps: they are ignored there.
	Timestamps *Timing
	// Frames is the number of frames the caller will write, 0 when not
	// known. A single-image output (a .png file) is refused up front when
	// it is above 1.
	Frames int
	// Logger receives warnings (skipped streams); nil means slog.Default().
	Logger *slog.Logger
}

// Writer encodes frames into a video file or a PNG folder. It is not safe
// for concurrent use, except that Abort may be called from another
// goroutine.
type Writer interface {
	// Write appends a frame (samples are clamped to [0, 1] and rounded to
	// 8 bits, or 16 for a deep output: WriterOptions.SampleBits).
	Write(*frame.Image) error
	// Close finishes the output and renames it into place. It fails with
	// ErrNoFrames when no frame was written.
	Close() error
	// Abort stops the encoder and removes the unfinished output.
	Abort() error
}

// container is the family of an output file, from its extension.
type container int

const (
	ctOther container = iota
	ctMP4
	ctMOV
	ctMKV
	ctWebM
)

func containerOf(path string) container {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp4", ".m4v":
		return ctMP4
	case ".mov":
		return ctMOV
	case ".mkv":
		return ctMKV
	case ".webm":
		return ctWebM
	}
	return ctOther
}

// holdsAudio reports whether the container can take an audio codec as is.
func (c container) holdsAudio(codec string) bool {
	switch c {
	case ctMKV:
		return true
	case ctWebM:
		return codec == "opus" || codec == "vorbis"
	case ctMP4:
		switch codec {
		case "aac", "mp3", "mp2", "ac3", "eac3", "opus", "alac", "dts":
			return true
		}
	case ctMOV:
		switch codec {
		case "aac", "mp3", "mp2", "ac3", "eac3", "alac":
			return true
		}
		return strings.HasPrefix(codec, "pcm_")
	}
	return false
}

// holdsSubtitle reports whether the container can take a subtitle codec as
// is.
func (c container) holdsSubtitle(codec string) bool {
	switch c {
	case ctMKV:
		return codec != "mov_text" && codec != "eia_608"
	case ctWebM:
		return codec == "webvtt"
	case ctMP4, ctMOV:
		return codec == "mov_text"
	}
	return false
}

// holdsVideo reports whether the container can take the codec.
func (c container) holdsVideo(codec Codec) bool {
	switch c {
	case ctWebM:
		return codec == VP9
	case ctMP4:
		return codec != FFV1
	}
	return true
}

// Create starts writing a video file (or, for the PNG codec, a folder of
// frames) at path. Nothing appears at path until Close succeeds: frames go
// to a hidden temporary file next to it (".NAME.tmp-XXXX.ext"), removed by
// Abort, by any error and when ctx is cancelled.
//
// Create fails when path is also opt.StreamsFrom (ErrSameFile), when path
// exists and opt.Overwrite is false (ErrExists), and when the codec cannot
// go into the container (ErrUnsupported).
func Create(ctx context.Context, path string, opt WriterOptions) (Writer, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Codec == "" {
		opt.Codec = CodecForPath(path)
	}
	op := fmt.Sprintf("create %q", path)
	if opt.Width < 0 || opt.Height < 0 || (opt.Width == 0) != (opt.Height == 0) {
		return nil, fmt.Errorf("video: %s: %w: size %dx%d", op, ErrUnsupported, opt.Width, opt.Height)
	}
	if opt.Rotation%90 != 0 {
		return nil, fmt.Errorf("video: %s: %w: rotation %d is not a multiple of 90", op, ErrUnsupported, opt.Rotation)
	}
	opt.Rotation = normRotation(float64(opt.Rotation))
	if !opt.FrameRate.Valid() {
		if opt.FrameRate != (Rational{}) {
			return nil, fmt.Errorf("video: %s: %w: frame rate %s", op, ErrUnsupported, opt.FrameRate)
		}
		opt.FrameRate = folderRate
	}
	// Never write over an input, a device or another writer's output.
	if err := CheckOutput(path, opt); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("video: %s: %w", op, err)
	}
	kind, _ := outputKindOf(abs, opt.Codec)
	folder := kind == kindFolder
	if kind != kindVideo {
		opt.Timestamps = nil
	} else if opt.Timestamps != nil {
		if err := opt.Timestamps.check(); err != nil {
			return nil, fmt.Errorf("video: %s: %w: frame timestamps: %v", op, ErrUnsupported, err)
		}
	}
	dir := filepath.Dir(abs)

	w := &writer{ctx: ctx, path: abs, opt: opt, kind: kind, folder: folder, stderr: &tailBuffer{},
		width: opt.Width, height: opt.Height}
	if kind != kindVideo {
		if opt.Rotation != 0 {
			opt.Logger.Warn("video: a PNG output cannot store rotation metadata; frames stay unrotated", "path", path, "rotation", opt.Rotation)
		}
	} else {
		if err := CheckTools(); err != nil {
			return nil, err
		}
		if opt.StreamsFrom != "" {
			if w.streamArgs, err = planStreams(ctx, abs, opt.StreamsFrom, opt.Logger); err != nil {
				return nil, err
			}
		}
	}

	base := filepath.Base(abs)
	if folder {
		w.tmp, err = os.MkdirTemp(dir, tmpPattern(abs, ""))
	} else {
		var f *os.File
		if f, err = os.CreateTemp(dir, tmpPattern(abs, filepath.Ext(base))); err == nil {
			w.tmp = f.Name()
			err = f.Close()
		}
	}
	if err != nil {
		if w.tmp != "" {
			os.RemoveAll(w.tmp)
		}
		return nil, fmt.Errorf("video: %s: temporary output: %w", op, err)
	}
	if kind == kindVideo && w.width > 0 {
		if err := w.start(); err != nil {
			os.Remove(w.tmp)
			return nil, err
		}
	}
	w.stopAfter = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.failLocked(ctxErr(ctx, fmt.Sprintf("write %q", w.path)))
	})
	return w, nil
}

// samePath reports whether out names the same file as in, by cleaned
// absolute path or by os.SameFile (links).
func samePath(out, in string) (bool, error) {
	inAbs, err := filepath.Abs(in)
	if err != nil {
		return false, err
	}
	if filepath.Clean(out) == filepath.Clean(inAbs) {
		return true, nil
	}
	a, err1 := os.Stat(out)
	b, err2 := os.Stat(in)
	return err1 == nil && err2 == nil && os.SameFile(a, b), nil
}

// planStreams returns the -map arguments copying the source's audio and
// subtitle streams that the output container can hold.
func planStreams(ctx context.Context, out, src string, log *slog.Logger) ([]string, error) {
	p, err := runProbe(ctx, src)
	if err != nil {
		return nil, err
	}
	ct := containerOf(out)
	var args []string
	na, ns, nt := 0, 0, 0
	for _, s := range p.Streams {
		switch s.CodecType {
		case "audio":
			if ct.holdsAudio(s.CodecName) {
				args = append(args, "-map", "1:a:"+strconv.Itoa(na))
			} else {
				log.Warn("video: audio stream skipped: the output container cannot hold it without re-encoding",
					"source", src, "stream", s.Index, "codec", s.CodecName, "output", out)
			}
			na++
		case "subtitle":
			if ct.holdsSubtitle(s.CodecName) {
				args = append(args, "-map", "1:s:"+strconv.Itoa(ns))
			} else {
				log.Warn("video: subtitle stream skipped: the output container cannot hold it without re-encoding",
					"source", src, "stream", s.Index, "codec", s.CodecName, "output", out)
			}
			ns++
		case "attachment":
			if ct == ctMKV {
				args = append(args, "-map", "1:t:"+strconv.Itoa(nt))
			}
			nt++
		}
	}
	args = append(args, "-c:a", "copy", "-c:s", "copy", "-map_metadata", "1", "-map_chapters", "1")
	return args, nil
}

// rotationArgs returns ffmpeg arguments (before the input, and for the
// output) that store a counter-clockwise display rotation while stream
// copying. Encoding cannot set it with every ffmpeg version (5.1 ignores a
// rotate tag on encoded streams), so the writer stores it in a remux pass.
func rotationArgs(major int, ct container, rot int) (in, out []string) {
	r := strconv.Itoa(rot)
	if ct == ctMKV || ct == ctWebM {
		// Matroska has no display matrix before ffmpeg 6; keep a tag that
		// Probe reads back.
		out = []string{"-metadata:s:v:0", "ROTATE=" + r}
	}
	switch {
	case major >= 6:
		in = []string{"-display_rotation", r}
	case major == 5:
		// ffmpeg 5 turns the rotate tag into a display matrix of that
		// counter-clockwise angle (checked with 5.1).
		out = append(out, "-metadata:s:v:0", "rotate="+r)
	default:
		// Older ffmpeg took the tag as a clockwise angle.
		out = append(out, "-metadata:s:v:0", "rotate="+strconv.Itoa((360-rot)%360))
	}
	return in, out
}

// writer implements Writer for both files and folders.
type writer struct {
	mu        sync.Mutex
	ctx       context.Context
	path, tmp string
	opt       WriterOptions
	kind      outputKind
	folder    bool // kind == kindFolder
	width     int
	height    int

	streamArgs []string

	cmd    *exec.Cmd
	in     io.WriteCloser
	mkv    *mkvWriter // the Matroska stream on in, with Timestamps
	stderr *tailBuffer
	buf    []byte
	n      int

	done      bool  // closed, aborted or failed
	result    error // what Close returns once done
	stopAfter func() bool
}

// SampleBits returns the bits a sample keeps on its way into an output that
// Create makes with o: 16 (a 16-bit pipe) when BitDepth is above 8 and the
// codec keeps more than 8 bits (H265 and VP9 10-bit, FFV1 and PNG 16-bit),
// else 8.
// Frames that went through an output of 16 bits a sample and are read back
// write the same output again, bit for bit. o.Codec must be set.
func (o WriterOptions) SampleBits() int {
	switch o.Codec {
	case H265, VP9, FFV1, PNG:
		if o.BitDepth > 8 {
			return 16
		}
	}
	return 8
}

// deep reports whether the output keeps more than 8 bits a sample.
func (w *writer) deep() bool { return w.opt.SampleBits() > 8 }

// yuvFormat picks 4:2:0 for even sizes, else 4:4:4 (no silent padding),
// 10-bit for deep outputs.
func (w *writer) yuvFormat() string {
	f := "yuv444p"
	if w.width%2 == 0 && w.height%2 == 0 {
		f = "yuv420p"
	}
	if w.deep() {
		f += "10le"
	}
	return f
}

// encodeArgs returns the output codec arguments.
func (w *writer) encodeArgs() []string {
	crf := func(def int) string {
		if w.opt.CRF > 0 {
			return strconv.Itoa(w.opt.CRF)
		}
		return strconv.Itoa(def)
	}
	// rgb24 -> Y'CbCr with the BT.709 matrix, tagged so decoders invert it.
	color := []string{"-vf", "scale=out_color_matrix=bt709:out_range=tv",
		"-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"}
	ct := containerOf(w.path)
	var a []string
	switch w.opt.Codec {
	case H264:
		a = append([]string{"-c:v", "libx264", "-preset", "medium", "-crf", crf(18), "-pix_fmt", w.yuvFormat()}, color...)
	case H265:
		a = append([]string{"-c:v", "libx265", "-preset", "medium", "-crf", crf(20), "-pix_fmt", w.yuvFormat(),
			"-x265-params", "log-level=error"}, color...)
		if ct == ctMP4 || ct == ctMOV {
			a = append(a, "-tag:v", "hvc1")
		}
	case VP9:
		a = append([]string{"-c:v", "libvpx-vp9", "-crf", crf(30), "-b:v", "0", "-row-mt", "1", "-pix_fmt", w.yuvFormat()}, color...)
	case FFV1:
		a = []string{"-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-pix_fmt", "bgr0"}
		if w.deep() {
			a[len(a)-1] = "gbrp16le"
		}
	}
	if (ct == ctMP4 || ct == ctMOV) && w.opt.Rotation == 0 { // else the remux does it
		a = append(a, "-movflags", "+faststart")
	}
	return a
}

// start launches ffmpeg once the frame size is known. Called with mu held
// (or before the writer is shared).
func (w *writer) start() error {
	pipeFmt := "rgb24"
	if w.deep() {
		pipeFmt = "rgb48le"
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}
	ts := w.opt.Timestamps
	if ts == nil {
		args = append(args, "-f", "rawvideo", "-pix_fmt", pipeFmt, "-s", fmt.Sprintf("%dx%d", w.width, w.height),
			"-r", w.opt.FrameRate.String())
	} else {
		// The Matroska stream starts at 0; ffmpeg shifts every input to
		// start at 0, so the offset of the first frame is given back.
		args = append(args, "-itsoffset", fmt.Sprintf("%.6f", float64(ts.micros(0))/1e6), "-f", "matroska")
	}
	args = append(args, "-i", "pipe:0")
	if w.opt.StreamsFrom != "" {
		args = append(args, "-i", ffPath(w.opt.StreamsFrom))
	}
	args = append(args, "-map", "0:v:0")
	args = append(args, w.streamArgs...)
	args = append(args, w.encodeArgs()...)
	if ts != nil {
		major, minor, err := toolVersion(w.ctx)
		if err != nil {
			return err
		}
		// Every frame at its own time: no duplication or dropping, and an
		// encoder time base that holds the input's exact ticks.
		args = append(args, passthroughArgs(major, minor)...)
		args = append(args, "-enc_time_base:v", ts.encTimeBase().String())
	}
	args = append(args, ffPath(w.tmp))
	w.cmd = exec.CommandContext(w.ctx, "ffmpeg", args...)
	w.cmd.Stderr = w.stderr
	w.cmd.WaitDelay = waitDelay
	var err error
	if w.in, err = w.cmd.StdinPipe(); err != nil {
		return fmt.Errorf("video: create %q: %w", w.path, err)
	}
	if err := w.cmd.Start(); err != nil {
		return fmt.Errorf("video: create %q: start ffmpeg: %w", w.path, err)
	}
	if ts != nil {
		// The nominal frame duration, in nanoseconds, for the encoder's
		// rate control (the timestamps are what the frames keep).
		dur := uint64(math.Round(1e9 / w.opt.FrameRate.Float()))
		if w.mkv, err = newMKVWriter(w.in, w.width, w.height, pipeFmt, dur); err != nil {
			_ = w.in.Close()
			_ = w.cmd.Wait()
			return fmt.Errorf("video: create %q: %w%s", w.path, err, w.stderr.suffix("ffmpeg"))
		}
	}
	return nil
}

func (w *writer) Write(m *frame.Image) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	op := fmt.Sprintf("write %q", w.path)
	if w.done {
		if w.result != nil {
			return w.result // why it ended: cancelled, aborted, failed
		}
		return fmt.Errorf("video: %s: %w", op, ErrClosed)
	}
	if err := ctxErr(w.ctx, op); err != nil {
		return w.failLocked(err)
	}
	if m == nil || m.W <= 0 || m.H <= 0 || len(m.Pix) < m.W*m.H*3 {
		return fmt.Errorf("video: %s: %w: empty or malformed frame", op, ErrFrameSize)
	}
	if i := nonFinite(m); i >= 0 {
		return w.failLocked(fmt.Errorf("video: %s: frame %d: %w: sample %d is %v (the model or the input produced NaN or infinite values; a model file with broken weights does this)",
			op, w.n+1, ErrInvalidData, i, m.Pix[i]))
	}
	if w.kind == kindImage && w.n > 0 {
		return w.failLocked(fmt.Errorf("video: %s: %w: a .png output holds one frame; write several to a folder (a name without extension)", op, ErrUnsupported))
	}
	if w.width == 0 {
		w.width, w.height = m.W, m.H
		if w.kind == kindVideo {
			if err := w.start(); err != nil {
				return w.failLocked(err)
			}
		}
	}
	if m.W != w.width || m.H != w.height {
		return fmt.Errorf("video: %s: %w: frame %d is %dx%d, the video is %dx%d",
			op, ErrFrameSize, w.n+1, m.W, m.H, w.width, w.height)
	}
	if w.kind != kindVideo {
		name := w.tmp
		if w.folder {
			name = filepath.Join(w.tmp, fmt.Sprintf("%06d.png", w.n+1))
		}
		save := frame.SavePNG
		if w.deep() {
			save = frame.SavePNG16
		}
		if err := save(name, m); err != nil {
			return w.failLocked(fmt.Errorf("video: %s: frame %d: %w", op, w.n+1, err))
		}
		w.n++
		return nil
	}
	ts := w.opt.Timestamps
	if ts != nil && w.n >= len(ts.PTS) {
		return w.failLocked(fmt.Errorf("video: %s: %w: frame %d has no timestamp, the input's timing has %d frames",
			op, ErrUnsupported, w.n+1, len(ts.PTS)))
	}
	if w.deep() {
		w.buf = toRGB48(m, w.buf)
	} else {
		w.buf = m.ToRGB24(w.buf)
	}
	var err error
	if ts != nil {
		err = w.mkv.writeFrame(uint64(ts.micros(w.n)-ts.micros(0)), w.buf)
	} else {
		_, err = w.in.Write(w.buf)
	}
	if err != nil {
		// ffmpeg died: its stderr says why.
		_ = w.in.Close()
		werr := w.cmd.Wait()
		if e := ctxErr(w.ctx, op); e != nil {
			return w.failLocked(e)
		}
		return w.failLocked(fmt.Errorf("video: %s: ffmpeg stopped at frame %d: %v (%v)%s", op, w.n+1, werr, err, w.stderr.suffix("ffmpeg")))
	}
	w.n++
	return nil
}

// failLocked ends the writer with err: kills ffmpeg, removes the temporary
// output, and returns err. It does nothing once the writer is done.
func (w *writer) failLocked(err error) error {
	if w.done {
		return err
	}
	w.done = true
	w.result = err
	if w.cmd != nil && w.cmd.Process != nil && w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Kill()
		_ = w.in.Close()
		_ = w.cmd.Wait()
	}
	os.RemoveAll(w.tmp)
	if w.stopAfter != nil {
		w.stopAfter()
	}
	return err
}

func (w *writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.failLocked(fmt.Errorf("video: write %q: aborted: %w", w.path, ErrClosed))
	return nil
}

func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.result
	}
	op := fmt.Sprintf("close %q", w.path)
	if err := ctxErr(w.ctx, op); err != nil {
		return w.failLocked(err)
	}
	if w.n == 0 {
		return w.failLocked(fmt.Errorf("video: %s: %w: no frame was written", op, ErrNoFrames))
	}
	if ts := w.opt.Timestamps; ts != nil && w.n != len(ts.PTS) {
		return w.failLocked(fmt.Errorf("video: %s: %w: %d frames were written, the input's timing has %d; the output was not written",
			op, ErrUnsupported, w.n, len(ts.PTS)))
	}
	if w.kind == kindVideo {
		_ = w.in.Close()
		if err := w.cmd.Wait(); err != nil {
			if e := ctxErr(w.ctx, op); e != nil {
				return w.failLocked(e)
			}
			return w.failLocked(fmt.Errorf("video: %s: ffmpeg failed after %d frames: %w%s", op, w.n, err, w.stderr.suffix("ffmpeg")))
		}
		// ffmpeg 5.1 exits 0 when writing the trailer fails (a full
		// disk): its messages are a failure all the same.
		if s := writeFailure(w.stderr); s != "" {
			return w.failLocked(fmt.Errorf("video: %s: ffmpeg could not write the output (%s) after %d frames%s", op, s, w.n, w.stderr.suffix("ffmpeg")))
		}
		if w.opt.Rotation != 0 {
			if err := w.remuxRotation(); err != nil {
				if e := ctxErr(w.ctx, op); e != nil {
					return w.failLocked(e)
				}
				return w.failLocked(fmt.Errorf("video: %s: store rotation: %w", op, err))
			}
		}
	}
	if err := w.verify(); err != nil {
		if e := ctxErr(w.ctx, op); e != nil {
			return w.failLocked(e)
		}
		return w.failLocked(fmt.Errorf("video: %s: %w; the output was not written", op, err))
	}
	if err := w.commit(); err != nil {
		return w.failLocked(fmt.Errorf("video: %s: %w", op, err))
	}
	w.done = true
	w.stopAfter()
	return nil
}

// remuxRotation copies the finished temporary file into a new one that
// carries the rotation metadata, and makes that the temporary file.
func (w *writer) remuxRotation() error {
	major, _, err := toolVersion(w.ctx)
	if err != nil {
		return err
	}
	ct := containerOf(w.path)
	in, out := rotationArgs(major, ct, w.opt.Rotation)
	f, err := os.CreateTemp(filepath.Dir(w.path), tmpPattern(w.path, filepath.Ext(w.path)))
	if err != nil {
		return err
	}
	tmp2 := f.Name()
	f.Close()
	args := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, in...)
	args = append(args, "-i", ffPath(w.tmp), "-map", "0", "-c", "copy")
	args = append(args, out...)
	if ct == ctMP4 || ct == ctMOV {
		args = append(args, "-movflags", "+faststart")
	}
	args = append(args, ffPath(tmp2))
	cmd := exec.CommandContext(w.ctx, "ffmpeg", args...)
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay
	if err := cmd.Run(); err != nil {
		os.Remove(tmp2)
		return fmt.Errorf("ffmpeg remux: %w%s", err, stderr.suffix("ffmpeg"))
	}
	if s := writeFailure(stderr); s != "" {
		os.Remove(tmp2)
		return fmt.Errorf("ffmpeg remux could not write the output (%s)%s", s, stderr.suffix("ffmpeg"))
	}
	os.Remove(w.tmp)
	w.tmp = tmp2
	return nil
}

// verify checks the finished temporary output before it replaces anything:
// a video decodes to exactly the frames written, a folder holds them all,
// an image decodes at its size.
func (w *writer) verify() error {
	switch w.kind {
	case kindFolder:
		return verifyFolder(w.tmp, w.n)
	case kindImage:
		return verifyImage(w.tmp, w.width, w.height)
	}
	if err := verifyVideo(w.ctx, w.tmp, w.n); err != nil {
		return err
	}
	if w.opt.Timestamps != nil {
		return verifyTiming(w.ctx, w.tmp, w.opt.Timestamps)
	}
	return nil
}

// nonFinite returns the index of the first NaN or infinite sample of m, or
// -1.
func nonFinite(m *frame.Image) int {
	for i, v := range m.Pix {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}

// commit renames the finished temporary output into place.
func (w *writer) commit() error {
	if err := checkExisting(w.path, w.folder, w.opt.Overwrite); err != nil {
		return err
	}
	// Temporary files and folders are private (0600/0700); the finished
	// output gets the usual permissions.
	mode := os.FileMode(0o644)
	if w.folder {
		mode = 0o755
	}
	if err := os.Chmod(w.tmp, mode); err != nil {
		return err
	}
	if !w.folder {
		return os.Rename(w.tmp, w.path)
	}
	if _, err := os.Lstat(w.path); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(w.tmp, w.path)
	}
	// Replace an old frame folder: move it aside, move the new one in,
	// then delete the old one.
	old, err := os.MkdirTemp(filepath.Dir(w.path), "."+filepath.Base(w.path)+".old-*")
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	if err := os.Rename(w.path, old); err != nil {
		return err
	}
	if err := os.Rename(w.tmp, w.path); err != nil {
		_ = os.Rename(old, w.path)
		return err
	}
	return os.RemoveAll(old)
}
