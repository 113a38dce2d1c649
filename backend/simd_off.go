//go:build !goexperiment.simd

package backend

// SIMD reports whether this binary was built with GOEXPERIMENT=simd, which
// turns on the SIMD (AVX2/AVX-512) kernels of GoMLX's pure-Go backend.
const SIMD = false
