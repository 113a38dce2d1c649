package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/video"
)

// DefaultFrames is the number of frames Load reads when Input.Frames is not
// positive.
const DefaultFrames = 10

// Input says what Load reads.
type Input struct {
	// Path is a video file or a folder of PNG/JPEG frames.
	Path string
	// GT, when not empty, is the ground truth of Path: a video or frame
	// folder with as many frames, each Scale times the size of Path's.
	GT string
	// Degrade, without GT, makes Path the ground truth and the low-quality
	// frames its bicubic downscale by Scale. It cannot be combined with GT.
	Degrade bool
	// Scale is the upscaling factor.
	Scale int
	// Frames is the most frames read (DefaultFrames when not positive).
	Frames int
}

// String describes the input for a report.
func (in Input) String() string {
	switch {
	case in.GT != "":
		return fmt.Sprintf("%s (ground truth %s)", in.Path, in.GT)
	case in.Degrade:
		return fmt.Sprintf("%s (ground truth; input = bicubic downscale by %d)", in.Path, in.Scale)
	}
	return fmt.Sprintf("%s (no ground truth)", in.Path)
}

// Load reads the low-quality frames and the ground truth (nil when there is
// none) that in describes.
//
// With in.Degrade, each ground-truth frame whose size is not a multiple of
// in.Scale is first cropped at its right and bottom edges to the nearest
// multiple; the low-quality frame is its frame.Resize by 1/in.Scale with
// frame.Bicubic (antialiased), clamped and rounded to 8 bits, so that every
// mode, peers that read PNGs included, sees the same samples.
func Load(ctx context.Context, in Input) (lq, gt []*frame.Image, err error) {
	if in.Scale < 1 {
		return nil, nil, fmt.Errorf("bench: scale %d: must be at least 1", in.Scale)
	}
	if in.GT != "" && in.Degrade {
		return nil, nil, errors.New("bench: a ground truth and degrading the input are exclusive: the input is either the low-quality clip of the ground truth or the ground truth itself")
	}
	n := in.Frames
	if n <= 0 {
		n = DefaultFrames
	}
	frames, info, err := readFrames(ctx, in.Path, n)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case in.GT != "":
		gt, ginfo, err := readFrames(ctx, in.GT, n)
		if err != nil {
			return nil, nil, err
		}
		if len(gt) != len(frames) || (info.Frames > 0 && ginfo.Frames > 0 && info.Frames != ginfo.Frames) {
			return nil, nil, fmt.Errorf("bench: %s has %d frames but its ground truth %s has %d",
				in.Path, max(info.Frames, len(frames)), in.GT, max(ginfo.Frames, len(gt)))
		}
		for i := range gt {
			if gt[i].W != frames[i].W*in.Scale || gt[i].H != frames[i].H*in.Scale {
				return nil, nil, fmt.Errorf("bench: ground-truth frame %d of %s is %dx%d, but %d x the input's %dx%d is %dx%d",
					i, in.GT, gt[i].W, gt[i].H, in.Scale, frames[i].W, frames[i].H,
					frames[i].W*in.Scale, frames[i].H*in.Scale)
			}
		}
		return frames, gt, nil
	case in.Degrade:
		lq := make([]*frame.Image, len(frames))
		for i, f := range frames {
			w, h := f.W/in.Scale*in.Scale, f.H/in.Scale*in.Scale
			if w == 0 || h == 0 {
				return nil, nil, fmt.Errorf("bench: frame %d of %s is %dx%d, too small to downscale by %d",
					i, in.Path, f.W, f.H, in.Scale)
			}
			if w != f.W || h != f.H {
				f = f.Crop(frame.New(w, h).Bounds())
				frames[i] = f
			}
			lq[i] = Degrade(f, in.Scale)
		}
		return lq, frames, nil
	}
	return frames, nil, nil
}

// Degrade returns the low-quality version of a ground-truth frame that Load
// makes: frame.Bicubic downscaling by scale (the size rounded down), clamped
// to [0, 1] and rounded to 8 bits.
func Degrade(gt *frame.Image, scale int) *frame.Image {
	small := frame.Resize(gt, gt.W/scale, gt.H/scale, frame.Bicubic)
	return frame.FromRGB24(small.ToRGB24(nil), small.W, small.H, nil)
}

// readFrames reads at most n frames of a video or folder.
func readFrames(ctx context.Context, path string, n int) ([]*frame.Image, *video.Info, error) {
	r, err := video.Open(ctx, path)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	defer r.Close()
	var out []*frame.Image
	for len(out) < n {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("bench: reading %s: %w", path, err)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("bench: %s: %w", path, video.ErrNoFrames)
	}
	return out, r.Info(), nil
}

// DescribeMachine describes the machine for a report: the CPU model from
// /proc/cpuinfo (when readable), the number of logical CPUs this process may
// use, and the OS and architecture, e.g. "AMD EPYC 7B13, 16 CPUs,
// linux/amd64".
func DescribeMachine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() && cpu == "" {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name", "Model", "cpu model", "Processor":
				cpu = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	if cpu == "" {
		cpu = "unknown CPU"
	}
	d := fmt.Sprintf("%s, %d CPUs, %s/%s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if gpus := gpuNames(); gpus != "" {
		d += ", GPU: " + gpus
	}
	return d
}

// gpuNames returns the names of the machine's NVIDIA GPUs as nvidia-smi
// reports them ("NVIDIA H200"; several joined by " + "), or "" where
// nvidia-smi is missing or does not answer within two seconds.
func gpuNames() string {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu=name", "--format=csv,noheader").Output()
	if err != nil {
		return ""
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return strings.Join(names, " + ")
}
