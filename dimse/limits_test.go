package dimse

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails its first n Accepts the way accept(2) does when the
// process is out of descriptors.
type emfileListener struct {
	net.Listener
	n atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptRetriesWhenOutOfDescriptors(t *testing.T) {
	s, err := NewServer(Config{SpoolDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}, newTestHandler(t))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &emfileListener{Listener: inner}
	l.n.Store(5)
	before := metricValue(t, metricFailures.WithLabelValues(failAccept))
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-errc
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Echo(ctx, inner.Addr().String(), "X", "SONOLINK"); err != nil {
		t.Fatalf("C-ECHO after EMFILE from accept: %v", err)
	}
	select {
	case err := <-errc:
		t.Fatalf("Serve returned %v on EMFILE", err)
	default:
	}
	if got := metricValue(t, metricFailures.WithLabelValues(failAccept)) - before; got != 5 {
		t.Errorf("accept errors counted: %v, want 5", got)
	}
}

func TestAssociationLimitPerPeer(t *testing.T) {
	ts := startServer(t, Config{MaxAssociations: 4, MaxAssociationsPerPeer: 2}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := metricValue(t, metricFailures.WithLabelValues(failRejectPeerLimit))
	for i := range 2 {
		c, p := rawAssociate(t, ts.addr, echoRQ("SONOLINK"))
		defer c.Close()
		if _, ok := p.(*associate); !ok {
			t.Fatalf("association %d from 127.0.0.1: %#v", i+1, p)
		}
	}
	// A third from the same address, whatever AE title it calls as, is
	// refused as transient: local limit exceeded.
	err := Echo(ctx, ts.addr, "OTHER", "SONOLINK")
	var rj *RejectError
	if !errors.As(err, &rj) || rj.Result != 2 || rj.Source != 3 || rj.Reason != 2 {
		t.Fatalf("third association from one peer: %v, want RJ 2/3/2", err)
	}
	if got := metricValue(t, metricFailures.WithLabelValues(failRejectPeerLimit)) - before; got != 1 {
		t.Errorf("per-peer rejections counted: %v, want 1", got)
	}
	// Another peer still gets in: the node has slots left.
	c, p := rawAssociateFrom(t, "127.0.0.2", ts.addr, echoRQ("SONOLINK"))
	defer c.Close()
	if _, ok := p.(*associate); !ok {
		t.Fatalf("association from another peer: %#v", p)
	}
}

func TestAssociationLimitPerPeerDefault(t *testing.T) {
	for _, c := range []struct{ max, per, want int }{{16, 0, 8}, {5, 0, 3}, {1, 0, 1}, {4, 9, 4}, {10, 3, 3}} {
		cfg, err := Config{SpoolDir: "x", MaxAssociations: c.max, MaxAssociationsPerPeer: c.per}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MaxAssociationsPerPeer != c.want {
			t.Errorf("max %d, per peer %d: got %d, want %d", c.max, c.per, cfg.MaxAssociationsPerPeer, c.want)
		}
	}
}
