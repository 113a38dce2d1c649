//go:build linux && cgo

package ort

/*
#include <malloc.h>
#include <stdlib.h>

// pssr_limit_arenas runs when the program is loaded, before the Go runtime
// starts its threads and before any C allocation: see the comment below.
static void __attribute__((constructor)) pssr_limit_arenas(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	if (getenv("MALLOC_ARENA_MAX") == NULL) {
		mallopt(M_ARENA_MAX, 2);
	}
#endif
}
*/
import "C"

// Linking this package caps glibc's malloc at two arenas for the whole
// process (a C constructor, run at load time, unless MALLOC_ARENA_MAX is
// set). ONNX Runtime allocates its intermediates with malloc from every
// thread of its pool and from the Go threads that call it; with glibc's
// default of up to eight arenas per core, memory freed in one arena is not
// reused by another. Measured (session 6, 8 frames x4 to 1280x720, pssr
// bench of four modes on ORT, 2-core Intel Xeon): peak RSS 5.0 GB with the
// default, 3.8 GB with two arenas, and pssr 1.90 s/frame against 1.49.
// Other C libraries (musl) lack the setting and are left alone.
