package bench

import (
	"fmt"
	"html/template"
	"image/color"
	"io"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/atomicfile"
)

// CropZoom is the nearest-neighbour enlargement of the crops that WriteHTML
// writes.
const CropZoom = 3

// PlotFile and HTMLFile are the names of WriteHTML's plot and page.
const (
	PlotFile = "quality-vs-time.png"
	HTMLFile = "index.html"
)

// WriteHTML writes a report folder dir (created when missing):
//
//   - index.html: the table, the plot and the crops (plain HTML, inline CSS);
//   - quality-vs-time.png: PSNR-Y against seconds per frame on a log axis,
//     one labelled point per mode that ran (only with a ground truth and at
//     least one such mode);
//   - crops/<mode>.png, crops/gt.png and crops/lq.png: the region
//     r.CropRect of frame r.CropFrame for every mode that ran, for the ground
//     truth, and the same region of the input, each enlarged CropZoom times
//     (the input Scale*CropZoom times) with nearest neighbour so that single
//     pixels stay visible.
//
// Every file goes through a temporary name renamed into place.
func (r *Report) WriteHTML(dir string) error {
	crops := filepath.Join(dir, "crops")
	if err := os.MkdirAll(crops, 0o755); err != nil {
		return err
	}
	type cropView struct{ Title, File string }
	var views []cropView
	save := func(name, title string, img *frame.Image, zoom int) error {
		if img == nil {
			return nil
		}
		big := frame.Resize(img, img.W*zoom, img.H*zoom, frame.Nearest)
		file := "crops/" + name + ".png"
		if err := frame.SavePNG(filepath.Join(dir, file), big); err != nil {
			return err
		}
		views = append(views, cropView{title, file})
		return nil
	}
	if err := save("gt", "ground truth", r.GTCrop, CropZoom); err != nil {
		return err
	}
	if err := save("lq", "input (low quality)", r.LQCrop, CropZoom*r.Scale); err != nil {
		return err
	}
	for _, m := range r.Modes {
		if m.Ran() && m.Crop != nil {
			if err := save(m.Name, m.Name, m.Crop, CropZoom); err != nil {
				return err
			}
		}
	}
	hasPlot, err := r.writePlot(filepath.Join(dir, PlotFile))
	if err != nil {
		return err
	}
	data := struct {
		R       *Report
		Header  []string
		Rows    [][]string
		Ratios  []Ratio
		HasPlot bool
		Plot    string
		Crops   []cropView
		Region  string
		Metric  int
	}{
		R: r, Header: tableHeader, Rows: r.rows(), Ratios: r.Ratios(), HasPlot: hasPlot, Plot: PlotFile,
		Crops: views, Metric: MetricCrop,
		Region: fmt.Sprintf("frame %d, x %d..%d, y %d..%d of the upscaled frame, enlarged %dx",
			r.CropFrame, r.CropRect.Min.X, r.CropRect.Max.X-1, r.CropRect.Min.Y, r.CropRect.Max.Y-1, CropZoom),
	}
	return atomicfile.Write(filepath.Join(dir, HTMLFile), func(w io.Writer) error {
		return pageTemplate.Execute(w, data)
	})
}

// writePlot draws PSNR-Y against seconds per frame. It writes nothing and
// returns false when there is no point to draw.
func (r *Report) writePlot(path string) (bool, error) {
	var pts plotter.XYLabels
	for _, m := range r.Modes {
		if m.Ran() && m.Quality && m.SecondsPerFrame > 0 {
			pts.XYs = append(pts.XYs, plotter.XY{X: m.SecondsPerFrame, Y: m.Metrics.PSNR})
			pts.Labels = append(pts.Labels, m.Name)
		}
	}
	if len(pts.XYs) == 0 {
		return false, nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Quality against time, x%d, %d frames", r.Scale, r.Frames)
	p.X.Label.Text = "seconds per frame (log scale)"
	p.Y.Label.Text = "PSNR-Y (dB)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())

	// Pad the ranges so that points and labels are not on the frame: a
	// factor on the log axis, dB on the other.
	xmin, xmax, ymin, ymax := pts.XYs[0].X, pts.XYs[0].X, pts.XYs[0].Y, pts.XYs[0].Y
	for _, q := range pts.XYs {
		xmin, xmax = min(xmin, q.X), max(xmax, q.X)
		ymin, ymax = min(ymin, q.Y), max(ymax, q.Y)
	}
	p.X.Min, p.X.Max = xmin/2, xmax*4
	p.Y.Min, p.Y.Max = ymin-0.5, ymax+0.5

	sc, err := plotter.NewScatter(pts.XYs)
	if err != nil {
		return false, err
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(3.5)
	sc.GlyphStyle.Color = color.RGBA{R: 0x1f, G: 0x5f, B: 0xa8, A: 0xff}
	labels, err := plotter.NewLabels(pts)
	if err != nil {
		return false, err
	}
	labels.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(3)}
	p.Add(sc, labels)

	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return false, err
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
	return err == nil, err
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pssr bench: {{.R.Input}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; }
th { background: #f0f0f0; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, td:nth-child(2), td:last-child { text-align: left; }
td:last-child { color: #777; max-width: 40em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dt { font-weight: bold; }
dd { margin: 0; }
.crops { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { text-align: center; font-size: 14px; }
figure img { image-rendering: pixelated; display: block; border: 1px solid #ccc; }
</style>
</head>
<body>
<h1>pssr bench</h1>
<dl>
<dt>input</dt><dd>{{.R.Input}}</dd>
<dt>frames</dt><dd>{{.R.Frames}}</dd>
<dt>scale</dt><dd>x{{.R.Scale}}</dd>
<dt>machine</dt><dd>{{.R.Machine}}</dd>
{{if .R.Backend}}<dt>backend</dt><dd>{{.R.Backend}}</dd>{{end}}
{{if .R.Runtime}}<dt>runtime</dt><dd>{{.R.Runtime}}</dd>
{{end}}<dt>quality</dt><dd>{{if .R.HasGT}}luma (BT.601 Y), border of {{.Metric}} px left out, mean over frames{{else}}no ground truth{{end}}</dd>
</dl>
<table>
<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{if .Ratios}}<ul>
{{range .Ratios}}<li>{{.}}</li>
{{end}}</ul>{{end}}
{{if .HasPlot}}<h2>Quality against time</h2>
<p><img src="{{.Plot}}" alt="PSNR-Y against seconds per frame"></p>
{{end}}<h2>Crops</h2>
<p>{{.Region}}.</p>
<div class="crops">
{{range .Crops}}<figure><img src="{{.File}}" alt="{{.Title}}"><figcaption>{{.Title}}</figcaption></figure>
{{end}}</div>
</body>
</html>
`))
