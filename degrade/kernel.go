package degrade

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Kernel is a square 2-D filter kernel. W holds Size*Size weights row-major:
// W[y*Size+x] is the weight at offset (x-Size/2, y-Size/2) from the centre.
// Size is odd.
type Kernel struct {
	Size int
	W    []float64
}

// At returns the weight at column x, row y (0-based, not centred).
func (k Kernel) At(x, y int) float64 { return k.W[y*k.Size+x] }

// Sum returns the sum of the weights.
func (k Kernel) Sum() float64 {
	s := 0.0
	for _, v := range k.W {
		s += v
	}
	return s
}

// normalize scales k so that its weights sum to one.
func (k Kernel) normalize() Kernel {
	s := k.Sum()
	for i := range k.W {
		k.W[i] /= s
	}
	return k
}

// KernelType names one family of blur kernels, spelled as in the
// Real-ESRGAN configuration files.
type KernelType string

// The kernel families of the release (§8 of the method notes).
const (
	Iso              KernelType = "iso"
	Aniso            KernelType = "aniso"
	GeneralizedIso   KernelType = "generalized_iso"
	GeneralizedAniso KernelType = "generalized_aniso"
	PlateauIso       KernelType = "plateau_iso"
	PlateauAniso     KernelType = "plateau_aniso"
	SincType         KernelType = "sinc"
)

// KernelSpec is one drawn kernel: its family, size and shape parameters.
// It is a plain value (JSON-able) so that a draw can be logged and replayed;
// Kernel builds the weights.
type KernelSpec struct {
	Type KernelType `json:"type"`
	Size int        `json:"size"`
	// SigmaX, SigmaY and Theta (radians) shape the Gaussian-like families.
	SigmaX float64 `json:"sigma_x,omitempty"`
	SigmaY float64 `json:"sigma_y,omitempty"`
	Theta  float64 `json:"theta,omitempty"`
	// Beta is the shape exponent of the generalized and plateau families.
	Beta float64 `json:"beta,omitempty"`
	// Omega is the cutoff (radians per pixel) of the sinc family.
	Omega float64 `json:"omega,omitempty"`
}

// Kernel builds the normalised weights that s describes. It panics on an
// unknown type or an even or non-positive size (a KernelSpec from
// RandomKernel is always valid).
func (s KernelSpec) Kernel() Kernel {
	switch s.Type {
	case Iso, Aniso:
		return Gaussian(s.Size, s.SigmaX, s.SigmaY, s.Theta)
	case GeneralizedIso, GeneralizedAniso:
		return GeneralizedGaussian(s.Size, s.SigmaX, s.SigmaY, s.Theta, s.Beta)
	case PlateauIso, PlateauAniso:
		return Plateau(s.Size, s.SigmaX, s.SigmaY, s.Theta, s.Beta)
	case SincType:
		return Sinc(s.Size, s.Omega)
	}
	panic(fmt.Sprintf("degrade: unknown kernel type %q", s.Type))
}

func checkSize(size int) {
	if size < 1 || size%2 == 0 {
		panic(fmt.Sprintf("degrade: kernel size %d is not a positive odd number", size))
	}
}

// quadForm returns a function giving x^T Σ^-1 x for the covariance
// Σ = R diag(sx², sy²) R^T, R the rotation by theta.
func quadForm(sx, sy, theta float64) func(x, y float64) float64 {
	c, s := math.Cos(theta), math.Sin(theta)
	// Σ^-1 = R diag(1/sx², 1/sy²) R^T.
	ix, iy := 1/(sx*sx), 1/(sy*sy)
	a := c*c*ix + s*s*iy
	b := c*s*ix - c*s*iy
	d := s*s*ix + c*c*iy
	return func(x, y float64) float64 { return a*x*x + 2*b*x*y + d*y*y }
}

// fill evaluates f over the centred size x size grid and normalises.
func fill(size int, f func(x, y float64) float64) Kernel {
	checkSize(size)
	k := Kernel{Size: size, W: make([]float64, size*size)}
	c := float64(size / 2)
	for j := 0; j < size; j++ {
		for i := 0; i < size; i++ {
			k.W[j*size+i] = f(float64(i)-c, float64(j)-c)
		}
	}
	return k.normalize()
}

// Gaussian returns the bivariate Gaussian kernel with standard deviations
// sigmaX and sigmaY along axes rotated by theta radians, normalised to sum 1.
// sigmaX == sigmaY gives the isotropic kernel.
func Gaussian(size int, sigmaX, sigmaY, theta float64) Kernel {
	q := quadForm(sigmaX, sigmaY, theta)
	return fill(size, func(x, y float64) float64 { return math.Exp(-0.5 * q(x, y)) })
}

// GeneralizedGaussian returns the kernel exp(-½ (x^T Σ^-1 x)^beta),
// normalised; beta < 1 gives heavier tails, beta > 1 a flatter top.
func GeneralizedGaussian(size int, sigmaX, sigmaY, theta, beta float64) Kernel {
	q := quadForm(sigmaX, sigmaY, theta)
	return fill(size, func(x, y float64) float64 { return math.Exp(-0.5 * math.Pow(q(x, y), beta)) })
}

// Plateau returns the plateau-shaped kernel 1 / ((x^T Σ^-1 x)^beta + 1),
// normalised.
func Plateau(size int, sigmaX, sigmaY, theta, beta float64) Kernel {
	q := quadForm(sigmaX, sigmaY, theta)
	return fill(size, func(x, y float64) float64 { return 1 / (math.Pow(q(x, y), beta) + 1) })
}

