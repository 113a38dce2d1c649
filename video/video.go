// Package video reads and writes video through ffmpeg and ffprobe pipes.
//
// Frames travel as raw rgb24 through a pipe one at a time, so memory stays
// bounded by a few frames whatever the length of the video. Folders of PNG or
// JPEG images stand in for videos on both sides: [Open] reads a folder in
// natural order ("2.png" before "10.png"), and the "png" [Codec] writes one.
//
// Reading never applies the display rotation: frames come out in their stored
// orientation and [Info.Rotation] tells how they are meant to be shown, so a
// caller can pass it to [WriterOptions.Rotation] and the output is shown the
// same way as the input.
//
// A variable-frame-rate input keeps its timing: [ProbeTiming] reads its
// frames' timestamps from the packets, the reader passes every decoded
// frame through (frame N is input frame N), and [WriterOptions.Timestamps]
// writes each frame at its input's time. A constant-rate input goes through
// a raw pipe at its exact rate, as does a writer without Timestamps.
//
// Outputs are written to a hidden temporary file or folder next to the final
// path and renamed into place only when complete; an error, [Writer.Abort] or
// a cancelled context removes it.
//
// The package needs the ffmpeg and ffprobe programs in PATH (see
// [CheckTools]); the folder reader and the "png" writer work without them.
// It has been tested with ffmpeg 5.1.
package video

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Errors returned by this package, wrapped with details; test them with
// errors.Is.
var (
	// ErrFFmpegNotFound means ffmpeg or ffprobe is not in PATH.
	ErrFFmpegNotFound = errors.New("ffmpeg/ffprobe not found in PATH (install ffmpeg, e.g. apt-get install ffmpeg)")
	// ErrNotFound means an input path does not exist. Errors wrapping it also
	// wrap fs.ErrNotExist.
	ErrNotFound = errors.New("no such file or folder")
	// ErrInvalidData means an input is not a readable video (corrupt, wrong
	// format, or an unsupported codec).
	ErrInvalidData = errors.New("not a readable video")
	// ErrTruncated means an input ends early: its container is incomplete,
	// or fewer frames decode than it announces.
	ErrTruncated = errors.New("video is truncated or incomplete")
	// ErrNoFrames means an input has no video stream or no frames, a folder
	// holds no PNG/JPEG images, or a writer was closed before any frame.
	ErrNoFrames = errors.New("no video frames")
	// ErrExists means the output exists and WriterOptions.Overwrite is not
	// set. Errors wrapping it also wrap fs.ErrExist.
	ErrExists = errors.New("output already exists")
	// ErrBusy means another running process is writing the same output.
	ErrBusy = errors.New("output is being written by another process")
	// ErrSameFile means the output path is also an input.
	ErrSameFile = errors.New("output would overwrite an input")
	// ErrUnsupported means an option or codec/container pairing this package
	// cannot write.
	ErrUnsupported = errors.New("unsupported")
	// ErrFrameSize means a frame does not match the video's size.
	ErrFrameSize = errors.New("frame size mismatch")
	// ErrClosed means a Writer or Reader was used after Close or Abort.
	ErrClosed = errors.New("already closed")
)

// Rational is an exact rate such as 30000/1001. The zero value is invalid
// and means "unset" where an option takes one.
type Rational struct{ Num, Den int }

// String returns "Num/Den", the syntax ffmpeg takes.
func (r Rational) String() string { return strconv.Itoa(r.Num) + "/" + strconv.Itoa(r.Den) }

// Float returns Num/Den, or 0 for an invalid rate.
func (r Rational) Float() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// Valid reports whether r is a positive rate.
func (r Rational) Valid() bool { return r.Num > 0 && r.Den > 0 }

// reduce divides out common factors (30/1 from 60/2; 30000/1001 stays).
func (r Rational) reduce() Rational {
	a, b := r.Num, r.Den
	if a < 0 {
		a = -a
	}
	if b < 0 {
		b = -b
	}
	for b != 0 {
		a, b = b, a%b
	}
	if a <= 1 {
		return r
	}
	return Rational{r.Num / a, r.Den / a}
}

