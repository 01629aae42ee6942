package web

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// limitServer serves h on a loopback listener limited by lim.
func limitServer(t *testing.T, lim ConnLimits, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if lim.Logger == nil {
		lim.Logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(LimitListener(ln, lim))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// dialFrom opens a connection from a chosen loopback address.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// served reports whether c gets an answer to a request (false: the server
// closed it unanswered).
func served(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false
	}
	buf := make([]byte, 12)
	n, _ := io.ReadFull(c, buf)
	return n == 12 && string(buf) == "HTTP/1.1 200"
}

func TestLimitListener(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	t.Run("per client", func(t *testing.T) {
		addr := limitServer(t, ConnLimits{Total: 10, PerClient: 3}, ok)
		var held []net.Conn
		for range 3 {
			held = append(held, dialFrom(t, "127.0.0.1", addr))
		}
		if c := dialFrom(t, "127.0.0.1", addr); served(t, c) {
			t.Error("fourth connection from one address served")
		}
		if c := dialFrom(t, "127.0.0.2", addr); !served(t, c) {
			t.Error("another address refused")
		}
		for _, c := range held {
			if !served(t, c) {
				t.Error("connection under the cap not served")
			}
		}
		// A closed connection frees its place.
		held[0].Close()
		waitServed(t, "127.0.0.1", addr)
	})
	t.Run("total", func(t *testing.T) {
		addr := limitServer(t, ConnLimits{Total: 4, PerClient: 3}, ok)
		var held []net.Conn
		for i := range 4 {
			held = append(held, dialFrom(t, "127.0.0."+string(rune('1'+i)), addr))
		}
		for _, c := range held {
			if !served(t, c) {
				t.Fatal("connection under the caps not served")
			}
		}
		if c := dialFrom(t, "127.0.0.9", addr); served(t, c) {
			t.Error("connection over the total cap served")
		}
		held[3].Close()
		waitServed(t, "127.0.0.9", addr)
	})
	t.Run("trusted proxy", func(t *testing.T) {
		addr := limitServer(t, ConnLimits{Total: 10, PerClient: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, ok)
		for range 5 {
			if c := dialFrom(t, "127.0.0.1", addr); !served(t, c) {
				t.Fatal("trusted proxy held to the per-client cap")
			}
		}
	})
}

// waitServed waits until a new connection from local is served.
func waitServed(t *testing.T, local, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !served(t, dialFrom(t, local, addr)) {
		if time.Now().After(deadline) {
			t.Fatal("place not freed after a connection closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChunkDeadline: a client that reads a large response slowly but
// steadily gets all of it, however long that takes; one that stops
// reading is dropped after the chunk deadline.
func TestChunkDeadline(t *testing.T) {
	const size = 8 << 20 // well past the socket buffers
	// d is longer than the kernel takes to wake a blocked writer at the
	// reader's pace (it waits for a third of the send buffer to drain),
	// with room for a loaded CI machine under -race: at one second, a
	// single 64 KiB write there once waited longer than d.
	const d = 3 * time.Second
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	file := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	h := http.NewServeMux()
	h.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, err := w.Write(body)
		werr <- err
	})
	h.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, file)
	})
	addr := limitServer(t, ConnLimits{}, ChunkDeadline(h, d))

	for _, path := range []string{"/write", "/file"} {
		t.Run("slow reader "+path, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", addr)
			// A small receive buffer so the server waits on the client.
			c.(*net.TCPConn).SetReadBuffer(32 << 10)
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			start := time.Now()
			var got bytes.Buffer
			buf := make([]byte, 256<<10)
			for {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := c.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					break
				}
				time.Sleep(d / 100)
			}
			if !strings.HasPrefix(got.String(), "HTTP/1.1 200") || !bytes.HasSuffix(got.Bytes(), body[len(body)-4096:]) || got.Len() < size {
				t.Fatalf("slow reader got %d bytes in %v; handler: %v", got.Len(), time.Since(start), <-werr)
			}
			if el := time.Since(start); el < d {
				t.Logf("download took only %v: the test did not make the server wait", el)
			}
			if path == "/write" {
				if err := <-werr; err != nil {
					t.Errorf("handler's write failed: %v", err)
				}
			}
		})
	}
	t.Run("stalled reader", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		c.(*net.TCPConn).SetReadBuffer(32 << 10)
		io.WriteString(c, "GET /write HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case err := <-werr:
			var ne net.Error
			if err == nil || !errors.As(err, &ne) && !strings.Contains(err.Error(), "timeout") {
				t.Errorf("write to a stalled client: %v, want a timeout", err)
			}
		case <-time.After(10 * d):
			t.Fatal("write to a client that stopped reading did not time out")
		}
	})
}
