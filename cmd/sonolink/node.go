package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// node is a running sonolink: DICOM server, store, pipeline, share service,
// patient pages and admin endpoint. (Wiring lands as the packages do.)
type node struct {
	dicomAddr string
	pages     http.Handler
	errc      chan error
}

func startNode(ctx context.Context, c *serveConfig, logger *slog.Logger) (*node, error) {
	return nil, errors.New("serve: not wired yet")
}

func (n *node) healthy() error               { return nil }
func (n *node) close()                       {}
func (n *node) shutdown(ctx context.Context) {}
