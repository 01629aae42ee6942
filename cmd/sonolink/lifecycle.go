package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// drainTimeout bounds how long a server may take, once asked to stop, to
// finish what is in flight (an association's message, a page download).
const drainTimeout = 30 * time.Second

// A component is a long-running part of the node. Its run works until ctx
// ends, finishes or hands back what it has in flight, and returns nil; an
// error, or returning while ctx is still live, means it failed.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// runStages runs every component of every stage at once, until ctx ends or
// one of them fails. Then it stops the stages in order: each is cancelled
// only once every component of the stages before it has returned, so work
// still arriving (an association's last object) finds its consumers running.
// It returns the failure that stopped the node, or nil when ctx ended it.
func runStages(ctx context.Context, log *slog.Logger, stages ...[]component) error {
	failed := make(chan error, countComponents(stages))
	cancels := make([]context.CancelFunc, len(stages))
	joins := make([]sync.WaitGroup, len(stages))
	for i, stage := range stages {
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i] = cancel
		for _, c := range stage {
			joins[i].Go(func() {
				err := c.run(sctx)
				if err == nil && sctx.Err() == nil {
					err = errors.New("stopped unexpectedly")
				}
				if err != nil {
					failed <- fmt.Errorf("%s: %w", c.name, err)
					return
				}
				log.Debug("component stopped", "component", c.name)
			})
		}
	}

	var cause error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case cause = <-failed:
		log.Error("a component failed; stopping the others", "err", cause)
	}
	for i := range stages {
		cancels[i]()
		joins[i].Wait()
	}
	close(failed)
	for err := range failed {
		log.Error("component did not stop cleanly", "err", err)
	}
	return cause
}

func countComponents(stages [][]component) int {
	n := 0
	for _, s := range stages {
		n += len(s)
	}
	return n
}

// serveUntilDone gives a server with net/http's lifecycle (Serve blocks until
// Shutdown, which drains) the Run(ctx) of a component: it serves until ctx
// ends, then shuts the server down, allowing it drainTimeout. When Serve
// fails on its own, what it had in flight is drained the same way and
// Serve's error returned.
func serveUntilDone(ctx context.Context, serve func() error, shutdown func(context.Context) error) error {
	served := make(chan error, 1)
	go func() { served <- serve() }()
	var serveErr error
	stopped := false
	select {
	case serveErr = <-served:
		stopped = true
	case <-ctx.Done():
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	err := shutdown(dctx)
	if stopped {
		return serveErr
	}
	// Once shutdown began, whatever Serve returns (ErrServerClosed, nil) is
	// shutdown's doing.
	<-served
	if err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	return nil
}
