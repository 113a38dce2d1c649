package serve

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"time"

	"github.com/pssr/pssr/jobs"
)

// handlePreview is GET /v1/jobs/{id}/preview?which=before|after&frame=N:
// frame N (default: the middle one) of the input or of the result, as PNG,
// for the page's before/after slider.
func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request, j jobs.Job) {
	p, _ := decodeParams(j.Params, s.opt.Defaults)
	which := r.URL.Query().Get("which")
	var path string
	switch which {
	case "before", "":
		path = p.Input
	case "after":
		if j.State != jobs.Done {
			writeError(w, http.StatusConflict, "job %s is %s: the result frame is ready once it is done", j.ID, j.State)
			return
		}
		path = s.resultPath(j.ID, p)
	default:
		writeError(w, http.StatusBadRequest, "which=%q: want before or after", which)
		return
	}
	n := j.FramesTotal / 2
	if v := r.URL.Query().Get("frame"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "frame=%q: want a frame number from 0", v)
			return
		}
	}
	if j.FramesTotal > 0 && n >= j.FramesTotal {
		n = j.FramesTotal - 1
	}
	png, err := framePNG(r.Context(), path, n)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "job %s: frame %d of the %s: %v", j.ID, n, which, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}

// framePNG decodes frame n of the video at path as PNG.
func framePNG(ctx context.Context, path string, n int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", "file:"+path,
		"-vf", fmt.Sprintf(`select=eq(n\,%d)`, n), "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "pipe:1")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("the video has no frame %d", n)
	}
	return out.Bytes(), nil
}
