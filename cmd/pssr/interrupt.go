package main

import (
	"context"
	"errors"
	"fmt"
)

// interruptible runs fn in a goroutine and returns its results, or ctx's
// error as soon as ctx is done: model loading and graph compilation do not
// watch ctx and can take many seconds, and an interrupted run should end
// at once. After an interrupt fn keeps running until it returns on its
// own, so the caller must not use what fn shares (interrupted reports
// true then, so a command can skip releasing a backend fn still uses).
func interruptible[T any](ctx context.Context, fn func() (T, error)) (v T, interrupted bool, err error) {
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
		select {
		case r := <-done: // finished at the same time: keep its result
			return r.v, false, r.err
		default:
		}
		var zero T
		err := ctx.Err() // matches context.Canceled, which exits 130
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, err) {
			err = fmt.Errorf("%w (%v)", err, cause)
		}
		return zero, true, err
	}
}