// Sinc returns the 2-D circular low-pass kernel with cutoff omega (radians
// per pixel, in (0, π]): ω J1(ω r) / (2π r), with its limit ω²/(4π) at the
// centre, normalised. It rings (has negative weights), which is the point:
// it imitates the ringing and overshoot of real resamplers and codecs.
func Sinc(size int, omega float64) Kernel {
	return fill(size, func(x, y float64) float64 {
		r := math.Hypot(x, y)
		if r == 0 {
			return omega * omega / (4 * math.Pi)
		}
		return omega * math.J1(omega*r) / (2 * math.Pi * r)
	})
}

// Identity returns the 1x1 kernel that leaves an image unchanged.
func Identity() Kernel { return Kernel{Size: 1, W: []float64{1}} }

// KernelConfig holds the ranges and probabilities that RandomKernel draws
// from.
type KernelConfig struct {
	// Sizes are the candidate (odd) kernel sizes, drawn uniformly.
	Sizes []int `json:"sizes"`
	// Types and Probs give the non-sinc families and their probabilities
	// (Probs sums to 1).
	Types []KernelType `json:"types"`
	Probs []float64    `json:"probs"`
	// SincProb is the probability of a sinc kernel instead.
	SincProb float64 `json:"sinc_prob"`
	// Sigma bounds the standard deviations, BetaG the generalized-Gaussian
	// exponent, BetaP the plateau exponent.
	Sigma [2]float64 `json:"sigma"`
	BetaG [2]float64 `json:"beta_g"`
	BetaP [2]float64 `json:"beta_p"`
}

// releaseSizes are the kernel sizes 7, 9, ..., 21 of the release.
func releaseSizes() []int { return []int{7, 9, 11, 13, 15, 17, 19, 21} }

func releaseTypes() []KernelType {
	return []KernelType{Iso, Aniso, GeneralizedIso, GeneralizedAniso, PlateauIso, PlateauAniso}
}

// FirstKernelConfig returns the first-stage blur configuration of §8:
// families with probabilities 0.45/0.25/0.12/0.03/0.12/0.03, sinc with
// p 0.1, sigma in [0.2, 3], beta_g in [0.5, 4], beta_p in [1, 2], sizes
// 7..21.
func FirstKernelConfig() KernelConfig {
	return KernelConfig{
		Sizes:    releaseSizes(),
		Types:    releaseTypes(),
		Probs:    []float64{0.45, 0.25, 0.12, 0.03, 0.12, 0.03},
		SincProb: 0.1,
		Sigma:    [2]float64{0.2, 3},
		BetaG:    [2]float64{0.5, 4},
		BetaP:    [2]float64{1, 2},
	}
}

// SecondKernelConfig returns the second-stage blur configuration of §8:
// as the first but with sigma in [0.2, 1.5].
func SecondKernelConfig() KernelConfig {
	c := FirstKernelConfig()
	c.Sigma = [2]float64{0.2, 1.5}
	return c
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// choose draws an index with the given probabilities.
func choose(r *rand.Rand, probs []float64) int {
	u := r.Float64()
	acc := 0.0
	for i, p := range probs {
		acc += p
		if u < acc {
			return i
		}
	}
	return len(probs) - 1
}

// RandomKernel draws a kernel specification as the release does: a size
// uniformly from cfg.Sizes; with probability cfg.SincProb a sinc kernel
// with cutoff in [π/3, π] (sizes below 13) or [π/5, π]; otherwise a family
// from cfg.Types with cfg.Probs. Isotropic families draw one sigma and no
// rotation; anisotropic ones draw sigma_x, sigma_y independently and a
// rotation in [-π, π]. The generalized exponent is drawn from
// [BetaG[0], 1] or [1, BetaG[1]] with p 1/2 each (so shapes both sharper
// and flatter than Gaussian are equally likely); the plateau exponent is
// uniform in BetaP. Build the weights with KernelSpec.Kernel.
func RandomKernel(r *rand.Rand, cfg KernelConfig) KernelSpec {
	size := cfg.Sizes[r.IntN(len(cfg.Sizes))]
	if r.Float64() < cfg.SincProb {
		lo := math.Pi / 5
		if size < 13 {
			lo = math.Pi / 3
		}
		return KernelSpec{Type: SincType, Size: size, Omega: uniform(r, lo, math.Pi)}
	}
	t := cfg.Types[choose(r, cfg.Probs)]
	s := KernelSpec{Type: t, Size: size}
	switch t {
	case Iso, GeneralizedIso, PlateauIso:
		s.SigmaX = uniform(r, cfg.Sigma[0], cfg.Sigma[1])
		s.SigmaY = s.SigmaX
	default:
		s.SigmaX = uniform(r, cfg.Sigma[0], cfg.Sigma[1])
		s.SigmaY = uniform(r, cfg.Sigma[0], cfg.Sigma[1])
		s.Theta = uniform(r, -math.Pi, math.Pi)
	}
	switch t {
	case GeneralizedIso, GeneralizedAniso:
		if r.Float64() < 0.5 {
			s.Beta = uniform(r, cfg.BetaG[0], 1)
		} else {
			s.Beta = uniform(r, 1, cfg.BetaG[1])
		}
	case PlateauIso, PlateauAniso:
		s.Beta = uniform(r, cfg.BetaP[0], cfg.BetaP[1])
	}
	return s
}

// RandomSinc draws the final-stage sinc kernel of the release: a size from
// 7..21 and a cutoff in [π/3, π].
func RandomSinc(r *rand.Rand) KernelSpec {
	sizes := releaseSizes()
	size := sizes[r.IntN(len(sizes))]
	return KernelSpec{Type: SincType, Size: size, Omega: uniform(r, math.Pi/3, math.Pi)}
}
