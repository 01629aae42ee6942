package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

var quiet = slog.New(slog.DiscardHandler)

// waitThen is a component that runs until ctx ends, then reports its name.
func waitThen(name string, stopped chan<- string) component {
	return component{name, func(ctx context.Context) error {
		<-ctx.Done()
		stopped <- name
		return nil
	}}
}

func TestRunStagesStopsDoorsBeforeWork(t *testing.T) {
	stopped := make(chan string, 3)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := runStages(ctx, quiet,
		[]component{waitThen("dicom", stopped), waitThen("http", stopped)},
		[]component{waitThen("pipeline", stopped)})
	if err != nil {
		t.Fatalf("runStages after cancel: %v", err)
	}
	close(stopped)
	var order []string
	for name := range stopped {
		order = append(order, name)
	}
	if len(order) != 3 || order[2] != "pipeline" {
		t.Errorf("stop order %v: the pipeline must stop after both servers", order)
	}
}

func TestRunStagesFailureStopsTheOthers(t *testing.T) {
	full := errors.New("disk full")
	stopped := make(chan string, 1)
	err := runStages(t.Context(), quiet,
		[]component{waitThen("dicom", stopped)},
		[]component{{"pipeline", func(context.Context) error { return full }}})
	if !errors.Is(err, full) || !strings.Contains(err.Error(), "pipeline") {
		t.Errorf("runStages returned %v, want the pipeline's failure", err)
	}
	if got := <-stopped; got != "dicom" {
		t.Errorf("stopped %q", got)
	}
}

func TestRunStagesReturningEarlyIsAFailure(t *testing.T) {
	err := runStages(t.Context(), quiet, []component{{"outbox", func(context.Context) error { return nil }}})
	if err == nil || !strings.Contains(err.Error(), "outbox: stopped unexpectedly") {
		t.Errorf("runStages returned %v", err)
	}
}

func TestPublicHTTPDrainsRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "all images")
	})
	p, err := newPublicHTTP("127.0.0.1:0", "", "", h, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	body := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + p.Addr() + "/download")
		if err != nil {
			body <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body <- string(b)
	}()
	<-entered
	cancel()
	// Shutdown has begun once new connections are refused.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 5 s after ctx ended")
		}
	}
	select {
	case err := <-ran:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if got := <-body; got != "all images" {
		t.Errorf("request in flight got %q", got)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}
