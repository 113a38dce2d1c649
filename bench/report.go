package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/pssr/pssr/internal/atomicfile"
)

// jsonResult is the JSON form of a Result: exactly these keys, in this
// order, null where not measured.
type jsonResult struct {
	Name            string   `json:"name"`
	SecondsPerFrame *float64 `json:"seconds_per_frame"`
	PeakRSSMB       *float64 `json:"peak_rss_mb"`
	PSNRY           *float64 `json:"psnr_y"`
	SSIMY           *float64 `json:"ssim_y"`
	MSSSIMY         *float64 `json:"ms_ssim_y"`
	GMSDY           *float64 `json:"gmsd_y"`
	LPIPS           *float64 `json:"lpips"`
	TemporalErr     *float64 `json:"temporal_err"`
	TemporalDiff    *float64 `json:"temporal_diff"`
	HFRatio         *float64 `json:"hf_ratio"`
	NIQE            *float64 `json:"niqe"`
	Skipped         string   `json:"skipped"`
}

type jsonReport struct {
	Input   string   `json:"input"`
	Scale   int      `json:"scale"`
	Frames  int      `json:"frames"`
	Machine string   `json:"machine"`
	Backend string   `json:"backend"`
	Runtime string   `json:"runtime,omitempty"`
	GTNIQE  *float64 `json:"gt_niqe"`
	GTWarp  *float64 `json:"gt_warp_err"`
	Modes   []Result `json:"modes"`
}

// num returns a pointer to v, or nil when v is not finite (JSON has no NaN).
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// MarshalJSON encodes r with the keys name, seconds_per_frame, peak_rss_mb,
// psnr_y, ssim_y, ms_ssim_y, gmsd_y, lpips, temporal_err, temporal_diff,
// hf_ratio, niqe and skipped. The numbers of a skipped mode, the
// full-reference scores without a ground truth, lpips without
// Options.LPIPS and niqe for frames too small for it are null; skipped is ""
// for a mode that ran.
func (r Result) MarshalJSON() ([]byte, error) {
	j := jsonResult{Name: r.Name, Skipped: r.Skipped}
	if r.Ran() {
		j.SecondsPerFrame = num(r.SecondsPerFrame)
		j.PeakRSSMB = num(r.PeakRSSMB)
		if r.Quality {
			s := r.Metrics
			j.PSNRY, j.SSIMY, j.MSSSIMY, j.GMSDY = num(s.PSNR), num(s.SSIM), num(s.MSSSIM), num(s.GMSD)
			j.HFRatio = num(s.HFRatio)
			if s.TemporalFrames > 0 {
				j.TemporalErr, j.TemporalDiff = num(s.WarpErr), num(s.TempDiff)
			}
			if s.LPIPSFrames > 0 {
				j.LPIPS = num(s.LPIPS)
			}
		}
		if r.NIQEFrames > 0 {
			j.NIQE = num(r.NIQE)
		}
	}
	return json.Marshal(j)
}

// MarshalJSON encodes r as {"input", "scale", "frames", "machine",
// "backend", "gt_niqe", "gt_warp_err", "modes"}; gt_niqe, the ground truth's
// NIQE, is null without a ground truth or when its frames are too small for
// NIQE, and gt_warp_err, its own warp error, without a ground truth or with
// one frame.
func (r *Report) MarshalJSON() ([]byte, error) {
	modes := r.Modes
	if modes == nil {
		modes = []Result{}
	}
	var gtNIQE *float64
	if r.GTNIQEFrames > 0 {
		gtNIQE = num(r.GTNIQE)
	}
	var gtWarp *float64
	if r.GTWarpFrames > 0 {
		gtWarp = num(r.GTWarpErr)
	}
	return json.Marshal(jsonReport{r.Input, r.Scale, r.Frames, r.Machine, r.Backend, r.Runtime, gtNIQE, gtWarp, modes})
}

// WriteJSON writes r, indented, to path through a temporary file in the same
// folder renamed into place.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// Find returns the result of the mode called name, or nil.
func (r *Report) Find(name string) *Result {
	for i := range r.Modes {
		if r.Modes[i].Name == name {
			return &r.Modes[i]
		}
	}
	return nil
}

// Ratio is a ratio of two modes' seconds per frame.
type Ratio struct {
	Num, Den string
	Value    float64
}

// String is e.g. "pssr/base seconds per frame: 0.31".
func (q Ratio) String() string {
	return fmt.Sprintf("%s/%s seconds per frame: %.3g", q.Num, q.Den, q.Value)
}

