package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
)

// maxField is the largest form field value (other than the file).
const maxField = 64 << 10

// handleSubmit is POST /v1/jobs: a multipart form with the video in the
// field file (streamed to disk, never held in memory) or path (a file under
// an --allow-root), and upscale options as fields.
func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "POST /v1/jobs takes multipart/form-data with the video in the field \"file\" (or \"path\"): %v", err)
		return
	}
	set := defaultSettings(s.opt.Defaults)
	var tmp, name, pathField string
	defer func() {
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	fail := func(err error) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "the upload is larger than the limit of %d bytes (--max-upload)", mbe.Limit)
			return
		}
		writeError(w, http.StatusBadRequest, "reading the form: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(err)
			return
		}
		field := part.FormName()
		switch field {
		case "file":
			if tmp != "" {
				writeError(w, http.StatusBadRequest, "one file per job: the field \"file\" appears twice")
				return
			}
			raw := rawFileName(part)
			if err := checkName(raw); err != nil {
				writeError(w, http.StatusBadRequest, "%v", err)
				return
			}
			name = raw
			f, err := os.CreateTemp(s.tmpDir(), "upload-*")
			if err != nil {
				writeError(w, http.StatusInternalServerError, "storing the upload: %v", err)
				return
			}
			tmp = f.Name()
			_, err = io.Copy(f, part)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				fail(err)
				return
			}
		default:
			data, err := io.ReadAll(io.LimitReader(part, maxField+1))
			if err != nil {
				fail(err)
				return
			}
			if len(data) > maxField {
				writeError(w, http.StatusBadRequest, "field %q is longer than %d bytes", field, maxField)
				return
			}
			if field == "path" {
				pathField = string(data)
			} else if err := set.set(field, string(data)); err != nil {
				writeError(w, http.StatusBadRequest, "%v", err)
				return
			}
		}
	}
	if (tmp == "") == (pathField == "") {
		writeError(w, http.StatusBadRequest, "send exactly one video: the field \"file\" (an upload) or \"path\" (a file under an --allow-root)")
		return
	}
	if _, err := set.pipeline(s.opt.Defaults); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	input := tmp
	if pathField != "" {
		p, err := s.resolvePath(pathField)
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		input, name = p, filepath.Base(p)
	}
	// A video the server can read must fit the limits; one it cannot read
	// becomes a job that fails with ffprobe's reason.
	if info, err := video.Probe(r.Context(), input); err == nil {
		if err := s.checkLimits(info); err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "%v", err)
			return
		}
	}
	j, err := s.jobs.Submit(name, func(id string) (json.RawMessage, error) {
		p := params{Settings: set, Input: input}
		if tmp != "" {
			dir := s.jobDir(id)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			ext := ""
			if upscale.IsVideoName(name) {
				ext = strings.ToLower(filepath.Ext(name))
			}
			p.Input, p.Upload = filepath.Join(dir, "input"+ext), true
			if err := os.Rename(tmp, p.Input); err != nil {
				return nil, err
			}
			tmp = ""
		}
		return json.Marshal(p)
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "submitting the job: %v", err)
		return
	}
	s.log.Info("serve: job submitted", "job", j.ID, "name", j.Name)
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusCreated, map[string]string{"id": j.ID})
}

// rawFileName returns the filename parameter of a part as the client sent
// it (Part.FileName would strip the folders and hide a traversal attempt).
func rawFileName(p *multipart.Part) string {
	if _, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition")); err == nil {
		return params["filename"]
	}
	return p.FileName()
}

// checkName refuses an upload name that could be taken for a path: names
// are for display and never become paths, and a client that sends folders
// or ".." is refused rather than silently trusted.
func checkName(name string) error {
	if name == "" {
		return nil
	}
	bad := strings.ContainsAny(name, `/\`) || name == "." || name == ".." || strings.Contains(name, "..") || len(name) > 255
	for _, c := range name {
		bad = bad || unicode.IsControl(c)
	}
	if bad {
		return fmt.Errorf("file name %q is not allowed: a name must be a plain file name, without folders, \"..\" or control characters", name)
	}
	return nil
}

// resolvePath checks a path= field: an existing regular file inside one of
// the allowed roots once links are resolved.
func (s *Server) resolvePath(p string) (string, error) {
	if len(s.roots) == 0 {
		return "", fmt.Errorf("path=%q: submitting server files by path is disabled (start pssr serve with --allow-root DIR)", p)
	}
	cands := []string{p}
	if !filepath.IsAbs(p) {
		cands = nil
		for _, r := range s.roots {
			cands = append(cands, filepath.Join(r, p))
		}
	}
	for _, c := range cands {
		real, err := filepath.EvalSymlinks(c)
		if err != nil {
			continue
		}
		for _, r := range s.roots {
			rel, err := filepath.Rel(r, real)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
				continue
			}
			st, err := os.Stat(real)
			if err != nil || !st.Mode().IsRegular() {
				return "", fmt.Errorf("path=%q is not a regular file", p)
			}
			return real, nil
		}
		return "", fmt.Errorf("path=%q is outside the allowed roots (--allow-root)", p)
	}
	return "", fmt.Errorf("path=%q: no such file under the allowed roots", p)
}
