package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// waitDelay bounds how long Wait waits for pipes after ffmpeg exits or is
// killed.
const waitDelay = 5 * time.Second

// tailBuffer is an io.Writer keeping the last bytes written to it, for the
// end of ffmpeg's stderr in error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= tailMax {
		p = p[len(p)-tailMax:]
		t.buf = t.buf[:0]
	}
	if over := len(t.buf) + len(p) - tailMax; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// Lines returns up to n last non-empty lines.
func (t *tailBuffer) Lines(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Contains reports whether s occurs in the kept output.
func (t *tailBuffer) Contains(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Contains(t.buf, []byte(s))
}

// suffix returns "; ffmpeg: line | line" with the last lines, or "".
func (t *tailBuffer) suffix(tool string) string {
	lines := t.Lines(4)
	if len(lines) == 0 {
		return ""
	}
	return "; " + tool + ": " + strings.Join(lines, " | ")
}

// toolVersion returns ffmpeg's major and minor version. Development builds
// ("N-12345-g...") count as newest.
func toolVersion(ctx context.Context) (major, minor int, err error) {
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-version").Output()
	if e := ctxErr(ctx, "run ffmpeg -version"); e != nil {
		return 0, 0, e // interrupted: say so, not "signal: killed"
	}
	if err != nil {
		return 0, 0, fmt.Errorf("video: run ffmpeg -version: %w", err)
	}
	major, minor = parseVersion(string(out))
	return major, minor, nil
}

// parseVersion reads "ffmpeg version 5.1.9-0+deb12u1 ..." (also "n7.1" and
// development "N-..." builds, taken as 99.0).
func parseVersion(s string) (major, minor int) {
	const key = "version "
	i := strings.Index(s, key)
	if i < 0 {
		return 99, 0
	}
	v := strings.TrimPrefix(s[i+len(key):], "n")
	end := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end >= 0 {
		v = v[:end]
	}
	parts := strings.Split(v, ".")
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return 99, 0
	}
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

// ctxErr returns ctx's error wrapped with op when ctx is done, else nil.
func ctxErr(ctx context.Context, op string) error {
	if err := context.Cause(ctx); err != nil {
		if errors.Is(err, ctx.Err()) {
			return fmt.Errorf("video: %s: %w", op, err)
		}
		return fmt.Errorf("video: %s: %w (%w)", op, ctx.Err(), err)
	}
	return nil
}
