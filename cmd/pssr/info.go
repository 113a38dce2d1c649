package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/video"
)

func init() { commands = append(commands, newInfoCmd) }

// infoJSON is the --json form of video.Info.
type infoJSON struct {
	Path           string   `json:"path"`
	Folder         bool     `json:"folder"`
	Format         string   `json:"format"`
	StreamIndex    int      `json:"stream_index"`
	Width          int      `json:"width"`
	Height         int      `json:"height"`
	DisplayWidth   int      `json:"display_width"`
	DisplayHeight  int      `json:"display_height"`
	FrameRateNum   int      `json:"frame_rate_num"`
	FrameRateDen   int      `json:"frame_rate_den"`
	FPS            float64  `json:"fps"`
	VFR            bool     `json:"variable_frame_rate"`
	Frames         int      `json:"frames"`
	Duration       float64  `json:"duration"`
	Rotation       int      `json:"rotation"`
	Codec          string   `json:"codec"`
	PixFmt         string   `json:"pix_fmt"`
	AudioCodecs    []string `json:"audio_codecs"`
	SubtitleCodecs []string `json:"subtitle_codecs"`
}

func newInfoCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info IN",
		Short: "Describe a video or frame folder: size, exact frame rate, frames, rotation, codec, streams",
		Long: `info prints what pssr reads from IN, a video file or a folder of PNG/JPEG
frames: the stored frame size (and the displayed size when the video carries a
rotation), the exact frame rate (or that it varies), the number of frames, the duration, the codec
and pixel format, and the audio and subtitle streams that outputs copy.`,
		Example: "  pssr info clip.mp4\n  pssr info --json frames/",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := video.Probe(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			vfr := false
			if !info.Folder {
				tm, err := video.ProbeTiming(cmd.Context(), info)
				if err != nil {
					return err
				}
				vfr = tm.VFR
			}
			if asJSON {
				return writeInfoJSON(a.stdout, info, vfr)
			}
			return writeInfoText(a.stdout, info, vfr)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
	return cmd
}

// displaySize is the frame size as shown, after the display rotation.
func displaySize(info *video.Info) (int, int) {
	if info.Rotation == 90 || info.Rotation == 270 {
		return info.Height, info.Width
	}
	return info.Width, info.Height
}

func writeInfoJSON(w io.Writer, info *video.Info, vfr bool) error {
	dw, dh := displaySize(info)
	j := infoJSON{
		Path: info.Path, Folder: info.Folder, Format: info.Format, StreamIndex: info.StreamIndex,
		Width: info.Width, Height: info.Height, DisplayWidth: dw, DisplayHeight: dh,
		FrameRateNum: info.FrameRate.Num, FrameRateDen: info.FrameRate.Den, FPS: info.FrameRate.Float(), VFR: vfr,
		Frames: info.Frames, Duration: info.Duration, Rotation: info.Rotation,
		Codec: info.Codec, PixFmt: info.PixFmt,
		AudioCodecs: nonNil(info.AudioCodecs), SubtitleCodecs: nonNil(info.SubtitleCodecs),
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeInfoText(w io.Writer, info *video.Info, vfr bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, v ...any) { fmt.Fprintf(tw, "%s:\t%s\n", k, fmt.Sprintf(format, v...)) }
	row("path", "%s", info.Path)
	if info.Folder {
		row("container", "frame folder (%s)", info.Codec)
	} else {
		row("container", "%s", info.Format)
		row("video", "stream %d, %s, %s", info.StreamIndex, info.Codec, info.PixFmt)
	}
	size := fmt.Sprintf("%dx%d", info.Width, info.Height)
	if info.Rotation != 0 {
		dw, dh := displaySize(info)
		size += fmt.Sprintf(" stored, shown %dx%d", dw, dh)
	}
	row("size", "%s", size)
	rate := fmt.Sprintf("%s (%s fps)", info.FrameRate, trimFloat(info.FrameRate.Float(), 3))
	if info.Folder {
		rate += ", assumed for a frame folder"
	}
	if vfr {
		rate = "variable: frames at their own timestamps, which outputs keep (stream rate " + rate + ")"
	}
	row("frame rate", "%s", rate)
	row("frames", "%d", info.Frames)
	row("duration", "%s s (%s)", trimFloat(info.Duration, 3), clock(info.Duration))
	if info.Rotation != 0 {
		row("rotation", "%d° counter-clockwise (display metadata; frames are processed unrotated and outputs keep it)", info.Rotation)
	} else {
		row("rotation", "none")
	}
	if !info.Folder {
		row("audio", "%s", listOrNone(info.AudioCodecs))
		row("subtitles", "%s", listOrNone(info.SubtitleCodecs))
	}
	return tw.Flush()
}

// trimFloat formats v with at most prec decimals and no trailing zeros.
func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// clock formats seconds as h:mm:ss.mmm.
func clock(sec float64) string {
	d := time.Duration(sec*1000+0.5) * time.Millisecond
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	ms := (d - s*time.Second) / time.Millisecond
	return fmt.Sprintf("%d:%02d:%02d.%03d", h, m, s, ms)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", len(s), strings.Join(s, ", "))
}
