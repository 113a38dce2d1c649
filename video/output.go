package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// videoExts are the file extensions a video output may have; ffmpeg picks
// the container from it.
var videoExts = map[string]bool{".mp4": true, ".m4v": true, ".mov": true, ".mkv": true, ".webm": true, ".avi": true}

// outputKind is what Create writes for a path and codec.
type outputKind int

const (
	kindVideo  outputKind = iota // an encoded video file
	kindFolder                   // a folder of numbered PNG frames
	kindImage                    // one PNG image (a single-frame output named .png)
)

// outputKindOf decides what an output path holds for a codec (already
// defaulted with CodecForPath), or fails with ErrUnsupported naming the
// problem.
func outputKindOf(path string, codec Codec) (outputKind, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch codec {
	case PNG:
		if ext == ".png" {
			return kindImage, nil
		}
		if ext == ".jpg" || ext == ".jpeg" {
			return 0, fmt.Errorf("%w: a %s output: PNG frames go into a folder (a name without extension) or, for a single frame, a .png file", ErrUnsupported, ext)
		}
		return kindFolder, nil
	case H264, H265, VP9, FFV1:
	default:
		return 0, fmt.Errorf("%w codec %q (want h264, h265, vp9, ffv1 or png)", ErrUnsupported, codec)
	}
	if !videoExts[ext] {
		what := "extension " + ext
		if ext == "" {
			what = "no extension"
		}
		return 0, fmt.Errorf("%w: an output with %s cannot hold %s video (want .mp4, .m4v, .mov, .mkv, .webm or .avi; a folder or .png for PNG frames)", ErrUnsupported, what, codec)
	}
	if !containerOf(path).holdsVideo(codec) {
		return 0, fmt.Errorf("%w: a %s file cannot hold %s video", ErrUnsupported, ext, codec)
	}
	return kindVideo, nil
}

// CheckOutput makes every check that Create makes before it starts writing,
// without creating anything, so that a caller can refuse a bad output
// before any work: the codec and the path's extension (a video extension,
// a folder, or a .png file for a single frame; opt.Frames > 1 with a .png
// file is refused), opt.CRF, an existing output (ErrExists unless
// opt.Overwrite; never a device, FIFO, socket, link or a folder that holds
// anything but frames), another live process writing the same output
// (ErrBusy), the output folder, and the path being opt.StreamsFrom
// (ErrSameFile).
func CheckOutput(path string, opt WriterOptions) error {
	if path == "" {
		return fmt.Errorf("video: create: empty output path: %w", ErrUnsupported)
	}
	op := fmt.Sprintf("create %q", path)
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("video: %s: %w", op, err)
	}
	if opt.StreamsFrom != "" {
		if _, err := statInput("create: streams source", opt.StreamsFrom); err != nil {
			return err
		}
		if same, err := samePath(abs, opt.StreamsFrom); err != nil {
			return fmt.Errorf("video: %s: %w", op, err)
		} else if same {
			return fmt.Errorf("video: %s: %w: it is also the input %q", op, ErrSameFile, opt.StreamsFrom)
		}
	}
	if st, err := os.Lstat(abs); err == nil && !st.IsDir() && !st.Mode().IsRegular() {
		return fmt.Errorf("video: %s: %w: it is a %s, not a regular file; not replaced", op, ErrExists, fileKind(st.Mode()))
	}
	if opt.Codec == "" {
		opt.Codec = CodecForPath(path)
	}
	kind, err := outputKindOf(abs, opt.Codec)
	if err != nil {
		return fmt.Errorf("video: %s: %w", op, err)
	}
	if kind == kindImage && opt.Frames > 1 {
		return fmt.Errorf("video: %s: %w: a .png output holds one frame and the input has %d; write to a folder (a name without extension) instead", op, ErrUnsupported, opt.Frames)
	}
	if opt.CRF < 0 || opt.CRF > 63 {
		return fmt.Errorf("video: %s: %w: CRF %d out of range", op, ErrUnsupported, opt.CRF)
	}
	if err := checkExisting(abs, kind == kindFolder, opt.Overwrite); err != nil {
		return fmt.Errorf("video: %s: %w", op, err)
	}
	dir := filepath.Dir(abs)
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("video: %s: output folder: %w", op, err)
	} else if !st.IsDir() {
		return fmt.Errorf("video: %s: %q is not a folder", op, dir)
	}
	if err := checkOtherWriters(abs, opt.Logger); err != nil {
		return fmt.Errorf("video: %s: %w", op, err)
	}
	return nil
}

// tmpPrefix is the start of the names of the temporary outputs for path:
// ".NAME.tmp-pid" followed by the writer's process id, a dash and a random
// part, so that an interrupted writer's leftovers can be told from a live
// one's.
func tmpPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-pid" }

