package trainer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/pssr/pssr/internal/atomicfile"
)

// PlotLoss reads a loss.jsonl log and draws the loss curve to a PNG
// (written to a temporary file and renamed, atomicfile.Write).
func PlotLoss(logPath, pngPath, title string) error {
	f, err := os.Open(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	var pts plotter.XYs
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			pts = append(pts, plotter.XY{X: float64(r.Step), Y: r.Loss})
		}
	}
	if len(pts) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("pssr train %s: loss", title)
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	p.Add(line, plotter.NewGrid())
	img, err := p.WriterTo(8*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(pngPath, func(w io.Writer) error {
		_, err := img.WriteTo(w)
		return err
	})
}
