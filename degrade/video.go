package degrade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/pssr/pssr/frame"
)

// VideoSpec is one drawn video-compression setting.
type VideoSpec struct {
	// Codec is "libx264", "h264" or "mpeg4". ffmpeg (like PyAV in the
	// release) resolves "h264" to its default H.264 encoder, libx264.
	Codec string `json:"codec"`
	// Bitrate is the target bit rate in bit/s.
	Bitrate int `json:"bitrate"`
}

// ErrNoFFmpeg is returned (wrapped) by CompressVideo when no ffmpeg
// executable is on the PATH.
var ErrNoFFmpeg = errors.New("ffmpeg not found")

// videoFPS is the frame rate the clip is declared at when encoded; with the
// bit rate it fixes the bit budget per frame.
const videoFPS = 25

// ffmpegEncoder maps a release codec name to the ffmpeg encoder.
func ffmpegEncoder(codec string) (string, error) {
	switch codec {
	case "libx264", "h264":
		return "libx264", nil
	case "mpeg4":
		return "mpeg4", nil
	}
	return "", fmt.Errorf("degrade: unknown video codec %q", codec)
}

// CompressVideo encodes frames (all the same size) as one video with ffmpeg
// at spec's codec and bit rate (25 frames/s, yuv420p, one encoder thread so
// the result is deterministic), decodes it back and returns the decoded
// frames. Odd widths and heights are padded by replicating the last
// column/row for the codec and cropped again after decoding. The encoded
// stream lives in a temporary file that is removed before returning.
func CompressVideo(ctx context.Context, frames []*frame.Image, spec VideoSpec) ([]*frame.Image, error) {
	if len(frames) == 0 {
		return nil, nil
	}
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("compress video: %w", ErrNoFFmpeg)
	}
	enc, err := ffmpegEncoder(spec.Codec)
	if err != nil {
		return nil, err
	}
	w, h := frames[0].W, frames[0].H
	pw, ph := w+w%2, h+h%2
	var raw bytes.Buffer
	raw.Grow(pw * ph * 3 * len(frames))
	var buf []byte
	for i, f := range frames {
		if f.W != w || f.H != h {
			return nil, fmt.Errorf("compress video: frame %d is %dx%d, frame 0 is %dx%d", i, f.W, f.H, w, h)
		}
		if pw != w || ph != h {
			f = f.PadReplicate(pw, ph)
		}
		buf = f.ToRGB24(buf)
		raw.Write(buf)
	}
	dir, err := os.MkdirTemp("", "pssr-degrade-")
	if err != nil {
		return nil, fmt.Errorf("compress video: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "clip.mkv")

	encode := exec.CommandContext(ctx, bin, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", pw, ph),
		"-r", strconv.Itoa(videoFPS), "-i", "pipe:0",
		"-c:v", enc, "-b:v", strconv.Itoa(spec.Bitrate), "-pix_fmt", "yuv420p",
		"-threads", "1", "-f", "matroska", "-y", file)
	encode.Stdin = &raw
	var stderr bytes.Buffer
	encode.Stderr = &stderr
	if err := encode.Run(); err != nil {
		return nil, fmt.Errorf("compress video: ffmpeg encode %s at %d bit/s: %w: %s", spec.Codec, spec.Bitrate, err, bytes.TrimSpace(stderr.Bytes()))
	}

	stderr.Reset()
	decode := exec.CommandContext(ctx, bin, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-threads", "1", "-i", file, "-f", "rawvideo", "-pix_fmt", "rgb24", "-fps_mode", "passthrough", "pipe:1")
	decode.Stderr = &stderr
	stdout, err := decode.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("compress video: %w", err)
	}
	if err := decode.Start(); err != nil {
		return nil, fmt.Errorf("compress video: ffmpeg decode: %w", err)
	}
	out := make([]*frame.Image, 0, len(frames))
	fb := make([]byte, pw*ph*3)
	var readErr error
	for {
		if _, err := io.ReadFull(stdout, fb); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if len(out) == len(frames) {
			readErr = fmt.Errorf("more than %d frames decoded", len(frames))
			break
		}
		img := frame.FromRGB24(fb, pw, ph, nil)
		if pw != w || ph != h {
			img = img.Crop(image.Rect(0, 0, w, h))
		}
		out = append(out, img)
	}
	if readErr != nil {
		io.Copy(io.Discard, stdout)
	}
	if err := decode.Wait(); err != nil {
		return nil, fmt.Errorf("compress video: ffmpeg decode: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if readErr != nil {
		return nil, fmt.Errorf("compress video: %w", readErr)
	}
	if len(out) != len(frames) {
		return nil, fmt.Errorf("compress video: %d frames decoded from %d", len(out), len(frames))
	}
	return out, nil
}