// ParseRational parses "30000/1001", "25" or "29.97" (decimals become an
// exact fraction, 2997/100). The numerator and denominator must fit in 32
// bits, as ffmpeg's rationals do.
func ParseRational(s string) (Rational, error) {
	s = strings.TrimSpace(s)
	in32 := func(v int) bool { return v >= -math.MaxInt32 && v <= math.MaxInt32 }
	if n, d, ok := strings.Cut(s, "/"); ok {
		num, err1 := strconv.Atoi(strings.TrimSpace(n))
		den, err2 := strconv.Atoi(strings.TrimSpace(d))
		if err1 != nil || err2 != nil || den == 0 || !in32(num) || !in32(den) {
			return Rational{}, fmt.Errorf("video: bad rate %q", s)
		}
		return Rational{num, den}.reduce(), nil
	}
	if i, err := strconv.Atoi(s); err == nil {
		if !in32(i) {
			return Rational{}, fmt.Errorf("video: bad rate %q", s)
		}
		return Rational{i, 1}, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 2000 {
		return Rational{}, fmt.Errorf("video: bad rate %q", s)
	}
	_, frac, _ := strings.Cut(s, ".")
	den := 1
	for range min(len(frac), 6) {
		den *= 10
	}
	return Rational{int(math.Round(f * float64(den))), den}.reduce(), nil
}

// Info describes a video file or a frame folder.
type Info struct {
	// Path is the path as given to Probe or Open.
	Path string
	// Folder is true for a directory of PNG/JPEG frames.
	Folder bool
	// Width and Height are the stored frame size, before any rotation.
	Width, Height int
	// FrameRate is the exact frame rate (25/1 for folders).
	FrameRate Rational
	// Frames is the number of frames: the container's count when it has
	// one, else the number of video packets, or the number of images in a
	// folder.
	Frames int
	// Duration is in seconds.
	Duration float64
	// Rotation is the display rotation in degrees, 0, 90, 180 or 270,
	// counter-clockwise, as ffprobe reports a display matrix (a phone video
	// shot upright typically has 270, ffprobe's -90). Frames are read
	// unrotated; pass this to WriterOptions.Rotation to keep it.
	Rotation int
	// Codec is the video codec name as ffprobe gives it ("h264"), "png" or
	// "mjpeg" for folders.
	Codec string
	// PixFmt is the decoded pixel format ("yuv420p"), "rgb24" for folders.
	PixFmt string
	// BitDepth is the bits per sample of the decoded pixel format (8,
	// 10, 12 or 16). Inputs above 8 are read with 16-bit precision.
	BitDepth int
	// HasAlpha reports an alpha channel (a pixel format such as yuva420p
	// or rgba, or PNG frames with transparency). Frames are read as RGB:
	// the alpha channel is dropped.
	HasAlpha bool
	// Format is the container format name as ffprobe gives it
	// ("mov,mp4,m4a,3gp,3g2,mj2"), "folder" for folders.
	Format string
	// StreamIndex is the index of the video stream read, -1 for folders.
	StreamIndex int
	// HasAudio and HasSubtitles report audio and subtitle streams.
	HasAudio, HasSubtitles bool
	// AudioCodecs and SubtitleCodecs list the codecs of those streams in
	// stream order.
	AudioCodecs, SubtitleCodecs []string
}

// Codec names an output encoding. The zero value means "from the output
// path" (see CodecForPath).
type Codec string

// Output codecs.
const (
	// H264 is libx264, yuv420p, default CRF 18. Odd frame sizes, which
	// 4:2:0 cannot hold, get yuv444p (High 4:4:4 profile, which some
	// hardware players cannot play) rather than a padded or cropped frame.
	// The lossy codecs convert RGB with the BT.709 matrix and tag it.
	H264 Codec = "h264"
	// H265 is libx265, yuv420p (yuv444p for odd sizes), default CRF 20.
	H265 Codec = "h265"
	// VP9 is libvpx-vp9 in constant-quality mode, yuv420p (yuv444p for odd
	// sizes), default CRF 30.
	VP9 Codec = "vp9"
	// FFV1 is lossless FFV1 in bgr0, so rgb24 frames round-trip bit-exact.
	// It needs a Matroska (.mkv), .mov or .avi file.
	FFV1 Codec = "ffv1"
	// PNG writes a folder of numbered PNG frames (000001.png, ...), or a
	// single PNG image when the output path ends in .png.
	PNG Codec = "png"
)

// CodecForPath returns a default codec for an output path: VP9 for .webm,
// PNG for an existing directory, a name without extension or a .png file
// (a single-frame output), H264 for anything else (.mp4, .mkv, .mov, ...).
func CodecForPath(path string) Codec {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return PNG
	}
	if strings.HasSuffix(path, string(filepath.Separator)) || strings.HasSuffix(path, "/") {
		return PNG
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case "", ".png":
		return PNG
	case ".webm":
		return VP9
	default:
		return H264
	}
}

// CheckTools returns an error wrapping ErrFFmpegNotFound when ffmpeg or
// ffprobe is missing from PATH.
func CheckTools() error {
	var missing []string
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("video: %s: %w", strings.Join(missing, " and "), ErrFFmpegNotFound)
	}
	return nil
}
