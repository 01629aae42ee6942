package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"
)

// ConnectOptions configures Connect's in-process fallback.
type ConnectOptions struct {
	Logger *slog.Logger // nil: slog.Default()
	// Local holds the options for opening the store and share service in
	// this process when no server runs.
	Local LocalOptions
}

// Connect returns the admin operations for dataDir: a Client when a server
// answers on the data directory's admin socket, otherwise a Service over
// the store and share service opened in this process. The returned close
// function releases everything; for a local Service it first delivers, once,
// any message still queued.
//
// Opening locally fails fast with a clear error when the database is locked
// by a process that has no admin socket.
func Connect(ctx context.Context, dataDir string, opts ConnectOptions) (Ops, func() error, error) {
	sock := SocketPath(dataDir)
	if _, err := os.Lstat(sock); err == nil {
		c := NewClient(sock)
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.Ping(pctx)
		cancel()
		if err == nil {
			return c, c.Close, nil
		}
		c.Close()
		if !isConnRefused(err) {
			return nil, nil, fmt.Errorf("sonolink serve's admin socket %s does not answer properly: %w", sock, err)
		}
		// A stale socket from a crashed server: open the data directory here.
	}
	if st, err := os.Stat(dataDir); err != nil || !st.IsDir() {
		return nil, nil, &Error{Kind: KindInvalid, Message: fmt.Sprintf("data directory %s not found; give the one sonolink serve uses with --data-dir (or SONOLINK_DATA_DIR)", dataDir)}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	svc, err := Open(ctx, dataDir, opts.Local, logger)
	if err != nil {
		return nil, nil, err
	}
	return svc, svc.Close, nil
}

func isConnRefused(err error) bool {
	var ne *net.OpError
	if errors.As(err, &ne) {
		return true // dial errors: refused, no such file
	}
	return errors.Is(err, os.ErrNotExist)
}
