package admin

import (
	"context"
	"errors"
	"log/slog"
)

// LocalOptions configures the store and share service Open opens.
// TODO(store/share): carry store.Options and share.Options once those
// packages land.
type LocalOptions struct{}

// Open opens the store and share service of dataDir in this process and
// returns a Service over them (used by the CLI when no server runs). Close
// delivers queued messages once, then closes both.
func Open(ctx context.Context, dataDir string, opts LocalOptions, logger *slog.Logger) (*Service, error) {
	return nil, errors.New("admin: opening the data directory without a server is not wired yet (store/share pending)")
}
