package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// CancelOnSignal returns a context that the first SIGINT (Ctrl-C) or
// SIGTERM cancels, with an Interrupted naming the signal as its cause (see
// Interrupted), so that the command stops cleanly and reports. From then on
// the signals have their default effect again: a second Ctrl-C ends ferry
// at once. Call stop, once, when the command has returned.
func CancelOnSignal(parent context.Context) (ctx context.Context, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	ctx, stopWatch := cancelOn(parent, ch, func() { signal.Stop(ch) })
	return ctx, func() { signal.Stop(ch); stopWatch() }
}

// cancelOn cancels ctx with Interrupted{Signal: s} for the first s from
// sigs, after calling release.
func cancelOn(parent context.Context, sigs <-chan os.Signal, release func()) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case s := <-sigs:
			release()
			cancel(Interrupted{Signal: s})
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		<-finished // no signal is taken for an interruption after stop
		cancel(context.Canceled)
	}
}

// Interruption returns the error of a command that ended with err while
// ctx (from CancelOnSignal) was cancelled by a signal: err's own
// Interrupted with the signal filled in, or a plain Interrupted. It
// returns err unchanged when no signal came or the command succeeded
// anyway (ferry emulator stops on Ctrl-C: that is how it ends).
func Interruption(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	cause, ok := context.Cause(ctx).(Interrupted)
	if !ok {
		return err
	}
	if own, ok := errors.AsType[Interrupted](err); ok {
		own.Signal = cause.Signal
		return own
	}
	return cause
}