// tmpPattern is the os.CreateTemp pattern of this process's temporary
// outputs for path.
func tmpPattern(path, ext string) string {
	return tmpPrefix(path) + strconv.Itoa(os.Getpid()) + "-*" + ext
}

// checkOtherWriters looks for temporary outputs of path left next to it.
// Those of a live process mean another writer is producing the same output
// (ErrBusy); those of a process that no longer runs (killed, crashed) are
// stale and removed.
func checkOtherWriters(path string, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	dir := filepath.Dir(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	prefix := tmpPrefix(path)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		tmp := filepath.Join(dir, e.Name())
		if processAlive(pid) {
			return fmt.Errorf("%w: process %d is writing it (temporary output %q); wait for it to finish, or remove that file if it is not a pssr run", ErrBusy, pid, tmp)
		}
		log.Warn("video: removing a stale temporary output of an interrupted run", "path", tmp, "pid", pid)
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("remove stale temporary output: %w", err)
		}
	}
	return nil
}

// checkExisting refuses an existing output unless overwrite, and never
// replaces a folder by a file, a file by a folder, a folder holding
// anything but frames, or anything that is not a regular file or a folder
// (a device such as /dev/null, a FIFO, a socket, a symbolic link).
func checkExisting(path string, folder, overwrite bool) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() && !st.Mode().IsRegular() {
		return fmt.Errorf("%w: it is a %s, not a regular file; not replaced", ErrExists, fileKind(st.Mode()))
	}
	if !overwrite {
		return fmt.Errorf("%w (%w)", ErrExists, fs.ErrExist)
	}
	switch {
	case st.IsDir() && !folder:
		return fmt.Errorf("%w: it is a folder, not replaced by a file", ErrExists)
	case !st.IsDir() && folder:
		return fmt.Errorf("%w: it is a file, not replaced by a frame folder", ErrExists)
	case st.IsDir():
		ents, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || !isFrameFile(e.Name()) {
				return fmt.Errorf("%w: the folder holds %q, not only frames; not replaced", ErrExists, e.Name())
			}
		}
	}
	return nil
}

// fileKind names the type of a file that is neither regular nor a folder.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// writeFailures are what ffmpeg prints when it could not write its output;
// ffmpeg 5.1 still exits 0 after some of them (a failed trailer).
var writeFailures = []string{
	"No space left on device",
	"Disk quota exceeded",
	"File too large",
	"Input/output error",
	"Error writing trailer",
	"Error closing file",
	"av_interleaved_write_frame()",
}

// writeFailure returns the first of writeFailures in ffmpeg's stderr, or "".
func writeFailure(stderr *tailBuffer) string {
	for _, s := range writeFailures {
		if stderr.Contains(s) {
			return s
		}
	}
	return ""
}

// verifyVideo decodes the finished file and checks that it holds exactly
// frames video frames without a decoding error, so a file cut short (a full
// disk, a killed encoder) is never renamed into place.
func verifyVideo(ctx context.Context, path string, frames int) error {
	cmd := exec.CommandContext(ctx, "ffprobe", "-hide_banner", "-v", "error", "-select_streams", "v:0",
		"-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "default=nw=1:nk=1", ffPath(path))
	var stdout bytes.Buffer
	stderr := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = waitDelay
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: the finished file does not decode: %v%s", ErrTruncated, err, stderr.suffix("ffprobe"))
	}
	got, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil {
		return fmt.Errorf("%w: the finished file has no readable video stream (ffprobe said %q)%s", ErrTruncated, strings.TrimSpace(stdout.String()), stderr.suffix("ffprobe"))
	}
	if got != frames {
		return fmt.Errorf("%w: the finished file decodes to %d frames, %d were written%s", ErrTruncated, got, frames, stderr.suffix("ffprobe"))
	}
	if lines := stderr.Lines(4); len(lines) > 0 {
		return fmt.Errorf("%w: decoding the finished file reports errors: ffprobe: %s", ErrTruncated, strings.Join(lines, " | "))
	}
	return nil
}

// verifyImage checks that a finished PNG file decodes to the expected size.
func verifyImage(path string, w, h int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		return fmt.Errorf("%w: the finished image does not decode: %w", ErrTruncated, err)
	}
	if b := m.Bounds(); b.Dx() != w || b.Dy() != h {
		return fmt.Errorf("%w: the finished image is %dx%d, want %dx%d", ErrTruncated, b.Dx(), b.Dy(), w, h)
	}
	return nil
}

// verifyFolder checks that a finished frame folder holds exactly the frames
// written.
func verifyFolder(dir string, frames int) error {
	files, err := listFrames(dir)
	if err != nil {
		return err
	}
	if len(files) != frames {
		return fmt.Errorf("%w: the finished folder holds %d frames, %d were written", ErrTruncated, len(files), frames)
	}
	return nil
}
