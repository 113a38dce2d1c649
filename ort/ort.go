// Package ort runs pssr's networks on ONNX Runtime (the C library
// libonnxruntime.so.1, loaded at run time through
// github.com/yalue/onnxruntime_go): the second runtime beside GoMLX's
// pure-Go backend. The networks are exported from the model code and
// weights by package onnx, once per input shape, and run in an ORT session
// on the CPU.
//
// ONNX Runtime's environment is process-global: the library is loaded and
// its environment created once per process, by the first Init (or
// NewRuntime), and stays until the process ends. Init with another library
// path afterwards fails. Everything else (sessions, runtimes) is per object.
//
// Importing the package on Linux (with cgo) also caps the C library's
// malloc arenas at two for the whole process, from a C constructor that
// runs at load time, unless MALLOC_ARENA_MAX is set (malloc_linux.go: less
// memory and faster runs on ONNX Runtime).
//
// The library is found by FindLibrary: $PSSR_ONNXRUNTIME_LIB when set, else
// the places scripts/install-onnxruntime.sh installs to,
// $HOME/.local/lib/pssr/libonnxruntime.so.1 and
// /usr/local/lib/pssr/libonnxruntime.so.1. The binding (v1.27.0) is built
// for the C API of ONNX Runtime 1.24, which the script installs.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"
)

// EnvLibrary names the ONNX Runtime shared library to load, overriding the
// default places.
const EnvLibrary = "PSSR_ONNXRUNTIME_LIB"

// LibraryName is the file name of the ONNX Runtime shared library.
const LibraryName = "libonnxruntime.so.1"

// ErrNoLibrary is wrapped by FindLibrary's error when no library is found.
var ErrNoLibrary = errors.New("ONNX Runtime library not found (run scripts/install-onnxruntime.sh, or set " + EnvLibrary + ")")

// DefaultLibraryPaths returns the places FindLibrary looks, in order:
// $HOME/.local/lib/pssr and /usr/local/lib/pssr (see
// scripts/install-onnxruntime.sh).
func DefaultLibraryPaths() []string {
	var paths []string
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		paths = append(paths, filepath.Join(home, ".local", "lib", "pssr", LibraryName))
	}
	return append(paths, filepath.Join("/usr/local/lib/pssr", LibraryName))
}

// FindLibrary returns the ONNX Runtime library to load: $PSSR_ONNXRUNTIME_LIB
// when it is set (an error if that file does not exist), else the first of
// DefaultLibraryPaths that exists. The error wraps ErrNoLibrary when none
// is found.
func FindLibrary() (string, error) {
	if p := os.Getenv(EnvLibrary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ort: %s=%s: %w: %w", EnvLibrary, p, ErrNoLibrary, err)
		}
		return p, nil
	}
	paths := DefaultLibraryPaths()
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("ort: looked in %v: %w", paths, ErrNoLibrary)
}

// env is the process-global ONNX Runtime environment (see the package doc).
var env struct {
	sync.Mutex
	path string
	err  error
}

// Init loads the library at path and creates ONNX Runtime's environment,
// once per process. Later calls with the same path return the first call's
// result; a different path is an error.
func Init(path string) error {
	env.Lock()
	defer env.Unlock()
	if env.path != "" {
		if path != env.path {
			return fmt.Errorf("ort: ONNX Runtime is already loaded from %s, cannot load %s", env.path, path)
		}
		return env.err
	}
	env.path = path
	ortgo.SetSharedLibraryPath(path)
	if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
		env.err = fmt.Errorf("ort: loading %s: %w", path, err)
	}
	return env.err
}

// Version returns the loaded ONNX Runtime's version (after Init).
func Version() string {
	if !ortgo.IsInitialized() {
		return ""
	}
	return ortgo.GetVersion()
}
