// Package testbackend gives tests the backend they run graphs on: the
// pure-Go backend with sequential op execution, finalized when the
// test ends. It is for _test.go files only.
package testbackend

import (
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
)

// Config is the backend configuration New uses. Ops run one at a time
// (each op still uses every core): see package backend for why.
const Config = "go:ops_sequential"

// New returns a fresh backend for tb (New(Config)), failing tb when it
// cannot be made, and finalizes it in tb's cleanup.
func New(tb testing.TB) compute.Backend {
	tb.Helper()
	be, err := compute.NewWithConfig(Config)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(be.Finalize)
	return be
}
