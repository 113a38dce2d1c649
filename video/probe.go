package video

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // DecodeConfig for folder frames
	_ "image/png"  // DecodeConfig for folder frames
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// folderRate is the frame rate assumed for frame folders.
var folderRate = Rational{25, 1}

// maxFramePixels is the largest frame a folder may hold, ffmpeg's own
// limit (it refuses frames of (w+128)(h+128) >= 2^31/8 pixels): a PNG that
// declares more is refused from its header, never decoded.
const maxFramePixels = 1 << 28

// minRate and maxRate bound a frame rate computed from a frame count and a
// duration, the last resort when a stream states none.
const (
	minRate = 0.001
	maxRate = 1000.0
)

// probeStream is the part of ffprobe's JSON stream entry this package uses.
type probeStream struct {
	Index         int               `json:"index"`
	CodecName     string            `json:"codec_name"`
	CodecType     string            `json:"codec_type"`
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	PixFmt        string            `json:"pix_fmt"`
	RFrameRate    string            `json:"r_frame_rate"`
	AvgFrameRate  string            `json:"avg_frame_rate"`
	NbFrames      string            `json:"nb_frames"`
	NbReadPackets string            `json:"nb_read_packets"`
	Duration      string            `json:"duration"`
	Disposition   map[string]int    `json:"disposition"`
	Tags          map[string]string `json:"tags"`
	SideData      []map[string]any  `json:"side_data_list"`
}

