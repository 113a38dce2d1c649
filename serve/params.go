package serve

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
)

// Settings are a job's upscale options, as the form fields of POST /v1/jobs
// name them. Each field is the pssr upscale flag of its JSON name (scale,
// mode, fuse, draft-steps, alpha, fc, latent-fc, order, border, window-t,
// overlap-t, tile, tile-overlap, codec, crf) and takes the same values, except that
// codec is h264 (the default), h265, vp9 or ffv1.
type Settings struct {
	Scale       int     `json:"scale"`
	Mode        string  `json:"mode"`
	Fuse        string  `json:"fuse"`
	DraftSteps  int     `json:"draft-steps"`
	Alpha       float64 `json:"alpha"`
	Fc          float64 `json:"fc"`
	LatentFc    float64 `json:"latent-fc"`
	Order       int     `json:"order"`
	Border      int     `json:"border"`
	WindowT     int     `json:"window-t"`
	OverlapT    int     `json:"overlap-t"`
	Tile        int     `json:"tile"`
	TileOverlap int     `json:"tile-overlap"`
	Codec       string  `json:"codec"`
	CRF         int     `json:"crf"`
}

// params is what a job stores: its settings and where its input is.
type params struct {
	Settings Settings `json:"settings"`
	// Input is the absolute path of the input video.
	Input string `json:"input"`
	// Upload is true when Input is the job's own copy of an upload.
	Upload bool `json:"upload"`
}

// defaultSettings are the settings of a job with no option fields: the
// server's pipeline defaults and H.264 output.
func defaultSettings(d pipeline.Options) Settings {
	c := upscale.DefaultChoices()
	return Settings{Scale: d.Scale, Mode: c.Mode, Fuse: c.Fuse, DraftSteps: c.DraftSteps,
		Alpha: d.FuseParams.Alpha, Fc: d.FuseParams.Fc, LatentFc: d.LatentFc, Order: d.FuseParams.Order, Border: d.FuseParams.Border,
		WindowT: d.WindowT, OverlapT: d.OverlapT, Tile: d.Tile, TileOverlap: d.TileOverlap, Codec: string(video.H264)}
}

// decodeParams reads a job's stored params over the server's default
// settings d, so that a field the job does not store (one added after it
// was submitted, such as latent-fc) takes the default instead of zero.
func decodeParams(raw []byte, d pipeline.Options) (params, error) {
	p := params{Settings: defaultSettings(d)}
	err := json.Unmarshal(raw, &p)
	return p, err
}

// set parses one form field into s.
func (s *Settings) set(name, value string) error {
	value = strings.TrimSpace(value)
	key := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	ints := map[string]*int{"scale": &s.Scale, "draft-steps": &s.DraftSteps, "order": &s.Order, "border": &s.Border,
		"window-t": &s.WindowT, "overlap-t": &s.OverlapT, "tile": &s.Tile, "tile-overlap": &s.TileOverlap, "crf": &s.CRF}
	floats := map[string]*float64{"alpha": &s.Alpha, "fc": &s.Fc, "latent-fc": &s.LatentFc}
	if p, ok := ints[key]; ok {
		v, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("field %q: %q is not an integer", name, value)
		}
		*p = v
		return nil
	}
	if p, ok := floats[key]; ok {
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("field %q: %q is not a number", name, value)
		}
		*p = v
		return nil
	}
	switch key {
	case "mode":
		s.Mode = value
	case "fuse":
		s.Fuse = value
	case "codec":
		s.Codec = strings.ToLower(value)
	default:
		return fmt.Errorf("unknown field %q (want file or path, and upscale options: scale, mode, fuse, draft-steps, alpha, fc, latent-fc, order, border, window-t, overlap-t, tile, tile-overlap, codec, crf)", name)
	}
	return nil
}

// pipeline resolves s into pipeline options, on top of the server's
// defaults d (which carry the backend's device-ops choice), and checks the
// codec; errors name the field at fault.
func (s Settings) pipeline(d pipeline.Options) (pipeline.Options, error) {
	opt := d
	opt.Scale = s.Scale
	opt.FuseParams.Alpha, opt.FuseParams.Fc, opt.FuseParams.Order, opt.FuseParams.Border = s.Alpha, s.Fc, s.Order, s.Border
	opt.LatentFc = s.LatentFc
	opt.WindowT, opt.OverlapT, opt.Tile, opt.TileOverlap = s.WindowT, s.OverlapT, s.Tile, s.TileOverlap
	c := upscale.Choices{Mode: s.Mode, Fuse: s.Fuse, DraftSteps: s.DraftSteps}
	if err := c.Apply(&opt); err != nil {
		return opt, err
	}
	switch video.Codec(s.Codec) {
	case video.H264, video.H265, video.VP9, video.FFV1:
	case video.PNG:
		return opt, fmt.Errorf("codec png writes a folder of frames, which serve does not offer: use ffv1 for lossless output")
	default:
		return opt, fmt.Errorf("codec %q: want h264, h265, vp9 or ffv1", s.Codec)
	}
	if s.CRF < 0 || s.CRF > 51 {
		return opt, fmt.Errorf("crf %d is out of range (0-51)", s.CRF)
	}
	return opt, nil
}

// resultExt is the file extension of the result for codec.
func resultExt(codec string) string {
	switch video.Codec(codec) {
	case video.FFV1:
		return ".mkv"
	case video.VP9:
		return ".webm"
	}
	return ".mp4"
}
