package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// removeOwnTemporaries removes the temporary outputs that this process
// started for out (".OUT.tmp-pid<pid>-*", see package video) when a run is
// given up after an interrupt, before it could remove them itself.
func removeOwnTemporaries(out string) {
	pattern := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp-pid"+strconv.Itoa(os.Getpid())+"-*")
	names, _ := filepath.Glob(pattern)
	for _, n := range names {
		os.RemoveAll(n)
	}
}

// interruptible runs fn in a goroutine and returns its results, or ctx's
// error as soon as ctx is done: model loading and graph compilation do not
// watch ctx and can take many seconds, and an interrupted run should end
// at once. After an interrupt fn keeps running until it returns on its
// own, so the caller must not use what fn shares (interrupted reports
// true then, so a command can skip releasing a backend fn still uses).
func interruptible[T any](ctx context.Context, fn func() (T, error)) (v T, interrupted bool, err error) {
	return interruptibleGrace(ctx, 0, fn)
}

// interruptibleGrace is interruptible, except that after an interrupt it
// waits up to grace for fn to return on its own (a run that checks ctx
// cleans up after itself in that time) before giving up on it.
func interruptibleGrace[T any](ctx context.Context, grace time.Duration, fn func() (T, error)) (v T, interrupted bool, err error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, false, r.err
	case <-ctx.Done():
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case r := <-done: // finished in the grace time: keep its result
			return r.v, false, r.err
		case <-timer.C:
		}
		var zero T
		err := ctx.Err() // matches context.Canceled, which exits 130
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, err) {
			err = fmt.Errorf("%w (%v)", err, cause)
		}
		return zero, true, err
	}
}