// probeOut is ffprobe's -show_format -show_streams JSON.
type probeOut struct {
	Streams []probeStream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// codecs returns the codec names of the streams of one type, in order.
func (p *probeOut) codecs(typ string) []string {
	var out []string
	for _, s := range p.Streams {
		if s.CodecType == typ {
			out = append(out, s.CodecName)
		}
	}
	return out
}

// statInput checks that path exists, with a clear error when it does not.
func statInput(op, path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("video: %s %q: %w (%w)", op, path, ErrNotFound, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("video: %s: %w", op, err)
	}
	return st, nil
}

// runProbe runs ffprobe on a file and decodes its JSON, classifying failures.
func runProbe(ctx context.Context, path string, extra ...string) (*probeOut, error) {
	args := append([]string{"-hide_banner", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"}, extra...)
	args = append(args, "-i", ffPath(path))
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	var stdout bytes.Buffer
	stderr := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = waitDelay
	if err := cmd.Run(); err != nil {
		if e := ctxErr(ctx, fmt.Sprintf("probe %q", path)); e != nil {
			return nil, e
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("video: probe %q: %w", path, ErrFFmpegNotFound)
		}
		switch {
		case stderr.Contains("moov atom not found") && looksLikeMP4(path):
			return nil, fmt.Errorf("video: probe %q: %w: the MP4/MOV index (moov atom) is missing, the file was not finished or was cut short (%w)%s",
				path, ErrTruncated, ErrInvalidData, stderr.suffix("ffprobe"))
		case stderr.Contains("Permission denied"):
			return nil, fmt.Errorf("video: probe %q: %w%s", path, fs.ErrPermission, stderr.suffix("ffprobe"))
		default:
			return nil, fmt.Errorf("video: probe %q: %w: ffprobe cannot read it (corrupt, not a video, or an unknown format): %v%s",
				path, ErrInvalidData, err, stderr.suffix("ffprobe"))
		}
	}
	var p probeOut
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		return nil, fmt.Errorf("video: probe %q: bad ffprobe output: %w", path, err)
	}
	return &p, nil
}

// looksLikeMP4 reports whether the file starts with an ISO-BMFF box such as
// ftyp, so a missing moov atom means truncation rather than garbage.
func looksLikeMP4(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [12]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false
	}
	switch string(hdr[4:8]) {
	case "ftyp", "mdat", "moov", "free", "skip", "wide":
		return true
	}
	return false
}

// Probe describes a video file or a folder of PNG/JPEG frames. It fails
// with an error wrapping ErrNotFound, ErrInvalidData, ErrTruncated or
// ErrNoFrames when the input is missing, unreadable, cut short or has no
// video.
func Probe(ctx context.Context, path string) (*Info, error) {
	info, _, err := probe(ctx, path)
	return info, err
}

// probe is Probe that also returns a folder's sorted frame files.
func probe(ctx context.Context, path string) (*Info, []string, error) {
	st, err := statInput("probe", path)
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		return probeFolder(path)
	}
	if err := CheckTools(); err != nil {
		return nil, nil, err
	}
	p, err := runProbe(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	count := func(stream int) (int, error) {
		q, err := runProbe(ctx, path, "-count_packets", "-select_streams", strconv.Itoa(stream))
		if err != nil || len(q.Streams) == 0 {
			return 0, err
		}
		n, _ := strconv.Atoi(q.Streams[0].NbReadPackets)
		return n, nil
	}
	info, err := infoFromProbe(path, p, count)
	return info, nil, err
}

// infoFromProbe fills an Info from ffprobe's output, calling countPackets
// with the video stream's index when the container has no frame count.
func infoFromProbe(path string, p *probeOut, countPackets func(stream int) (int, error)) (*Info, error) {
	var vs *probeStream
	covers := 0
	for i := range p.Streams {
		s := &p.Streams[i]
		if s.CodecType != "video" {
			continue
		}
		if s.Disposition["attached_pic"] == 1 {
			covers++
			continue
		}
		vs = s
		break
	}
	if vs == nil {
		what := "no video stream"
		if covers > 0 {
			what = "only a cover picture, no video stream"
		}
		var kinds []string
		for _, s := range p.Streams {
			kinds = append(kinds, s.CodecType+" "+s.CodecName)
		}
		return nil, fmt.Errorf("video: %q: %w: %s (format %s, streams: %s)",
			path, ErrNoFrames, what, p.Format.FormatName, strings.Join(kinds, ", "))
	}
	if p.Format.FormatName == "tty" {
		return nil, fmt.Errorf("video: %q: %w: a text file, not a video", path, ErrInvalidData)
	}
	if vs.Width <= 0 || vs.Height <= 0 {
		return nil, fmt.Errorf("video: %q: %w: video stream %d (%s) has no frame size", path, ErrInvalidData, vs.Index, vs.CodecName)
	}
	info := &Info{
		Path:           path,
		Width:          vs.Width,
		Height:         vs.Height,
		FrameRate:      chooseRate(vs.RFrameRate, vs.AvgFrameRate),
		Codec:          vs.CodecName,
		PixFmt:         vs.PixFmt,
		HasAlpha:       alphaFormat(vs.PixFmt) || alphaTag(vs.Tags),
		BitDepth:       bitDepth(vs.PixFmt),
		Format:         p.Format.FormatName,
		StreamIndex:    vs.Index,
		Rotation:       rotationOf(vs),
		AudioCodecs:    p.codecs("audio"),
		SubtitleCodecs: p.codecs("subtitle"),
	}
	info.HasAudio = len(info.AudioCodecs) > 0
	info.HasSubtitles = len(info.SubtitleCodecs) > 0
	info.Duration = parseFloat(p.Format.Duration)
	if info.Duration == 0 {
		info.Duration = parseFloat(vs.Duration)
	}
	info.Frames, _ = strconv.Atoi(vs.NbFrames)
	if info.Frames <= 0 {
		// No count in the container (Matroska, WebM, ...): count packets,
		// which demuxes the file without decoding it.
		n, err := countPackets(vs.Index)
		if err != nil {
			return nil, err
		}
		info.Frames = n
	}
	if info.Frames <= 0 {
		return nil, fmt.Errorf("video: %q: %w: video stream %d (%s) has no frames", path, ErrNoFrames, vs.Index, vs.CodecName)
	}
	if !info.FrameRate.Valid() {
		info.FrameRate = folderRate
		if info.Duration > 0 {
			// Last resort: the average over the file, to the millisecond.
			fps := float64(info.Frames) / info.Duration
			if !(fps >= minRate && fps <= maxRate) { // also NaN and Inf
				return nil, fmt.Errorf("video: %q: %w: no usable frame rate: the stream gives %q (average %q) and %d frames in %g s make %g frames/s (want %g to %g)",
					path, ErrInvalidData, vs.RFrameRate, vs.AvgFrameRate, info.Frames, info.Duration, fps, minRate, maxRate)
			}
			info.FrameRate = Rational{int(math.Round(fps * 1000)), 1000}.reduce()
		}
	}
	if info.Duration == 0 {
		info.Duration = float64(info.Frames) / info.FrameRate.Float()
	}
	return info, nil
}

// chooseRate picks the stream's nominal rate (r_frame_rate) unless the
// average rate differs from it by more than 1%, as in variable-rate video,
// where the average keeps the duration and audio sync.
func chooseRate(r, avg string) Rational {
	rr, err1 := ParseRational(r)
	ar, err2 := ParseRational(avg)
	rOK := err1 == nil && rr.Valid()
	aOK := err2 == nil && ar.Valid()
	switch {
	case rOK && aOK && math.Abs(ar.Float()-rr.Float()) > 0.01*rr.Float():
		return ar
	case rOK:
		return rr
	case aOK:
		return ar
	}
	return Rational{}
}

// rotationOf reads the display-matrix rotation, falling back to a "rotate"
// tag, as counter-clockwise degrees in {0, 90, 180, 270}.
func rotationOf(s *probeStream) int {
	for _, sd := range s.SideData {
		if t, _ := sd["side_data_type"].(string); t != "Display Matrix" {
			continue
		}
		switch v := sd["rotation"].(type) {
		case float64:
			return normRotation(v)
		case string:
			return normRotation(parseFloat(v))
		}
	}
	for k, v := range s.Tags {
		if strings.EqualFold(k, "rotate") {
			return normRotation(parseFloat(v))
		}
	}
	return 0
}

// normRotation rounds degrees to a multiple of 90 in [0, 360).
func normRotation(deg float64) int {
	r := int(math.Round(deg/90)) * 90 % 360
	if r < 0 {
		r += 360
	}
	return r
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// alphaFormat reports whether an ffmpeg pixel format has an alpha channel.
func alphaFormat(f string) bool {
	for _, p := range []string{"yuva", "gbrap", "ya8", "ya16", "rgba", "bgra", "argb", "abgr"} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// alphaTag reports the Matroska/WebM tag of a VP8/VP9 stream whose alpha
// travels beside the frames (ffprobe then reports yuv420p).
func alphaTag(tags map[string]string) bool {
	for k, v := range tags {
		if strings.EqualFold(k, "alpha_mode") && strings.TrimSpace(v) == "1" {
			return true
		}
	}
	return false
}

// alphaModel reports whether an image's colour model can hold
// transparency: an alpha channel (Go decodes opaque RGB PNGs to
// color.RGBAModel, PNGs with alpha to NRGBA), or a palette with a
// translucent entry.
func alphaModel(m color.Model) bool {
	switch m {
	case color.NRGBAModel, color.NRGBA64Model, color.AlphaModel, color.Alpha16Model:
		return true
	}
	if p, ok := m.(color.Palette); ok {
		for _, c := range p {
			if _, _, _, a := c.RGBA(); a != 0xffff {
				return true
			}
		}
	}
	return false
}

// isFrameFile reports whether a folder entry name is a PNG or JPEG frame.
// Hidden files (temporaries included) are skipped.
func isFrameFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// listFrames returns a folder's frame files in natural order.
func listFrames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("video: read folder %q: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			if isFrameFile(e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	sortNatural(names)
	files := make([]string, len(names))
	for i, n := range names {
		files[i] = filepath.Join(dir, n)
	}
	return files, nil
}

// probeFolder describes a frame folder from its file list and first image.
func probeFolder(dir string) (*Info, []string, error) {
	files, err := listFrames(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("video: folder %q: %w: it holds no .png/.jpg/.jpeg files", dir, ErrNoFrames)
	}
	f, err := os.Open(files[0])
	if err != nil {
		return nil, nil, fmt.Errorf("video: folder %q: %w", dir, err)
	}
	cfg, format, err := image.DecodeConfig(f)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("video: folder %q: first frame %q: %w: %w", dir, filepath.Base(files[0]), ErrInvalidData, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxFramePixels {
		return nil, nil, fmt.Errorf("video: folder %q: first frame %q: %w: %dx%d is above the %d pixels a frame may have (a decompression bomb?)",
			dir, filepath.Base(files[0]), ErrUnsupported, cfg.Width, cfg.Height, maxFramePixels)
	}
	codec := format
	if format == "jpeg" {
		codec = "mjpeg"
	}
	info := &Info{
		Path:        dir,
		Folder:      true,
		Width:       cfg.Width,
		Height:      cfg.Height,
		FrameRate:   folderRate,
		Frames:      len(files),
		Duration:    float64(len(files)) / folderRate.Float(),
		Codec:       codec,
		PixFmt:      "rgb24",
		HasAlpha:    alphaModel(cfg.ColorModel),
		BitDepth:    modelDepth(cfg.ColorModel),
		Format:      "folder",
		StreamIndex: -1,
	}
	return info, files, nil
}
