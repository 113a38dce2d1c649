package main

import (
	"os"
	"testing"
)

// TestMain lets the tests start the test binary itself as a pssr process
// (for SIGKILL): with PSSR_TEST_MAIN=1 it runs the CLI with its arguments
// instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("PSSR_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
