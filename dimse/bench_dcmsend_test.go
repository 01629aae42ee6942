package dimse

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// nullHandler drops every object: what is left is the receive path.
type nullHandler struct{}

func (nullHandler) HandleStore(ctx context.Context, a *Association, obj *Object) Status {
	return StatusSuccess
}
func (nullHandler) AssociationClosed(a *Association) {}

// BenchmarkReceiveDcmsend measures the receive path alone (spool file
// written, hashed and its write-back started, then dropped) with dcmsend
// sending the ultrasound samples four times over one association, beside
// DCMTK storescp on the same files.
func BenchmarkReceiveDcmsend(b *testing.B) {
	dcmsend := testenv.Tool(b, "dcmsend")
	storescp := testenv.Tool(b, "storescp")
	var files []string
	var total int64
	for range 4 {
		for _, f := range testenv.SampleFiles(b, "us") {
			if strings.Contains(f, "J2K") || strings.Contains(f, "GH364") {
				continue
			}
			st, _ := os.Stat(f)
			total += st.Size()
			files = append(files, f)
		}
	}
	send := func(b *testing.B, port, aet string) {
		args := append([]string{"-q", "-aec", aet, "-aet", "BENCH", "127.0.0.1", port}, files...)
		cmd := exec.Command(dcmsend, args...)
		cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("dcmsend: %v\n%s", err, out)
		}
	}
	b.Run("dimse", func(b *testing.B) {
		cfg := extraTestConfig()
		cfg.SpoolDir = b.TempDir()
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		s, err := NewServer(cfg, nullHandler{})
		if err != nil {
			b.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go s.Serve(l)
		defer s.Shutdown(context.Background())
		_, port, _ := net.SplitHostPort(l.Addr().String())
		b.SetBytes(total)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			send(b, port, "SONOLINK")
		}
		b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
	})
	b.Run("storescp", func(b *testing.B) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		_, port, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		cmd := exec.Command(storescp, "+xa", "-od", b.TempDir(), "-aet", "STORESCP", port)
		cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer cmd.Process.Kill()
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				c.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.SetBytes(total)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			send(b, port, "STORESCP")
		}
		b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
	})
}

var _ = strconv.Itoa