// Ratios returns the seconds-per-frame ratios pssr/base and base-4step/pssr
// for those of the pairs whose two modes ran.
func (r *Report) Ratios() []Ratio {
	var out []Ratio
	for _, p := range [][2]string{{"pssr", "base"}, {"base-4step", "pssr"}} {
		a, b := r.Find(p[0]), r.Find(p[1])
		if a != nil && b != nil && a.Ran() && b.Ran() && b.SecondsPerFrame > 0 {
			out = append(out, Ratio{p[0], p[1], a.SecondsPerFrame / b.SecondsPerFrame})
		}
	}
	return out
}

// tableHeader names the columns of WriteTable and the HTML table.
var tableHeader = []string{"mode", "kind", "s/frame", "peak RSS MiB", "PSNR-Y", "SSIM-Y", "MS-SSIM-Y",
	"GMSD-Y", "LPIPS", "warp err", "t-diff", "HF ratio", "NIQE", "note"}

// rows formats the table cells, one row per mode.
func (r *Report) rows() [][]string {
	var rows [][]string
	for _, m := range r.Modes {
		row := []string{m.Name, m.Kind}
		if !m.Ran() {
			for range len(tableHeader) - 3 {
				row = append(row, "-")
			}
			note := "skipped: " + m.Skipped
			if m.Failed {
				note = m.Skipped
			}
			rows = append(rows, append(row, note))
			continue
		}
		rss := fmt.Sprintf("%.0f", m.PeakRSSMB)
		if m.RSSLowerBound {
			rss = ">=" + rss
		}
		row = append(row, fmtSeconds(m.SecondsPerFrame), rss)
		if m.Quality {
			s := m.Metrics
			row = append(row, fmt.Sprintf("%.2f", s.PSNR), fmt.Sprintf("%.4f", s.SSIM),
				fmt.Sprintf("%.4f", s.MSSSIM), fmt.Sprintf("%.4f", s.GMSD))
			if s.LPIPSFrames > 0 {
				row = append(row, fmt.Sprintf("%.4f", s.LPIPS))
			} else {
				row = append(row, "-")
			}
			if s.TemporalFrames > 0 {
				row = append(row, fmt.Sprintf("%.4f", s.WarpErr), fmt.Sprintf("%.4f", s.TempDiff))
			} else {
				row = append(row, "-", "-")
			}
			row = append(row, fmt.Sprintf("%.3f", s.HFRatio))
		} else {
			row = append(row, "-", "-", "-", "-", "-", "-", "-", "-")
		}
		if m.NIQEFrames > 0 {
			row = append(row, fmt.Sprintf("%.3f", m.NIQE))
		} else {
			row = append(row, "-")
		}
		rows = append(rows, append(row, ""))
	}
	return rows
}

func fmtSeconds(s float64) string {
	switch {
	case s >= 100:
		return fmt.Sprintf("%.0f", s)
	case s >= 0.01:
		return fmt.Sprintf("%.3g", s)
	}
	return fmt.Sprintf("%.2e", s)
}

// WriteTable writes r as an aligned text table, one line per mode, then the
// ratios of Ratios.
func (r *Report) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "input:   %s\nframes:  %d, scale x%d\nmachine: %s\n", r.Input, r.Frames, r.Scale, r.Machine)
	if r.Backend != "" {
		fmt.Fprintf(&buf, "backend: %s\n", r.Backend)
	}
	if r.Runtime != "" {
		fmt.Fprintf(&buf, "runtime: %s\n", r.Runtime)
	}
	if r.HasGT {
		fmt.Fprintf(&buf, "quality: luma (BT.601 Y), border %d px left out, mean over frames; LPIPS on RGB; NIQE no-reference\n", MetricCrop)
		if r.GTNIQEFrames > 0 {
			fmt.Fprintf(&buf, "ground-truth NIQE: %.3f\n", r.GTNIQE)
		}
		if r.GTWarpFrames > 0 {
			fmt.Fprintf(&buf, "ground-truth warp err: %.4f (the truth's own, under the same flow: a sharp output's floor)\n", r.GTWarpErr)
		}
	} else {
		buf.WriteString("quality: no ground truth (NIQE only, no-reference)\n")
	}
	buf.WriteString("\n")
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
	for _, row := range r.rows() {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rs := r.Ratios(); len(rs) > 0 {
		buf.WriteString("\n")
		for _, q := range rs {
			fmt.Fprintln(&buf, q)
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}
